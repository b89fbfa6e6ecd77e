"""The command-line clients: kcat (librdkafka) and Apache Kafka's Java tools, run
through `scripts/kafka-tool`. Every run is bounded by a subprocess timeout.

JVM start-up costs ~2 s per tool run, so tests call the Java tools sparingly.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass

from brokers import SCRIPTS
from records import Record

TOOL_TIMEOUT_S = 120.0
KAFKA_TOOL = str(SCRIPTS / "kafka-tool")


@dataclass
class Run:
    """The outcome of one command-line tool run."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def check(self) -> Run:
        """Fail the test with the tool's output unless it exited 0."""
        assert self.returncode == 0, (
            f"{' '.join(self.args)} exited {self.returncode}\n"
            f"stdout:\n{self.stdout[-3000:]}\nstderr:\n{self.stderr[-3000:]}"
        )
        return self


def run(args: list[str], stdin: str | None = None, timeout_s: float = TOOL_TIMEOUT_S) -> Run:
    """Run a tool to completion (bounded); output is captured as text."""
    done = subprocess.run(
        args,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    return Run(args, done.returncode, done.stdout, done.stderr)


def kafka_tool(tool: str, *args: str, stdin: str | None = None) -> Run:
    """Run one of Kafka's Java CLI tools by its familiar name (e.g. `kafka-topics`)."""
    return run([KAFKA_TOOL, tool, *args], stdin=stdin)


# --- kcat ----------------------------------------------------------------------


def kcat_binary() -> str:
    """Path of kcat (Debian's package may also call it kafkacat)."""
    path = shutil.which("kcat") or shutil.which("kafkacat")
    assert path, "kcat is not installed: run scripts/setup.sh"
    return path


def kcat_produce(bootstrap: str, topic: str, records: list[Record], codec: str = "none") -> None:
    """Produce keyed records with kcat; kcat applies one header set to every record,
    so all `records` must carry the same headers."""
    headers = records[0].headers if records else ()
    assert all(r.headers == headers for r in records), "kcat sends one header set"
    args = [kcat_binary(), "-P", "-b", bootstrap, "-t", topic, "-z", codec, "-K", "\t"]
    for name, value in headers:
        args += ["-H", f"{name}={value.decode()}"]
    lines = "".join(f"{(r.key or b'').decode()}\t{r.value.decode()}\n" for r in records)
    run(args, stdin=lines).check()


def kcat_consume(bootstrap: str, topic: str) -> list[Record]:
    """Everything in `topic` from the beginning to the current end, via kcat's JSON output."""
    args = [kcat_binary(), "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-J", "-q"]
    out = run(args).check().stdout
    return [_from_kcat_json(json.loads(line)) for line in out.splitlines() if line.strip()]


def _from_kcat_json(obj: dict) -> Record:
    flat = obj.get("headers") or []
    headers = tuple((flat[i], flat[i + 1].encode()) for i in range(0, len(flat), 2))
    key = obj.get("key")
    return Record(
        value=obj["payload"].encode(),
        key=key.encode() if key is not None else None,
        headers=headers,
        partition=obj["partition"],
        offset=obj["offset"],
        timestamp_ms=obj.get("ts"),
    )


def kcat_query_offset(bootstrap: str, topic: str, partition: int, timestamp_ms: int) -> int:
    """`kcat -Q`: the offset for a timestamp (-1 = latest, -2 = earliest)."""
    args = [kcat_binary(), "-Q", "-b", bootstrap, "-t", f"{topic}:{partition}:{timestamp_ms}", "-J"]
    out = run(args).check().stdout
    answer = json.loads(out)
    entry = answer[topic][str(partition)]
    return int(entry["offset"])


# --- Java console producer/consumer --------------------------------------------------


def java_console_produce(
    bootstrap: str, topic: str, records: list[Record], codec: str = "none"
) -> None:
    """Produce with kafka-console-producer, parsing `headers<TAB>key<TAB>value` lines."""
    lines = "".join(
        "\t".join(
            [
                ",".join(f"{k}:{v.decode()}" for k, v in r.headers),
                (r.key or b"").decode(),
                r.value.decode(),
            ]
        )
        + "\n"
        for r in records
    )
    kafka_tool(
        "kafka-console-producer",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--compression-codec",
        codec,
        "--reader-property",
        "parse.key=true",
        "--reader-property",
        "parse.headers=true",
        stdin=lines,
    ).check()


def java_console_consume(bootstrap: str, topic: str, count: int) -> list[Record]:
    """Read `count` records with kafka-console-consumer, printing partition, offset,
    headers and key; lines are `Partition:P<TAB>Offset:O<TAB>headers<TAB>key<TAB>value`."""
    out = (
        kafka_tool(
            "kafka-console-consumer",
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
            "--from-beginning",
            "--max-messages",
            str(count),
            "--timeout-ms",
            "30000",
            "--formatter-property",
            "print.partition=true",
            "--formatter-property",
            "print.offset=true",
            "--formatter-property",
            "print.headers=true",
            "--formatter-property",
            "print.key=true",
        )
        .check()
        .stdout
    )
    return [_from_console_line(line) for line in out.splitlines() if line.startswith("Partition:")]


def _from_console_line(line: str) -> Record:
    partition, offset, headers, key, value = line.split("\t")
    parsed_headers: tuple[tuple[str, bytes], ...] = ()
    if headers != "NO_HEADERS":
        parsed_headers = tuple(
            (name, val.encode()) for name, val in (h.split(":", 1) for h in headers.split(","))
        )
    return Record(
        value=value.encode(),
        key=None if key == "null" else key.encode(),
        headers=parsed_headers,
        partition=int(partition.removeprefix("Partition:")),
        offset=int(offset.removeprefix("Offset:")),
    )

"""Sluice's own clients interoperate with the clients people already use.

The `sluice produce` and `sluice consume` commands drive the sluice-producer and
sluice-consumer crates. Records they write are read intact by kcat and
confluent-kafka, and records kcat and confluent-kafka write are read intact by
them, with every codec. Run against Apache Kafka too, this checks our clients;
against Sluice, it checks both ends.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import cli
import pyclients
from brokers import REPO_ROOT
from records import Record, assert_round_trip, sample_records

pytestmark = pytest.mark.sluice_clients

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PARTITIONS = 3
COUNT = 120
HEADER = ("writer", b"sluice")


def sluice_binary() -> str:
    """The sluice CLI under test: `$SLUICE_BIN`, else the debug build."""
    binary = Path(os.environ.get("SLUICE_BIN", str(REPO_ROOT / "target" / "debug" / "sluice")))
    if not binary.is_file():
        pytest.fail(f"no sluice binary at {binary} (set SLUICE_BIN)")
    return str(binary)


def sluice_produce(bootstrap: str, topic: str, records: list[Record], codec: str) -> None:
    """Write `key:value` lines through `sluice produce` (acks=all, idempotent)."""
    lines = "".join(f"{r.key.decode()}:{r.value.decode()}\n" for r in records)
    cli.run(
        [
            sluice_binary(),
            "produce",
            topic,
            "--bootstrap-server",
            bootstrap,
            "--key-separator",
            ":",
            "--header",
            f"{HEADER[0]}={HEADER[1].decode()}",
            "--acks",
            "all",
            "--compression",
            codec,
        ],
        stdin=lines,
    ).check()


def sluice_consume(bootstrap: str, topic: str, count: int) -> list[Record]:
    """Read `count` records from the beginning through `sluice consume --format json`."""
    done = cli.run(
        [
            sluice_binary(),
            "consume",
            topic,
            "--bootstrap-server",
            bootstrap,
            "--from-beginning",
            "--max-messages",
            str(count),
            "--idle-timeout-ms",
            "20000",
            "--format",
            "json",
        ]
    ).check()
    return [from_json(json.loads(line)) for line in done.stdout.splitlines() if line.strip()]


def from_json(obj: dict) -> Record:
    def raw(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    return Record(
        key=raw(obj["key"]),
        value=raw(obj["value"]) or b"",
        headers=tuple((h["key"], raw(h["value"]) or b"") for h in obj["headers"]),
        partition=obj["partition"],
        offset=obj["offset"],
        timestamp_ms=obj["timestamp"],
    )


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("reader", ["kcat", "confluent"])
def test_records_from_the_sluice_producer_are_read_intact_by_other_clients(
    bootstrap, unique, reader, codec
):
    topic = unique()
    pyclients.create_topic(bootstrap, topic, PARTITIONS)
    sent = sample_records(COUNT, f"sluice-{codec}", (HEADER,))

    sluice_produce(bootstrap, topic, sent, codec)
    if reader == "kcat":
        received = cli.kcat_consume(bootstrap, topic)
    else:
        received = pyclients.confluent_consume(bootstrap, topic, COUNT)

    assert_round_trip(sent, received)


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("writer", ["kcat", "confluent"])
def test_records_from_other_clients_are_read_intact_by_the_sluice_consumer(
    bootstrap, unique, writer, codec
):
    topic = unique()
    pyclients.create_topic(bootstrap, topic, PARTITIONS)
    sent = sample_records(COUNT, f"{writer}-{codec}", (("writer", writer.encode()),))

    if writer == "kcat":
        cli.kcat_produce(bootstrap, topic, sent, codec)
    else:
        pyclients.confluent_produce(bootstrap, topic, sent, codec)
    received = sluice_consume(bootstrap, topic, COUNT)

    assert_round_trip(sent, received)


def test_keyed_records_land_where_the_java_client_puts_them(bootstrap, unique):
    """sluice-producer's murmur2 partitioner matches Kafka's Java console producer."""
    topic = unique()
    pyclients.create_topic(bootstrap, topic, PARTITIONS)
    keys = [f"user-{i}" for i in range(24)]
    ours = [Record(key=k.encode(), value=f"ours-{k}".encode(), headers=(HEADER,)) for k in keys]
    java = [
        Record(key=k.encode(), value=f"java-{k}".encode(), headers=(("writer", b"java"),))
        for k in keys
    ]

    sluice_produce(bootstrap, topic, ours, "none")
    cli.java_console_produce(bootstrap, topic, java, "none")
    received = cli.kcat_consume(bootstrap, topic)

    partition_of: dict[tuple[str, bytes], int] = {}
    for record in received:
        writer = "ours" if record.value.startswith(b"ours-") else "java"
        partition_of[(writer, record.key)] = record.partition
    assert len(partition_of) == 2 * len(keys)
    for key in keys:
        assert partition_of[("ours", key.encode())] == partition_of[("java", key.encode())], key

"""The broker under test as a child process: Apache Kafka (KRaft) or Sluice.

Both kinds share one life cycle: start on fixed 127.0.0.1 ports and a data directory,
wait (bounded) until the port accepts and Metadata answers, SIGKILL the whole process
group, and start again on the same ports and data so tests can check what survives a
crash. Output goes to a log file in the data directory, shown when a start fails.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from confluent_kafka.admin import AdminClient

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "scripts"

# Bounds on every wait of the broker's life cycle.
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0


class BrokerError(RuntimeError):
    """The broker process did not start, or died, within its bounds."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _metadata_answers(bootstrap: str) -> bool:
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 5000})
    try:
        metadata = admin.list_topics(timeout=5)
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False
    return len(metadata.brokers) > 0


class BrokerProcess:
    """A broker child process that can be killed and restarted on the same data."""

    kind = "abstract"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log_path = workdir / "broker.log"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def command(self) -> list[str]:
        """The command line that runs the broker in the foreground."""
        raise NotImplementedError

    def start(self) -> None:
        """Start the broker and wait until Metadata answers (bounded)."""
        self.starts += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        log.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
        log.flush()
        self.process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.workdir,
        )
        log.close()
        # Even if pytest dies before the session fixture's teardown, never leak a broker.
        atexit.register(self.kill)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise BrokerError(
                    f"{self.kind} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            if _port_accepts(self.port) and _metadata_answers(self.bootstrap):
                return
            time.sleep(0.3)
        self.kill()
        raise BrokerError(f"{self.kind} not ready within {START_TIMEOUT_S}s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the broker's whole process group and reap it (bounded)."""
        if self.process is None:
            return
        atexit.unregister(self.kill)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise BrokerError(f"{self.kind} pid {self.process.pid} survived SIGKILL") from exc
        self.process = None

    def restart_after_kill(self) -> None:
        """Crash the broker with SIGKILL, then start it on the same port and data."""
        self.kill()
        self.start()

    def log_tail(self, lines: int = 60) -> str:
        """The end of the broker's output, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no broker log)"
        return "\n".join(text.splitlines()[-lines:])


class KafkaBroker(BrokerProcess):
    """Single-node Apache Kafka in KRaft mode, run by scripts/kafka.sh."""

    kind = "kafka"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.controller_port = free_port()
        while self.controller_port == self.port:
            self.controller_port = free_port()

    def command(self) -> list[str]:
        return [
            "bash",
            str(SCRIPTS / "kafka.sh"),
            str(self.workdir / "kafka"),
            str(self.port),
            str(self.controller_port),
        ]


class SluiceBroker(BrokerProcess):
    """The Sluice binary: `$SLUICE_BIN broker --listen 127.0.0.1:PORT --data-dir DIR`.

    It runs with the settings the Kafka fixture uses (topic auto-creation off,
    see scripts/kafka.sh), written to a config file beside the data dir. Extra
    flags come from `$SLUICE_ARGS`.
    """

    kind = "sluice"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        binary = os.environ.get("SLUICE_BIN", str(REPO_ROOT / "target" / "release" / "sluice"))
        self.binary = Path(binary)
        if not self.binary.is_file():
            raise BrokerError(f"no sluice binary at {self.binary} (set SLUICE_BIN)")

    def command(self) -> list[str]:
        config = self.workdir / "sluice.toml"
        config.write_text("auto_create_topics_enable = false\n")
        return [
            str(self.binary),
            "broker",
            "--config",
            str(config),
            "--listen",
            self.bootstrap,
            "--data-dir",
            str(self.workdir / "data"),
            *os.environ.get("SLUICE_ARGS", "").split(),
        ]


def make_broker(kind: str, workdir: Path) -> BrokerProcess:
    """The broker process of the requested kind (`kafka` or `sluice`), not yet started."""
    if kind == "kafka":
        return KafkaBroker(workdir)
    if kind == "sluice":
        return SluiceBroker(workdir)
    raise BrokerError(f"unknown broker kind {kind!r}: use kafka or sluice")

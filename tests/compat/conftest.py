"""Fixtures of the compat suite: the broker under test and unique names.

`--broker=kafka|sluice` (or `COMPAT_BROKER`) picks the broker; one is started per
session in a temporary directory on free 127.0.0.1 ports and SIGKILLed at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from brokers import BrokerProcess, make_broker  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--broker",
        choices=["kafka", "sluice"],
        default=os.environ.get("COMPAT_BROKER", "kafka"),
        help="broker under test (default: $COMPAT_BROKER or kafka)",
    )
    parser.addoption(
        "--keep-broker-dir",
        action="store_true",
        help="keep the broker's temporary directory (data and log) after the session",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"compat broker: {config.getoption('--broker')}"


@pytest.fixture(scope="session")
def broker(request: pytest.FixtureRequest):
    """The running broker under test: `.bootstrap` is its address, and
    `.restart_after_kill()` crashes it with SIGKILL and starts it on the same data."""
    kind = request.config.getoption("--broker")
    workdir = Path(tempfile.mkdtemp(prefix=f"compat-{kind}-"))
    process: BrokerProcess = make_broker(kind, workdir)
    try:
        process.start()
        yield process
    finally:
        process.kill()
        if request.config.getoption("--keep-broker-dir"):
            print(f"\nbroker dir kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def bootstrap(broker: BrokerProcess) -> str:
    """The bootstrap address of the broker under test."""
    return broker.bootstrap


@pytest.fixture
def unique(request: pytest.FixtureRequest):
    """A factory of topic/group names unique to this test run: `unique("topic")`."""
    base = re.sub(r"[^a-zA-Z0-9._-]+", "-", request.node.name).strip("-")[:100]
    run_id = uuid.uuid4().hex[:8]

    def name(kind: str = "t") -> str:
        return f"{kind}-{base}-{run_id}"

    return name

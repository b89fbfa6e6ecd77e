"""kafkajs, Node's most used Kafka client: the legacy AlterConfigs its admin API
uses (its entries replace a topic's overrides), and a consumer group reading back
keyed records with headers written uncompressed and with gzip, then committing.

Each scenario runs `node/kafkajs_client.js` (kafkajs from `scripts/setup.sh`'s
cache) and checks the JSON it prints."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import cli

pytestmark = pytest.mark.kafkajs

SCRIPT = Path(__file__).parent / "node" / "kafkajs_client.js"
CACHE = Path(os.environ.get("SLUICE_CACHE", Path.home() / ".cache" / "sluice"))
NODE_MODULES = CACHE / "node" / "node_modules"


def kafkajs(*args: str) -> dict:
    """Run one scenario of the kafkajs script (bounded) and parse its result."""
    env_path = f"NODE_PATH={NODE_MODULES}"
    run = cli.run(["env", env_path, "node", str(SCRIPT), *args], timeout_s=150.0).check()
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_kafkajs_alter_configs_replaces_the_topics_overrides(bootstrap, unique):
    result = kafkajs(bootstrap, "alter-configs", unique())

    first, second = result["first"], result["second"]
    assert first["retention"] == {"value": "123456789", "isDefault": False}
    assert first["segment"]["isDefault"] is True
    # The second call names only segment.bytes: retention.ms is back to its default.
    assert second["segment"] == {"value": "2097152", "isDefault": False}
    assert second["retention"] == {"value": "604800000", "isDefault": True}
    assert result["invalid"] == "INVALID_CONFIG"


def test_kafkajs_group_reads_back_plain_and_gzip_records_and_commits(bootstrap, unique):
    result = kafkajs(bootstrap, "group-round-trip", unique(), unique())

    seen = result["seen"]
    assert len(seen) == 200
    values = sorted(record["value"] for record in seen)
    expected = sorted(f"{codec}-v{i}" for codec in ("none", "gzip") for i in range(100))
    assert values == expected, "every record once"
    for record in seen:
        codec, index = record["value"].split("-v")
        assert record["index"] == index
        assert record["key"] == f"{codec}-k{int(index) % 10}"
    by_key: dict[str, list[tuple[int, int]]] = {}
    for record in seen:
        by_key.setdefault(record["key"], []).append((record["partition"], record["offset"]))
    for key, places in by_key.items():
        assert len({partition for partition, _ in places}) == 1, f"{key} stays on one partition"
        offsets = [offset for _, offset in places]
        assert offsets == sorted(offsets), f"{key} in order"
    assert result["committed"] == result["ends"], "the group committed what it read"

"""Consumer groups of confluent-kafka members split a topic's partitions and rebalance
when a member leaves, without losing a record."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer

import pyclients
from records import Record, sample_records

pytestmark = pytest.mark.groups

PARTITIONS = 6
GROUP_TIMEOUT_S = 60.0


def member(bootstrap: str, group: str, topic: str, name: str) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": name,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 500,
        }
    )
    consumer.subscribe([topic])
    return consumer


def poll_all(members: list[Consumer], into: dict[int, list[Record]]) -> None:
    """One short batch poll of every member; records go to `into[member index]`."""
    for index, consumer in enumerate(members):
        for msg in consumer.consume(num_messages=500, timeout=0.1):
            assert msg.error() is None, f"member {index}: {msg.error()}"
            into[index].append(pyclients.from_confluent(msg))


def owned(consumer: Consumer) -> set[int]:
    return {tp.partition for tp in consumer.assignment()}


def wait_for_split(members: list[Consumer], into: dict[int, list[Record]]) -> list[set[int]]:
    """Poll every member until each owns partitions and together they own each of the
    topic's partitions exactly once; returns each member's partitions."""
    deadline = time.monotonic() + GROUP_TIMEOUT_S
    while time.monotonic() < deadline:
        poll_all(members, into)
        shares = [owned(c) for c in members]
        if (
            all(shares)
            and sum(len(s) for s in shares) == PARTITIONS
            and set().union(*shares) == set(range(PARTITIONS))
        ):
            return shares
    raise AssertionError(
        f"no complete split within {GROUP_TIMEOUT_S}s: {[owned(c) for c in members]}"
    )


def consume_until(members: list[Consumer], into: dict[int, list[Record]], total: int) -> None:
    deadline = time.monotonic() + GROUP_TIMEOUT_S
    while sum(len(v) for v in into.values()) < total and time.monotonic() < deadline:
        poll_all(members, into)


def assert_read_by_owner(shares: list[set[int]], into: dict[int, list[Record]]) -> None:
    for index, records in into.items():
        strays = {r.partition for r in records} - shares[index]
        assert not strays, f"member {index} read partitions {strays} it does not own"


def test_three_members_split_six_partitions_and_two_take_over_when_one_leaves(bootstrap, unique):
    topic, group = unique("topic"), unique("group")
    pyclients.create_topic(bootstrap, topic, PARTITIONS)
    first = [member(bootstrap, group, topic, f"m{i}") for i in range(3)]
    try:
        phase1: dict[int, list[Record]] = {0: [], 1: [], 2: []}
        shares = wait_for_split(first, phase1)
        sent1 = pyclients.confluent_produce(bootstrap, topic, sample_records(300, "phase1"))
        consume_until(first, phase1, len(sent1))
        assert_read_by_owner(shares, phase1)
        for consumer in first:
            consumer.commit(asynchronous=False)

        first[2].close()
        survivors = first[:2]
        phase2: dict[int, list[Record]] = {0: [], 1: []}
        new_shares = wait_for_split(survivors, phase2)
        sent2 = pyclients.confluent_produce(bootstrap, topic, sample_records(300, "phase2"))
        consume_until(survivors, phase2, len(sent2))
        assert_read_by_owner(new_shares, phase2)
    finally:
        for consumer in first[:2]:
            consumer.close()

    read = [r.content() for rs in [*phase1.values(), *phase2.values()] for r in rs]
    assert sorted(read) == sorted(r.content() for r in sent1 + sent2), "records lost or duplicated"


def test_two_members_of_a_group_each_get_three_of_six_partitions(bootstrap, unique):
    topic, group = unique("topic"), unique("group")
    pyclients.create_topic(bootstrap, topic, PARTITIONS)
    members = [member(bootstrap, group, topic, f"m{i}") for i in range(2)]
    try:
        shares = wait_for_split(members, {0: [], 1: []})
    finally:
        for consumer in members:
            consumer.close()

    assert sorted(len(s) for s in shares) == [3, 3]

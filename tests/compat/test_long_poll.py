"""A fetch parked with a long max wait returns as soon as a record arrives, not when
the wait elapses (Kafka's fetch purgatory)."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, TopicPartition
from kafka import TopicPartition as KpTopicPartition

import pyclients
from records import Record

pytestmark = pytest.mark.long_poll

FETCH_MAX_WAIT_MS = 30_000
# Generous: far below the max wait, far above any scheduling noise.
WOKEN_BEFORE_S = 20.0


def test_confluent_consumer_blocked_in_poll_gets_a_new_record_before_fetch_max_wait(
    bootstrap, unique
):
    topic = unique()
    pyclients.create_topic(bootstrap, topic, 1)
    pyclients.confluent_produce(bootstrap, topic, [Record(value=b"first")])
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("unused"),
            "enable.auto.commit": False,
            "fetch.wait.max.ms": FETCH_MAX_WAIT_MS,
            "fetch.min.bytes": 1,
            "socket.timeout.ms": 60_000,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        assert [r.value for r in pyclients.confluent_poll(consumer, 1)] == [b"first"]
        # The consumer is now parked in a fetch at the log end: nothing more comes.
        assert consumer.poll(3.0) is None

        produced_at = time.monotonic()
        pyclients.confluent_produce(bootstrap, topic, [Record(value=b"second")])
        second = pyclients.confluent_poll(consumer, 1, timeout_s=FETCH_MAX_WAIT_MS / 1000 + 15)
        woken_after = time.monotonic() - produced_at
    finally:
        consumer.close()

    assert [r.value for r in second] == [b"second"]
    assert woken_after < WOKEN_BEFORE_S


def test_kafka_python_consumer_blocked_in_poll_gets_a_new_record_before_fetch_max_wait(
    bootstrap, unique
):
    topic = unique()
    pyclients.create_topic(bootstrap, topic, 1)
    pyclients.confluent_produce(bootstrap, topic, [Record(value=b"first")])
    consumer = pyclients.kafka_python_consumer(
        bootstrap, fetch_max_wait_ms=FETCH_MAX_WAIT_MS, request_timeout_ms=60_000
    )
    try:
        consumer.assign([KpTopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        first = _poll_values(consumer, 1, 30.0)
        assert first == [b"first"]
        assert _poll_values(consumer, 1, 3.0) == []

        produced_at = time.monotonic()
        pyclients.confluent_produce(bootstrap, topic, [Record(value=b"second")])
        second = _poll_values(consumer, 1, FETCH_MAX_WAIT_MS / 1000 + 15)
        woken_after = time.monotonic() - produced_at
    finally:
        consumer.close()

    assert second == [b"second"]
    assert woken_after < WOKEN_BEFORE_S


def _poll_values(consumer, count: int, timeout_s: float) -> list[bytes]:
    values: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    while len(values) < count and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=200).values():
            values.extend(m.value for m in batch)
    return values

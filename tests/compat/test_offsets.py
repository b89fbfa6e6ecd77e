"""ListOffsets: earliest, latest and by timestamp, asked through kcat -Q and both
Python clients, on records with known CreateTime timestamps."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, TopicPartition
from kafka import TopicPartition as KpTopicPartition

import cli
import pyclients
from records import Record

pytestmark = pytest.mark.offsets

COUNT = 10
STEP_MS = 1000


@pytest.fixture
def timed_topic(bootstrap, unique):
    """A one-partition topic holding COUNT records whose timestamps are
    base, base+1s, ...; yields (topic, base_ms)."""
    topic = unique()
    pyclients.create_topic(bootstrap, topic, 1)
    # Recent timestamps, so retention by time can never touch them.
    base_ms = (int(time.time()) - 3600) * 1000
    records = [
        Record(value=f"v{i}".encode(), partition=0, timestamp_ms=base_ms + i * STEP_MS)
        for i in range(COUNT)
    ]
    pyclients.confluent_produce(bootstrap, topic, records)
    return topic, base_ms


def test_kcat_query_gives_earliest_and_latest_offsets(bootstrap, timed_topic):
    topic, _ = timed_topic

    assert cli.kcat_query_offset(bootstrap, topic, 0, -2) == 0
    assert cli.kcat_query_offset(bootstrap, topic, 0, -1) == COUNT


def test_kcat_query_by_timestamp_gives_first_offset_at_or_after_it(bootstrap, timed_topic):
    topic, base_ms = timed_topic

    assert cli.kcat_query_offset(bootstrap, topic, 0, base_ms) == 0
    assert cli.kcat_query_offset(bootstrap, topic, 0, base_ms + 3 * STEP_MS) == 3
    assert cli.kcat_query_offset(bootstrap, topic, 0, base_ms + 3 * STEP_MS + 1) == 4


def test_kcat_query_after_the_newest_timestamp_gives_minus_one(bootstrap, timed_topic):
    topic, base_ms = timed_topic

    assert cli.kcat_query_offset(bootstrap, topic, 0, base_ms + COUNT * STEP_MS) == -1


def test_confluent_watermarks_and_offsets_for_times(bootstrap, unique, timed_topic):
    topic, base_ms = timed_topic
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("unused")})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
        found = consumer.offsets_for_times(
            [TopicPartition(topic, 0, base_ms + 5 * STEP_MS - 1)], timeout=30
        )
    finally:
        consumer.close()

    assert (low, high) == (0, COUNT)
    assert found[0].offset == 5


def test_kafka_python_beginning_end_and_time_offsets(bootstrap, timed_topic):
    topic, base_ms = timed_topic
    partition = KpTopicPartition(topic, 0)
    consumer = pyclients.kafka_python_consumer(bootstrap)
    try:
        beginning = consumer.beginning_offsets([partition])[partition]
        end = consumer.end_offsets([partition])[partition]
        by_time = consumer.offsets_for_times({partition: base_ms + 7 * STEP_MS})[partition]
    finally:
        consumer.close()

    assert (beginning, end) == (0, COUNT)
    assert (by_time.offset, by_time.timestamp) == (7, base_ms + 7 * STEP_MS)

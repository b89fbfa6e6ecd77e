"""Bad requests get the error codes Kafka gives them (with topic auto-creation off)."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, KafkaError
from confluent_kafka.admin import NewTopic
from kafka.errors import MessageSizeTooLargeError

import cli
import pyclients
from records import Record

pytestmark = pytest.mark.errors

MAX_MESSAGE_BYTES = 1024
TOO_LARGE = b"x" * (4 * MAX_MESSAGE_BYTES)


def test_metadata_for_an_unknown_topic_is_unknown_topic_or_partition(bootstrap, unique):
    topic = unique()

    metadata = pyclients.admin(bootstrap).list_topics(topic=topic, timeout=10)

    assert metadata.topics[topic].error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_kcat_reports_unknown_topic_and_the_topic_is_not_auto_created(bootstrap, unique):
    topic = unique()

    listing = cli.run([cli.kcat_binary(), "-b", bootstrap, "-L", "-t", topic, "-J"]).check()

    assert "Unknown topic or partition" in listing.stdout
    assert topic not in pyclients.topic_names(bootstrap)


def test_consumer_subscribed_to_an_unknown_topic_is_told_unknown_topic_or_partition(
    bootstrap, unique
):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("group")})
    try:
        consumer.subscribe([unique()])
        msg = None
        for _ in range(60):
            msg = consumer.poll(0.5)
            if msg is not None:
                break
    finally:
        consumer.close()

    assert msg is not None and msg.error() is not None
    assert msg.error().code() == KafkaError.UNKNOWN_TOPIC_OR_PART


@pytest.mark.parametrize(
    "bad_name",
    ["has space", "slash/name", "star*", "..", "x" * 250],
    ids=["space", "slash", "star", "dotdot", "too-long"],
)
def test_creating_a_topic_with_an_invalid_name_is_invalid_topic_exception(bootstrap, bad_name):
    client = pyclients.admin(bootstrap)
    future = client.create_topics([NewTopic(bad_name, 1, 1)], request_timeout=30)[bad_name]

    with pytest.raises(Exception) as failure:
        future.result(timeout=60)

    assert failure.value.args[0].code() == KafkaError.TOPIC_EXCEPTION


def test_creating_an_existing_topic_is_topic_already_exists(bootstrap, unique):
    topic = unique()
    pyclients.create_topic(bootstrap, topic, 1)
    client = pyclients.admin(bootstrap)
    future = client.create_topics([NewTopic(topic, 1, 1)], request_timeout=30)[topic]

    with pytest.raises(Exception) as failure:
        future.result(timeout=60)

    assert failure.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS


def test_confluent_record_larger_than_max_message_bytes_is_msg_size_too_large(bootstrap, unique):
    topic = unique()
    pyclients.create_topic(bootstrap, topic, 1, {"max.message.bytes": str(MAX_MESSAGE_BYTES)})

    with pytest.raises(pyclients.DeliveryFailed) as failure:
        pyclients.confluent_produce(bootstrap, topic, [Record(value=TOO_LARGE)])

    assert [e.code() for e in failure.value.errors] == [KafkaError.MSG_SIZE_TOO_LARGE]


def test_kafka_python_record_larger_than_max_message_bytes_is_message_too_large(bootstrap, unique):
    topic = unique()
    pyclients.create_topic(bootstrap, topic, 1, {"max.message.bytes": str(MAX_MESSAGE_BYTES)})

    with pytest.raises(MessageSizeTooLargeError):
        pyclients.kafka_python_produce(bootstrap, topic, [Record(value=TOO_LARGE)])


def test_records_within_max_message_bytes_are_accepted_next_to_a_rejected_one(bootstrap, unique):
    topic = unique()
    pyclients.create_topic(bootstrap, topic, 1, {"max.message.bytes": str(MAX_MESSAGE_BYTES)})

    with pytest.raises(pyclients.DeliveryFailed):
        pyclients.confluent_produce(bootstrap, topic, [Record(value=TOO_LARGE)])
    delivered = pyclients.confluent_produce(bootstrap, topic, [Record(value=b"small")])

    assert [(r.partition, r.offset) for r in delivered] == [(0, 0)]

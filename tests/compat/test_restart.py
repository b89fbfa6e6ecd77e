"""What a broker promised survives a SIGKILL: acknowledged records and committed
consumer-group offsets are there after a restart on the same data directory."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

import pyclients
from records import assert_round_trip, sample_records

pytestmark = pytest.mark.restart


def group_consumer(bootstrap: str, group: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )


# Errors a client retries while a restarted broker elects and loads group coordinators.
COORDINATOR_NOT_READY = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
}


def committed_offset(consumer: Consumer, partition: TopicPartition, timeout_s: float = 60.0) -> int:
    """The group's committed offset, retrying (bounded) while the coordinator is not
    ready yet, as Kafka answers for a few seconds after a restart."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return consumer.committed([partition], timeout=10)[0].offset
        except KafkaException as error:
            code = error.args[0].code()
            if code not in COORDINATOR_NOT_READY or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_records_acknowledged_with_acks_all_survive_a_broker_sigkill(broker, unique):
    topic = unique()
    pyclients.create_topic(broker.bootstrap, topic, 3)
    sent = sample_records(300, "durable")
    pyclients.confluent_produce(broker.bootstrap, topic, sent, "lz4", acks="all")

    broker.restart_after_kill()
    pyclients.wait_for_topic(broker.bootstrap, topic, 3)

    assert_round_trip(sent, pyclients.kafka_python_consume(broker.bootstrap, topic, len(sent)))


def test_group_resumes_from_its_committed_offset_after_a_broker_sigkill(broker, unique):
    topic, group = unique("topic"), unique("group")
    pyclients.create_topic(broker.bootstrap, topic, 1)
    sent = pyclients.confluent_produce(broker.bootstrap, topic, sample_records(10, "resume"))
    consumer = group_consumer(broker.bootstrap, group)
    try:
        consumer.subscribe([topic])
        first_four = pyclients.confluent_poll(consumer, 4)
        assert [r.offset for r in first_four] == [0, 1, 2, 3]
        consumer.commit(offsets=[TopicPartition(topic, 0, 4)], asynchronous=False)
    finally:
        consumer.close()

    broker.restart_after_kill()
    pyclients.wait_for_topic(broker.bootstrap, topic, 1)

    consumer = group_consumer(broker.bootstrap, group)
    try:
        assert committed_offset(consumer, TopicPartition(topic, 0)) == 4
        consumer.subscribe([topic])
        rest = pyclients.confluent_poll(consumer, 6)
    finally:
        consumer.close()
    assert [r.offset for r in rest] == [4, 5, 6, 7, 8, 9]
    assert [r.value for r in rest] == [r.value for r in sent[4:]]

"""An idempotent producer's records are written exactly once, in order."""

from __future__ import annotations

import pytest

import pyclients
from records import assert_round_trip, sample_records

pytestmark = pytest.mark.idempotence

COUNT = 2000


def test_confluent_idempotent_producer_writes_each_record_once(bootstrap, unique):
    topic = unique()
    pyclients.create_topic(bootstrap, topic, 3)
    sent = sample_records(COUNT, "idempotent")

    delivered = pyclients.confluent_produce(
        bootstrap,
        topic,
        sent,
        "zstd",
        **{
            "enable.idempotence": True,
            "max.in.flight.requests.per.connection": 5,
            "batch.size": 2048,
        },
    )

    assert len(delivered) == COUNT
    assert_round_trip(sent, pyclients.kafka_python_consume(bootstrap, topic, COUNT))


def test_kafka_python_idempotent_producer_writes_each_record_once(bootstrap, unique):
    topic = unique()
    pyclients.create_topic(bootstrap, topic, 3)
    sent = sample_records(COUNT, "idempotent-kp")

    pyclients.kafka_python_produce(
        bootstrap, topic, sent, "gzip", enable_idempotence=True, acks="all"
    )

    assert_round_trip(sent, pyclients.confluent_consume(bootstrap, topic, COUNT))

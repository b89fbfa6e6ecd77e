"""Records written by one client with each compression codec are read intact by
another: keys, values and headers preserved, per-key order kept, offsets dense."""

from __future__ import annotations

import pytest

import cli
import pyclients
from records import Record, assert_round_trip, sample_records

pytestmark = pytest.mark.codecs

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PARTITIONS = 2
COUNT = 200

PRODUCERS = {
    "kcat": cli.kcat_produce,
    "confluent": pyclients.confluent_produce,
    "kafka_python": pyclients.kafka_python_produce,
}
CONSUMERS = {
    "kcat": lambda bootstrap, topic, count: cli.kcat_consume(bootstrap, topic),
    "confluent": pyclients.confluent_consume,
    "kafka_python": pyclients.kafka_python_consume,
}
# Each writer read by a different reader; Java pairs are below (one JVM per test).
PAIRS = [("kcat", "confluent"), ("kafka_python", "kcat"), ("confluent", "kafka_python")]


def headers_for(writer: str, codec: str) -> tuple[tuple[str, bytes], ...]:
    return (("writer", writer.encode()), ("codec", codec.encode()))


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize(("writer", "reader"), PAIRS, ids=[f"{w}-to-{r}" for w, r in PAIRS])
def test_records_written_by_one_client_are_read_intact_by_another(
    bootstrap, unique, writer, reader, codec
):
    topic = unique()
    pyclients.create_topic(bootstrap, topic, PARTITIONS)
    sent = sample_records(COUNT, f"{writer}-{codec}", headers_for(writer, codec))

    PRODUCERS[writer](bootstrap, topic, sent, codec)
    received = CONSUMERS[reader](bootstrap, topic, COUNT)

    assert_round_trip(sent, received)


@pytest.mark.java_tools
@pytest.mark.parametrize("codec", CODECS)
def test_java_console_producer_records_are_read_intact_by_kafka_python(bootstrap, unique, codec):
    topic = unique()
    pyclients.create_topic(bootstrap, topic, PARTITIONS)
    sent = sample_records(COUNT, f"java-{codec}", headers_for("java", codec))

    cli.java_console_produce(bootstrap, topic, sent, codec)
    received = pyclients.kafka_python_consume(bootstrap, topic, COUNT)

    assert_round_trip(sent, received)


@pytest.mark.java_tools
def test_java_console_consumer_reads_confluent_batches_of_every_codec(bootstrap, unique):
    topic = unique()
    pyclients.create_topic(bootstrap, topic, PARTITIONS)
    sent: list[Record] = []
    for codec in CODECS:
        batch = sample_records(COUNT // 5, f"confluent-{codec}", headers_for("confluent", codec))
        pyclients.confluent_produce(bootstrap, topic, batch, codec)
        sent += batch

    received = cli.java_console_consume(bootstrap, topic, len(sent))

    assert_round_trip(sent, received)

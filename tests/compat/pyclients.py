"""Produce and consume with the two Python clients: confluent-kafka (librdkafka) and
kafka-python (pure Python). Consumers read by explicit assignment, without a group,
from the beginning of every partition; every wait is bounded.
"""

from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTopicPartition

from records import Record

CLIENT_TIMEOUT_S = 60.0

# Codec names as each client spells them ("none" means no compression).
KAFKA_PYTHON_CODEC = {
    "none": None,
    "gzip": "gzip",
    "snappy": "snappy",
    "lz4": "lz4",
    "zstd": "zstd",
}


class DeliveryFailed(AssertionError):
    """A producer reported a per-record delivery error."""

    def __init__(self, errors: list[KafkaError]) -> None:
        super().__init__(f"{len(errors)} records failed: {errors[:3]}")
        self.errors = errors


# --- admin -------------------------------------------------------------------


def admin(bootstrap: str) -> AdminClient:
    """A confluent-kafka admin client for the broker under test."""
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topic(
    bootstrap: str, name: str, partitions: int = 1, config: dict[str, str] | None = None
) -> None:
    """Create a topic (replication factor 1) and wait until every partition has a leader."""
    client = admin(bootstrap)  # must outlive the futures it returns
    futures = client.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=30,
        request_timeout=30,
    )
    futures[name].result(timeout=CLIENT_TIMEOUT_S)
    wait_for_topic(bootstrap, name, partitions)


def wait_for_topic(bootstrap: str, name: str, partitions: int) -> None:
    """Wait (bounded) until Metadata shows `partitions` partitions of `name`, all led."""
    client = admin(bootstrap)
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    while time.monotonic() < deadline:
        topic = client.list_topics(topic=name, timeout=10).topics.get(name)
        if (
            topic is not None
            and topic.error is None
            and len(topic.partitions) == partitions
            and all(p.leader >= 0 for p in topic.partitions.values())
        ):
            return
        time.sleep(0.2)
    raise AssertionError(f"topic {name} not ready with {partitions} led partitions")


def topic_names(bootstrap: str) -> set[str]:
    """Names of the topics Metadata lists."""
    return set(admin(bootstrap).list_topics(timeout=10).topics)


# --- confluent-kafka -----------------------------------------------------------


def confluent_produce(
    bootstrap: str, topic: str, records: list[Record], codec: str = "none", **conf: object
) -> list[Record]:
    """Send records with confluent-kafka; returns them as delivered (with offsets).

    Raises `DeliveryFailed` carrying the per-record errors if any record failed.
    """
    producer = Producer(
        {"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 5, **conf}
    )
    delivered: list[Record] = []
    errors: list[KafkaError] = []

    def on_delivery(err, msg) -> None:
        if err is not None:
            errors.append(err)
            return
        delivered.append(from_confluent(msg))

    for record in records:
        producer.produce(
            topic,
            value=record.value,
            key=record.key,
            headers=list(record.headers) or None,
            on_delivery=on_delivery,
            **({"partition": record.partition} if record.partition >= 0 else {}),
            **({"timestamp": record.timestamp_ms} if record.timestamp_ms is not None else {}),
        )
        producer.poll(0)
    remaining = producer.flush(CLIENT_TIMEOUT_S)
    assert remaining == 0, f"{remaining} records still queued after {CLIENT_TIMEOUT_S}s"
    if errors:
        raise DeliveryFailed(errors)
    return delivered


def from_confluent(msg) -> Record:
    """A confluent-kafka message as a `Record`."""
    headers = tuple((k, v if v is not None else b"") for k, v in (msg.headers() or []))
    return Record(
        value=msg.value(),
        key=msg.key(),
        headers=headers,
        partition=msg.partition(),
        offset=msg.offset(),
        timestamp_ms=msg.timestamp()[1],
    )


def confluent_consume(bootstrap: str, topic: str, count: int, **conf: object) -> list[Record]:
    """Read `count` records from the start of every partition of `topic`."""
    partitions = admin(bootstrap).list_topics(topic=topic, timeout=10).topics[topic].partitions
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"unused-{topic}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            **conf,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        return confluent_poll(consumer, count)
    finally:
        consumer.close()


def confluent_poll(
    consumer: Consumer, count: int, timeout_s: float = CLIENT_TIMEOUT_S
) -> list[Record]:
    """Poll until `count` records arrived or the bound passed; errors fail the test."""
    received: list[Record] = []
    deadline = time.monotonic() + timeout_s
    while len(received) < count and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        assert msg.error() is None, f"consumer error: {msg.error()}"
        received.append(from_confluent(msg))
    return received


# --- kafka-python ----------------------------------------------------------------


def kafka_python_produce(
    bootstrap: str, topic: str, records: list[Record], codec: str = "none", **conf: object
) -> list[Record]:
    """Send records with kafka-python and wait for every acknowledgement."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        compression_type=KAFKA_PYTHON_CODEC[codec],
        linger_ms=5,
        **conf,
    )
    try:
        futures = [
            producer.send(
                topic,
                value=r.value,
                key=r.key,
                headers=list(r.headers),
                partition=r.partition if r.partition >= 0 else None,
                timestamp_ms=r.timestamp_ms,
            )
            for r in records
        ]
        producer.flush(timeout=CLIENT_TIMEOUT_S)
        metadata = [f.get(timeout=CLIENT_TIMEOUT_S) for f in futures]
    finally:
        producer.close(timeout=10)
    return [
        Record(value=r.value, key=r.key, headers=r.headers, partition=m.partition, offset=m.offset)
        for r, m in zip(records, metadata, strict=True)
    ]


def kafka_python_consumer(bootstrap: str, **conf: object) -> KafkaConsumer:
    """A group-less kafka-python consumer (callers assign partitions)."""
    return KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, **conf
    )


def kafka_python_consume(bootstrap: str, topic: str, count: int) -> list[Record]:
    """Read `count` records from the start of every partition of `topic`."""
    consumer = kafka_python_consumer(bootstrap)
    try:
        partitions = sorted(consumer.partitions_for_topic(topic) or [])
        assert partitions, f"kafka-python sees no partitions of {topic}"
        consumer.assign([KpTopicPartition(topic, p) for p in partitions])
        consumer.seek_to_beginning()
        received: list[Record] = []
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while len(received) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                received.extend(_from_kafka_python(m) for m in batch)
        return received
    finally:
        consumer.close()


def _from_kafka_python(msg) -> Record:
    return Record(
        value=msg.value,
        key=msg.key,
        headers=tuple((k, v if v is not None else b"") for k, v in msg.headers),
        partition=msg.partition,
        offset=msg.offset,
        timestamp_ms=msg.timestamp,
    )

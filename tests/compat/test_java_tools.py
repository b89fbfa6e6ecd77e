"""Apache Kafka's own CLI tools (the Java classes behind bin/kafka-*.sh) work against
the broker: topic admin, group listing with lag, console round trip, perf tests,
get-offsets, log dirs, leader election, producer states. Each tool run starts a JVM
(~2 s), so each is called once or twice."""

from __future__ import annotations

import json
import re
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

import cli
import pyclients
from records import Record, assert_round_trip, sample_records

pytestmark = pytest.mark.java_tools


def topics_tool(bootstrap: str, *args: str) -> cli.Run:
    return cli.kafka_tool("kafka-topics", "--bootstrap-server", bootstrap, *args).check()


def wait_until_topic_gone(bootstrap: str, topic: str, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if topic not in pyclients.topic_names(bootstrap):
            return True
        time.sleep(0.2)
    return False


def test_kafka_topics_creates_lists_describes_and_deletes_a_topic(bootstrap, unique):
    topic = unique()

    created = topics_tool(bootstrap, "--create", "--topic", topic, "--partitions", "3")
    assert f"Created topic {topic}." in created.stdout
    pyclients.wait_for_topic(bootstrap, topic, 3)

    listed = topics_tool(bootstrap, "--list")
    assert topic in listed.stdout.split()

    described = topics_tool(bootstrap, "--describe", "--topic", topic).stdout
    assert re.search(
        rf"Topic: {re.escape(topic)}\s.*PartitionCount: 3\s.*ReplicationFactor: 1", described
    )
    partition_lines = re.findall(
        r"Partition: (\d+)\s+Leader: (\d+)\s+Replicas: (\d+)\s+Isr: (\d+)", described
    )
    assert sorted(int(p) for p, *_ in partition_lines) == [0, 1, 2]
    assert all(leader == replicas == isr for _, leader, replicas, isr in partition_lines)

    topics_tool(bootstrap, "--delete", "--topic", topic)
    assert wait_until_topic_gone(bootstrap, topic)


def test_kafka_consumer_groups_lists_a_group_and_describes_its_lag(bootstrap, unique):
    topic, group = unique("topic"), unique("group")
    pyclients.create_topic(bootstrap, topic, 1)
    pyclients.confluent_produce(bootstrap, topic, sample_records(10, "lag"))
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, 4)], asynchronous=False)
    finally:
        consumer.close()

    listed = cli.kafka_tool(
        "kafka-consumer-groups", "--bootstrap-server", bootstrap, "--list"
    ).check()
    assert group in listed.stdout.split()

    described = cli.kafka_tool(
        "kafka-consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--group", group
    ).check()
    rows = [line.split() for line in described.stdout.splitlines() if line.startswith(group)]
    # GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
    assert [row[1:6] for row in rows] == [[topic, "0", "4", "10", "6"]]


def test_deleting_a_topic_removes_its_offsets_from_every_group(bootstrap, unique):
    gone, kept, group = unique("gone"), unique("kept"), unique("group")
    for topic in (gone, kept):
        pyclients.create_topic(bootstrap, topic, 1)
    pyclients.confluent_produce(bootstrap, kept, sample_records(10, "kept"))
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    try:
        consumer.commit(
            offsets=[TopicPartition(gone, 0, 0), TopicPartition(kept, 0, 4)], asynchronous=False
        )
    finally:
        consumer.close()

    topics_tool(bootstrap, "--delete", "--topic", gone)
    assert wait_until_topic_gone(bootstrap, gone)

    # The coordinator drops the offsets once it sees the deletion, which on
    # Kafka may come a little after the topic left the metadata; a describe
    # in between can take a while to fail.
    deadline = time.monotonic() + 90
    while True:
        described = cli.kafka_tool(
            "kafka-consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--all-groups"
        )
        rows = [line.split() for line in described.stdout.splitlines() if line.startswith(group)]
        if described.returncode == 0 and all(row[1] != gone for row in rows):
            break
        assert time.monotonic() < deadline, described.stderr or described.stdout
        time.sleep(0.5)
    # GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
    assert [row[1:6] for row in rows] == [[kept, "0", "4", "10", "6"]]


def test_kafka_console_producer_and_consumer_round_trip(bootstrap, unique):
    topic = unique()
    pyclients.create_topic(bootstrap, topic, 2)
    sent = sample_records(50, "console", (("tool", b"console"),))

    cli.java_console_produce(bootstrap, topic, sent, "lz4")
    received = cli.java_console_consume(bootstrap, topic, len(sent))

    assert_round_trip(sent, received)


def test_kafka_producer_and_consumer_perf_tests_complete_with_small_counts(bootstrap, unique):
    topic = unique()
    pyclients.create_topic(bootstrap, topic, 2)

    produced = cli.kafka_tool(
        "kafka-producer-perf-test",
        "--topic",
        topic,
        "--num-records",
        "2000",
        "--record-size",
        "100",
        "--throughput",
        "-1",
        # One flag, several values: a repeated --command-property replaces the previous one.
        "--command-property",
        f"bootstrap.servers={bootstrap}",
        "acks=all",
    ).check()
    assert re.search(r"^2000 records sent", produced.stdout, re.MULTILINE)

    consumed = cli.kafka_tool(
        "kafka-consumer-perf-test",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--num-records",
        "2000",
        "--timeout",
        "30000",
    ).check()
    header, values = consumed.stdout.strip().splitlines()[-2:]
    stats = dict(
        zip(
            [h.strip() for h in header.split(",")],
            [v.strip() for v in values.split(",")],
            strict=True,
        )
    )
    assert stats["data.consumed.in.nMsg"] == "2000"


def test_kafka_get_offsets_prints_latest_offset_per_partition(bootstrap, unique):
    topic = unique()
    pyclients.create_topic(bootstrap, topic, 2)
    pyclients.confluent_produce(
        bootstrap, topic, [Record(value=f"v{i}".encode(), partition=0) for i in range(7)]
    )

    latest = cli.kafka_tool(
        "kafka-get-offsets", "--bootstrap-server", bootstrap, "--topic", topic, "--time", "-1"
    ).check()

    assert sorted(latest.stdout.split()) == [f"{topic}:0:7", f"{topic}:1:0"]


def test_kafka_log_dirs_describes_the_size_of_each_partition(bootstrap, unique):
    topic = unique()
    pyclients.create_topic(bootstrap, topic, 2)
    pyclients.confluent_produce(
        bootstrap, topic, [Record(value=f"v{i}".encode(), partition=0) for i in range(20)]
    )

    described = cli.kafka_tool(
        "kafka-log-dirs", "--bootstrap-server", bootstrap, "--describe", "--topic-list", topic
    ).check()

    # The tool prints two progress lines, then the JSON document.
    report = json.loads(described.stdout.strip().splitlines()[-1])
    [broker] = report["brokers"]
    [log_dir] = broker["logDirs"]
    assert log_dir["error"] is None
    assert log_dir["logDir"].startswith("/")
    sizes = {p["partition"]: p["size"] for p in log_dir["partitions"]}
    assert sorted(sizes) == [f"{topic}-0", f"{topic}-1"]
    assert sizes[f"{topic}-0"] > 0
    assert sizes[f"{topic}-1"] == 0
    assert all(p["offsetLag"] == 0 and not p["isFuture"] for p in log_dir["partitions"])


def test_kafka_configs_alters_and_describes_topic_configs(bootstrap, unique):
    topic = unique()
    pyclients.create_topic(bootstrap, topic, 1)

    def describe(*extra: str) -> dict[str, str]:
        run = cli.kafka_tool(
            "kafka-configs",
            "--bootstrap-server",
            bootstrap,
            "--describe",
            "--entity-type",
            "topics",
            "--entity-name",
            topic,
            *extra,
        ).check()
        # "  name=value sensitive=false synonyms={...}" per config.
        configs = {}
        for line in run.stdout.splitlines():
            if line.startswith("  ") and "=" in line:
                name, _, rest = line.strip().partition("=")
                configs[name] = rest.split(" sensitive=")[0]
        return configs

    every = describe("--all")
    assert every["retention.ms"] == "604800000"
    assert every["min.insync.replicas"] == "1"
    assert every["cleanup.policy"] == "delete"
    cli.kafka_tool(
        "kafka-configs",
        "--bootstrap-server",
        bootstrap,
        "--alter",
        "--entity-type",
        "topics",
        "--entity-name",
        topic,
        "--add-config",
        "retention.ms=3600000,min.insync.replicas=1",
    ).check()
    # Kafka applies the change through its metadata log: wait until it shows.
    deadline = time.monotonic() + 15
    dynamic = describe()
    while dynamic.get("retention.ms") != "3600000" and time.monotonic() < deadline:
        time.sleep(0.5)
        dynamic = describe()
    assert dynamic == {"retention.ms": "3600000", "min.insync.replicas": "1"}


def test_kafka_leader_election_finds_the_preferred_leader_already_elected(bootstrap, unique):
    topic = unique()
    pyclients.create_topic(bootstrap, topic, 1)

    one = cli.kafka_tool(
        "kafka-leader-election",
        "--bootstrap-server",
        bootstrap,
        "--election-type",
        "preferred",
        "--topic",
        topic,
        "--partition",
        "0",
    ).check()
    assert f"Valid replica already elected for partitions {topic}-0" in one.stdout

    # Every partition: only elections that happened are listed, and none did.
    every = cli.kafka_tool(
        "kafka-leader-election",
        "--bootstrap-server",
        bootstrap,
        "--election-type",
        "preferred",
        "--all-topic-partitions",
    ).check()
    assert topic not in every.stdout


def test_kafka_transactions_describes_an_idempotent_producer(bootstrap, unique):
    topic = unique()
    pyclients.create_topic(bootstrap, topic, 1)
    timestamp_ms = int(time.time() * 1000)
    pyclients.confluent_produce(
        bootstrap,
        topic,
        [Record(value=f"v{i}".encode(), partition=0, timestamp_ms=timestamp_ms) for i in range(5)],
        **{"enable.idempotence": True},
    )

    described = cli.kafka_tool(
        "kafka-transactions",
        "--bootstrap-server",
        bootstrap,
        "describe-producers",
        "--topic",
        topic,
        "--partition",
        "0",
    ).check()

    header, *rows = [line.split() for line in described.stdout.strip().splitlines()]
    assert header == [
        "ProducerId",
        "ProducerEpoch",
        "LatestCoordinatorEpoch",
        "LastSequence",
        "LastTimestamp",
        "CurrentTransactionStartOffset",
    ]
    [[_producer_id, epoch, coordinator_epoch, last_sequence, last_timestamp, txn_start]] = rows
    assert (epoch, coordinator_epoch, last_sequence) == ("0", "-1", "4")
    assert int(last_timestamp) == timestamp_ms
    assert txn_start == "None"

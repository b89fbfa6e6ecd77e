//! `sluice topic` against a live broker (see `cli_support` for which one).

mod cli_support;

use cli_support::{TestBroker, assert_one_line_error, unique};

#[test]
fn created_topic_is_listed() {
    let broker = TestBroker::start();
    let topic = unique("listed");
    let created = broker.sluice_ok(&["topic", "create", &topic, "--partitions", "2"]);
    assert_eq!(created.trim(), format!("Created topic {topic}."));
    let listed = broker.sluice_until(&["topic", "list"], |out| out.lines().any(|l| l == topic));
    assert!(listed.lines().any(|line| line == topic), "{listed}");
}

#[test]
fn describe_shows_every_partition_and_the_topic_configs() {
    let broker = TestBroker::start();
    let topic = unique("described");
    broker.sluice_ok(&[
        "topic",
        "create",
        &topic,
        "--partitions",
        "3",
        "--replication-factor",
        "1",
        "--config",
        "retention.ms=3600000",
    ]);
    let described = broker.sluice_ok(&["topic", "describe", &topic]);
    let lines: Vec<&str> = described.lines().collect();
    assert_eq!(lines.len(), 4, "{described}");
    assert!(
        lines[0].starts_with(&format!("Topic: {topic}\t")),
        "{described}"
    );
    assert!(lines[0].contains("PartitionCount: 3"), "{described}");
    assert!(lines[0].contains("ReplicationFactor: 1"), "{described}");
    assert!(lines[0].contains("retention.ms=3600000"), "{described}");
    for (index, line) in lines[1..].iter().enumerate() {
        assert!(
            line.contains(&format!("Partition: {index}\t")),
            "{described}"
        );
    }
}

#[test]
fn alter_raises_the_partition_count() {
    let broker = TestBroker::start();
    let topic = unique("grown");
    broker.sluice_ok(&["topic", "create", &topic, "--partitions", "1"]);
    broker.sluice_ok(&["topic", "alter", &topic, "--partitions", "4"]);
    let described = broker.sluice_until(&["topic", "describe", &topic], |out| {
        out.contains("PartitionCount: 4")
    });
    assert!(described.contains("PartitionCount: 4"), "{described}");
}

#[test]
fn alter_sets_and_removes_topic_configs() {
    let broker = TestBroker::start();
    let topic = unique("configured");
    broker.sluice_ok(&["topic", "create", &topic, "--config", "retention.ms=1000"]);
    broker.sluice_ok(&[
        "topic",
        "alter",
        &topic,
        "--config",
        "segment.ms=7200000",
        "--delete-config",
        "retention.ms",
    ]);
    let described = broker.sluice_until(&["topic", "describe", &topic], |out| {
        out.contains("segment.ms=7200000") && !out.contains("retention.ms")
    });
    let summary = described.lines().next().unwrap_or_default();
    assert!(summary.contains("segment.ms=7200000"), "{described}");
    assert!(!summary.contains("retention.ms"), "{described}");
}

#[test]
fn deleted_topic_is_no_longer_listed() {
    let broker = TestBroker::start();
    let topic = unique("deleted");
    broker.sluice_ok(&["topic", "create", &topic]);
    let deleted = broker.sluice_ok(&["topic", "delete", &topic]);
    assert_eq!(deleted.trim(), format!("Deleted topic {topic}."));
    let listed = broker.sluice_until(&["topic", "list"], |out| !out.lines().any(|l| l == topic));
    assert!(!listed.lines().any(|line| line == topic), "{listed}");
}

#[test]
fn creating_an_existing_topic_is_one_line_error() {
    let broker = TestBroker::start();
    let topic = unique("twice");
    broker.sluice_ok(&["topic", "create", &topic]);
    let again = broker.sluice(&["topic", "create", &topic]);
    assert_one_line_error(&again, "TOPIC_ALREADY_EXISTS");
}

#[test]
fn if_not_exists_makes_creating_an_existing_topic_succeed() {
    let broker = TestBroker::start();
    let topic = unique("idempotent");
    broker.sluice_ok(&["topic", "create", &topic]);
    broker.sluice_ok(&["topic", "create", &topic, "--if-not-exists"]);
}

#[test]
fn describing_an_unknown_topic_is_one_line_error() {
    let broker = TestBroker::start();
    let topic = unique("missing");
    let output = broker.sluice(&["topic", "describe", &topic]);
    assert_one_line_error(&output, &format!("topic {topic} does not exist"));
}

#[test]
fn altering_an_unknown_topic_is_one_line_error() {
    let broker = TestBroker::start();
    let topic = unique("missing");
    let output = broker.sluice(&["topic", "alter", &topic, "--partitions", "2"]);
    assert_one_line_error(&output, &format!("topic {topic} does not exist"));
}

#[test]
fn deleting_an_unknown_topic_fails_unless_if_exists() {
    let broker = TestBroker::start();
    let topic = unique("missing");
    let output = broker.sluice(&["topic", "delete", &topic]);
    assert_one_line_error(&output, "UNKNOWN_TOPIC_OR_PARTITION");
    broker.sluice_ok(&["topic", "delete", &topic, "--if-exists"]);
}

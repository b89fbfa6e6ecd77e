//! `sluice group` against a live broker (see `cli_support` for which one).
//! Groups get committed offsets from `reset-offsets`, which works on a group
//! with no members, so no consumer is needed.

mod cli_support;

use cli_support::{TestBroker, assert_one_line_error, unique};

/// Creates a topic and a group with offsets committed on all its partitions.
fn topic_and_group(broker: &TestBroker, partitions: &str) -> (String, String) {
    let topic = unique("group-topic");
    let group = unique("group");
    broker.sluice_ok(&["topic", "create", &topic, "--partitions", partitions]);
    broker.sluice_ok(&[
        "group",
        "reset-offsets",
        &group,
        "--topic",
        &topic,
        "--to-earliest",
    ]);
    (topic, group)
}

/// The data rows (header skipped) of a table, split into cells.
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip_while(|line| !line.starts_with("GROUP"))
        .skip(1)
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .collect()
}

#[test]
fn reset_offsets_prints_the_offset_committed_per_partition() {
    let broker = TestBroker::start();
    let topic = unique("reset-topic");
    let group = unique("reset");
    broker.sluice_ok(&["topic", "create", &topic, "--partitions", "2"]);
    let printed = broker.sluice_ok(&[
        "group",
        "reset-offsets",
        &group,
        "--topic",
        &topic,
        "--to-latest",
    ]);
    assert_eq!(
        rows(&printed),
        [[&group, &topic, "0", "0"], [&group, &topic, "1", "0"]],
        "{printed}"
    );
}

#[test]
fn group_with_committed_offsets_is_listed_as_empty() {
    let broker = TestBroker::start();
    let (_, group) = topic_and_group(&broker, "1");
    let names = broker.sluice_ok(&["group", "list"]);
    assert!(names.lines().any(|line| line == group), "{names}");
    let states = broker.sluice_ok(&["group", "list", "--state"]);
    assert!(
        rows(&states).contains(&vec![group.clone(), "Empty".to_owned()]),
        "{states}"
    );
}

#[test]
fn describe_shows_committed_offset_log_end_and_lag_per_partition() {
    let broker = TestBroker::start();
    let (topic, group) = topic_and_group(&broker, "2");
    let described = broker.sluice_ok(&["group", "describe", &group]);
    assert!(described.contains("has no active members"), "{described}");
    assert!(
        described.contains("GROUP") && described.contains("CURRENT-OFFSET  LOG-END-OFFSET  LAG"),
        "{described}"
    );
    assert_eq!(
        rows(&described),
        [
            [&group, &topic, "0", "0", "0", "0"],
            [&group, &topic, "1", "0", "0", "0"]
        ],
        "{described}"
    );
}

#[test]
fn describe_state_shows_an_empty_group_without_members() {
    let broker = TestBroker::start();
    let (_, group) = topic_and_group(&broker, "1");
    let described = broker.sluice_ok(&["group", "describe", &group, "--state"]);
    let row = rows(&described).pop().unwrap_or_default();
    assert_eq!(row.first(), Some(&group), "{described}");
    assert_eq!(row[row.len() - 2..], ["Empty", "0"], "{described}");
}

#[test]
fn describing_an_unknown_group_is_one_line_error() {
    let broker = TestBroker::start();
    let group = unique("nobody");
    let output = broker.sluice(&["group", "describe", &group]);
    assert_one_line_error(&output, &format!("consumer group {group} does not exist"));
}

#[test]
fn deleted_group_no_longer_exists() {
    let broker = TestBroker::start();
    let (_, group) = topic_and_group(&broker, "1");
    let deleted = broker.sluice_ok(&["group", "delete", &group]);
    assert_eq!(deleted.trim(), format!("Deleted group {group}."));
    let output = broker.sluice(&["group", "describe", &group]);
    assert_one_line_error(&output, "does not exist");
}

#[test]
fn deleting_an_unknown_group_is_one_line_error() {
    let broker = TestBroker::start();
    let group = unique("nobody");
    let output = broker.sluice(&["group", "delete", &group]);
    assert_one_line_error(&output, "GROUP_ID_NOT_FOUND");
}

#[test]
fn resetting_offsets_of_an_unknown_topic_is_one_line_error() {
    let broker = TestBroker::start();
    let topic = unique("missing");
    let group = unique("reset");
    let output = broker.sluice(&[
        "group",
        "reset-offsets",
        &group,
        "--topic",
        &topic,
        "--to-earliest",
    ]);
    assert_one_line_error(&output, "UNKNOWN_TOPIC_OR_PARTITION");
}

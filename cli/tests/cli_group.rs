//! `sluice group` against a live broker (see `cli_support` for which one).
//! Groups get committed offsets from `reset-offsets --execute`, which works
//! on a group with no members, so most tests need no consumer.

mod cli_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::io::{BufRead, BufReader};

use cli_support::{
    COMMAND_TIMEOUT_MS, TestBroker, assert_one_line_error, sluice_bin, terminate, unique,
    wait_bounded,
};

/// How long a consumer may take to join its group.
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a deleted topic's offsets may take to leave a group.
const DELETED_OFFSETS_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a consumer may take to commit, leave and exit after SIGTERM.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

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
        "--execute",
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

/// Writes `count` records to partition 0 of `topic`.
fn produce_to_partition_zero(broker: &TestBroker, topic: &str, count: usize) {
    let input = "record\n".repeat(count);
    let output = broker.sluice_with_input(&["produce", topic, "--partition", "0"], &input);
    assert!(
        output.status.success(),
        "produce failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The CURRENT-OFFSET column of `group describe`, per partition.
fn committed_per_partition(broker: &TestBroker, group: &str) -> Vec<String> {
    let described = broker.sluice_ok(&["group", "describe", group]);
    rows(&described)
        .into_iter()
        .map(|row| row.get(3).cloned().unwrap_or_default())
        .collect()
}

/// A topic whose partition 0 holds 3 records and a group committed at 0 on
/// both partitions: `--to-latest` would move partition 0 to 3.
fn group_behind_three_records(broker: &TestBroker) -> (String, String) {
    let (topic, group) = topic_and_group(broker, "2");
    produce_to_partition_zero(broker, &topic, 3);
    (topic, group)
}

#[test]
fn reset_offsets_without_execute_prints_the_plan_and_changes_nothing() {
    let broker = TestBroker::start();
    let (topic, group) = group_behind_three_records(&broker);
    let printed = broker.sluice_ok(&[
        "group",
        "reset-offsets",
        &group,
        "--topic",
        &topic,
        "--to-latest",
    ]);
    assert!(printed.contains("nothing was changed"), "{printed}");
    assert!(printed.contains("--execute"), "{printed}");
    assert!(printed.contains("CURRENT-OFFSET  NEW-OFFSET"), "{printed}");
    assert_eq!(
        rows(&printed),
        [
            [&group, &topic, "0", "0", "3"],
            [&group, &topic, "1", "0", "0"]
        ],
        "{printed}"
    );
    assert_eq!(committed_per_partition(&broker, &group), ["0", "0"]);
}

#[test]
fn reset_offsets_dry_run_is_the_plan_spelled_out() {
    let broker = TestBroker::start();
    let (topic, group) = group_behind_three_records(&broker);
    let printed = broker.sluice_ok(&[
        "group",
        "reset-offsets",
        &group,
        "--topic",
        &topic,
        "--to-latest",
        "--dry-run",
    ]);
    assert!(printed.contains("nothing was changed"), "{printed}");
    assert_eq!(committed_per_partition(&broker, &group), ["0", "0"]);
}

#[test]
fn reset_offsets_with_execute_commits_the_new_offsets() {
    let broker = TestBroker::start();
    let (topic, group) = group_behind_three_records(&broker);
    let printed = broker.sluice_ok(&[
        "group",
        "reset-offsets",
        &group,
        "--topic",
        &topic,
        "--to-latest",
        "--execute",
    ]);
    assert!(!printed.contains("nothing was changed"), "{printed}");
    assert_eq!(
        rows(&printed),
        [
            [&group, &topic, "0", "0", "3"],
            [&group, &topic, "1", "0", "0"]
        ],
        "{printed}"
    );
    assert_eq!(committed_per_partition(&broker, &group), ["3", "0"]);
}

#[test]
fn reset_offsets_shift_by_plans_from_the_committed_offset() {
    let broker = TestBroker::start();
    let (topic, group) = group_behind_three_records(&broker);
    broker.sluice_ok(&[
        "group",
        "reset-offsets",
        &group,
        "--all-topics",
        "--to-latest",
        "--execute",
    ]);
    let printed = broker.sluice_ok(&[
        "group",
        "reset-offsets",
        &group,
        "--all-topics",
        "--shift-by",
        "-2",
    ]);
    assert_eq!(
        rows(&printed),
        [
            [&group, &topic, "0", "3", "1"],
            [&group, &topic, "1", "0", "0"]
        ],
        "{printed}"
    );
}

#[test]
fn reset_offsets_by_duration_plans_the_first_offset_written_since_then() {
    let broker = TestBroker::start();
    let (topic, group) = group_behind_three_records(&broker);
    broker.sluice_ok(&[
        "group",
        "reset-offsets",
        &group,
        "--all-topics",
        "--to-latest",
        "--execute",
    ]);
    let printed = broker.sluice_ok(&[
        "group",
        "reset-offsets",
        &group,
        "--topic",
        &topic,
        "--by-duration",
        "PT1H",
    ]);
    assert_eq!(
        rows(&printed),
        [
            [&group, &topic, "0", "3", "0"],
            [&group, &topic, "1", "0", "0"]
        ],
        "{printed}"
    );
}

/// A `sluice consume` child in `group`; killed on drop.
struct GroupMember(Child);

impl GroupMember {
    fn join(broker: &TestBroker, topic: &str, group: &str) -> GroupMember {
        Self::join_printing_to(broker, topic, group, Stdio::null())
    }

    /// As [`GroupMember::join`], with the consumer's stdout going to `stdout`.
    fn join_printing_to(
        broker: &TestBroker,
        topic: &str,
        group: &str,
        stdout: Stdio,
    ) -> GroupMember {
        let child = Command::new(sluice_bin())
            .args(["consume", topic, "--group", group])
            // Ends the consumer even if the test's SIGTERM never comes.
            .args(["--idle-timeout-ms", "60000"])
            .args(["--bootstrap-server", broker.bootstrap()])
            .args(["--timeout-ms", &COMMAND_TIMEOUT_MS.to_string()])
            .env_remove("SLUICE_BOOTSTRAP")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::null())
            .spawn()
            .expect("the sluice binary can be run");
        let member = GroupMember(child);
        let deadline = Instant::now() + JOIN_TIMEOUT;
        loop {
            let state = broker.sluice_ok(&["group", "describe", group, "--state"]);
            if state.contains("Stable") {
                return member;
            }
            assert!(
                Instant::now() < deadline,
                "the consumer never joined: {state}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for GroupMember {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn resetting_offsets_of_a_group_with_members_is_refused() {
    let broker = TestBroker::start();
    let (topic, group) = topic_and_group(&broker, "1");
    let _member = GroupMember::join(&broker, &topic, &group);
    let output = broker.sluice(&[
        "group",
        "reset-offsets",
        &group,
        "--topic",
        &topic,
        "--to-latest",
        "--execute",
    ]);
    assert_one_line_error(
        &output,
        &format!("Assignments can only be reset if the group '{group}' is inactive"),
    );
}

#[test]
fn sigterm_makes_consume_leave_its_group_and_exit_zero() {
    let broker = TestBroker::start();
    let (topic, group) = topic_and_group(&broker, "1");
    let mut member = GroupMember::join(&broker, &topic, &group);
    terminate(&member.0);
    let status = wait_bounded(&mut member.0, EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(0), "{status}");
    let state = broker.sluice_ok(&["group", "describe", &group, "--state"]);
    assert!(state.contains("Empty"), "the group was not left: {state}");
}

#[test]
fn sigterm_commits_the_records_consume_printed() {
    let broker = TestBroker::start();
    let (topic, group) = topic_and_group(&broker, "1");
    produce_to_partition_zero(&broker, &topic, 3);
    let mut member = GroupMember::join_printing_to(&broker, &topic, &group, Stdio::piped());
    let stdout = member.0.stdout.take().expect("stdout was piped");
    let printed: Vec<String> = BufReader::new(stdout)
        .lines()
        .take(3)
        .map(|line| line.expect("consume prints UTF-8 lines"))
        .collect();
    assert_eq!(printed, ["record", "record", "record"]);
    terminate(&member.0);
    let status = wait_bounded(&mut member.0, EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(0), "{status}");
    assert_eq!(committed_per_partition(&broker, &group), ["3"]);
}

#[test]
fn describe_no_longer_lists_a_deleted_topic() {
    let broker = TestBroker::start();
    let (deleted, group) = topic_and_group(&broker, "1");
    let kept = unique("kept-topic");
    broker.sluice_ok(&["topic", "create", &kept, "--partitions", "1"]);
    broker.sluice_ok(&[
        "group",
        "reset-offsets",
        &group,
        "--topic",
        &kept,
        "--to-earliest",
        "--execute",
    ]);
    broker.sluice_ok(&["topic", "delete", &deleted]);
    // Kafka drops the offsets shortly after the deletion, and a describe
    // in between may wait for its ListOffsets of the deleted topic to time
    // out: longer than `sluice_until` waits.
    let deadline = Instant::now() + DELETED_OFFSETS_TIMEOUT;
    let described = loop {
        let described = broker.sluice_ok(&["group", "describe", &group]);
        if !described.contains(&deleted) || Instant::now() >= deadline {
            break described;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let topics: Vec<String> = rows(&described)
        .into_iter()
        .filter_map(|row| row.get(1).cloned())
        .collect();
    assert_eq!(topics, [kept]);
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
        "--execute",
    ]);
    assert_one_line_error(&output, "UNKNOWN_TOPIC_OR_PARTITION");
}

#[test]
fn reset_offsets_refuses_execute_together_with_dry_run() {
    let output = cli_support::run_sluice_raw(&[
        "group",
        "reset-offsets",
        "g",
        "--topic",
        "t",
        "--to-earliest",
        "--execute",
        "--dry-run",
    ]);
    assert_eq!(output.status.code(), Some(2), "clap's usage error status");
    assert!(cli_support::stderr_of(&output).contains("--dry-run"));
}

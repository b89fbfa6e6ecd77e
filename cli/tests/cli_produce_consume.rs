//! `sluice produce` and `sluice consume` against a live broker (see
//! `cli_support` for which one). Every consume is bounded by
//! `--max-messages` and `--idle-timeout-ms`.

mod cli_support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use cli_support::{
    COMMAND_TIMEOUT_MS, TestBroker, assert_one_line_error, sluice_bin, stderr_of, terminate,
    unique, wait_bounded,
};

/// Exit `consume` when nothing arrives for this long (milliseconds).
const IDLE_MS: &str = "3000";

/// A new topic with this many partitions.
fn topic(broker: &TestBroker, partitions: &str) -> String {
    let topic = unique("records");
    broker.sluice_ok(&["topic", "create", &topic, "--partitions", partitions]);
    topic
}

fn produce(broker: &TestBroker, args: &[&str], input: &str) -> String {
    let mut all = vec!["produce"];
    all.extend_from_slice(args);
    let output = broker.sluice_with_input(&all, input);
    assert!(
        output.status.success(),
        "produce failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("sluice prints UTF-8")
}

/// Consumes at most `max` records with `extra` flags and returns the lines.
fn consume(broker: &TestBroker, topic: &str, max: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "consume",
        topic,
        "--max-messages",
        max,
        "--idle-timeout-ms",
        IDLE_MS,
    ];
    args.extend_from_slice(extra);
    broker.sluice_ok(&args).lines().map(str::to_owned).collect()
}

#[test]
fn produced_lines_are_consumed_in_order() {
    let broker = TestBroker::start();
    let topic = topic(&broker, "1");
    produce(&broker, &[&topic], "one\ntwo\nthree\n");
    let lines = consume(
        &broker,
        &topic,
        "3",
        &["--from-beginning", "--format", "{offset}:{value}"],
    );
    assert_eq!(lines, ["0:one", "1:two", "2:three"]);
}

#[test]
fn produce_prints_a_summary_of_records_and_partitions() {
    let broker = TestBroker::start();
    let topic = topic(&broker, "2");
    let summary = produce(&broker, &[&topic, "--partition", "1"], "a\nb\n");
    assert!(
        summary.starts_with(&format!("Produced 2 records (2 bytes) to {topic}")),
        "{summary}"
    );
    assert!(summary.contains("Records per partition: 1: 2"), "{summary}");
}

#[test]
fn key_separator_splits_keys_from_values() {
    let broker = TestBroker::start();
    let topic = topic(&broker, "1");
    produce(
        &broker,
        &[&topic, "--key-separator", "::"],
        "user-1::login\nuser-2::a::b\n",
    );
    let lines = consume(
        &broker,
        &topic,
        "2",
        &["--from-beginning", "--format", "{key}={value}"],
    );
    assert_eq!(lines, ["user-1=login", "user-2=a::b"]);
}

#[test]
fn headers_are_attached_to_every_record() {
    let broker = TestBroker::start();
    let topic = topic(&broker, "1");
    produce(
        &broker,
        &[&topic, "--header", "source=test", "--header", "run=1"],
        "x\ny\n",
    );
    let lines = consume(
        &broker,
        &topic,
        "2",
        &["--from-beginning", "--format", "{headers}"],
    );
    assert_eq!(lines, ["source=test,run=1", "source=test,run=1"]);
}

#[test]
fn file_input_and_producer_settings_deliver_every_line() {
    let broker = TestBroker::start();
    let topic = topic(&broker, "3");
    let dir = tempfile::tempdir().expect("a temporary directory can be created");
    let path = dir.path().join("lines.txt");
    let text: String = (0..500).map(|i| format!("line-{i}\n")).collect();
    std::fs::write(&path, text).expect("the temporary file is writable");
    let path = path.to_str().expect("temporary paths are UTF-8");
    produce(
        &broker,
        &[
            &topic,
            "--file",
            path,
            "--acks",
            "1",
            "--compression",
            "zstd",
            "--linger-ms",
            "20",
            "--batch-size",
            "1024",
        ],
        "",
    );
    let mut lines = consume(&broker, &topic, "500", &["--from-beginning"]);
    lines.sort_by_key(|line| line[5..].parse::<u32>().unwrap_or(u32::MAX));
    let expected: Vec<String> = (0..500).map(|i| format!("line-{i}")).collect();
    assert_eq!(lines, expected);
}

#[test]
fn json_format_prints_one_object_per_record() {
    let broker = TestBroker::start();
    let topic = topic(&broker, "1");
    produce(&broker, &[&topic, "-K", ":", "-H", "h=v"], "k:v\n");
    let lines = consume(
        &broker,
        &topic,
        "1",
        &["--from-beginning", "--format", "json"],
    );
    assert_eq!(lines.len(), 1);
    let line = &lines[0];
    for field in [
        format!("\"topic\":\"{topic}\""),
        "\"partition\":0".to_owned(),
        "\"offset\":0".to_owned(),
        "\"key\":\"k\"".to_owned(),
        "\"value\":\"v\"".to_owned(),
        "\"headers\":[{\"key\":\"h\",\"value\":\"v\"}]".to_owned(),
        "\"timestamp\":".to_owned(),
    ] {
        assert!(line.contains(&field), "{field} missing in {line}");
    }
}

#[test]
fn partition_and_offset_choose_where_reading_starts() {
    let broker = TestBroker::start();
    let topic = topic(&broker, "2");
    produce(&broker, &[&topic, "--partition", "1"], "a\nb\nc\nd\n");
    let lines = consume(
        &broker,
        &topic,
        "10",
        &[
            "--partition",
            "1",
            "--offset",
            "2",
            "--format",
            "{partition}/{offset}",
        ],
    );
    assert_eq!(lines, ["1/2", "1/3"]);
}

#[test]
fn max_messages_stops_after_that_many_records() {
    let broker = TestBroker::start();
    let topic = topic(&broker, "1");
    produce(&broker, &[&topic], "1\n2\n3\n4\n5\n");
    let lines = consume(&broker, &topic, "2", &["--from-beginning"]);
    assert_eq!(lines, ["1", "2"]);
}

#[test]
fn group_consumption_commits_only_printed_records() {
    let broker = TestBroker::start();
    let topic = topic(&broker, "1");
    let group = unique("readers");
    produce(&broker, &[&topic], "1\n2\n3\n4\n5\n");
    let first = consume(
        &broker,
        &topic,
        "2",
        &["--group", &group, "--from-beginning"],
    );
    assert_eq!(first, ["1", "2"]);
    let described = broker.sluice_ok(&["group", "describe", &group]);
    let row: Vec<&str> = described
        .lines()
        .find(|line| line.starts_with(&group))
        .map(|line| line.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(row[3..], ["2", "5", "3"], "{described}");
    let rest = consume(&broker, &topic, "10", &["--group", &group]);
    assert_eq!(rest, ["3", "4", "5"]);
}

/// A Sluice broker with its defaults, `auto.create.topics.enable` on
/// among them, whatever the environment asks for: `scripts/kafka.sh`
/// turns auto-creation off on Kafka, as the compat suite expects.
fn broker_with_default_auto_creation() -> TestBroker {
    TestBroker::start_sluice_with_config("")
}

#[test]
fn producing_to_a_new_topic_creates_it() {
    let broker = broker_with_default_auto_creation();
    let topic = unique("created-by-produce");
    produce(&broker, &[&topic], "first\n");
    assert_eq!(
        consume(&broker, &topic, "1", &["--from-beginning"]),
        ["first"]
    );
}

#[test]
fn line_without_the_key_separator_is_one_line_error() {
    let broker = TestBroker::start();
    let topic = topic(&broker, "1");
    let output =
        broker.sluice_with_input(&["produce", &topic, "--key-separator", ":"], "novalue\n");
    assert_one_line_error(&output, "line 1 has no key separator");
}

#[test]
fn consuming_a_new_topic_creates_it() {
    let broker = broker_with_default_auto_creation();
    let topic = unique("created-by-consume");
    let output = broker.sluice(&["consume", &topic, "--idle-timeout-ms", "500"]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let listed = broker.sluice_until(&["topic", "list"], |list| list.contains(&topic));
    assert!(listed.lines().any(|line| line == topic), "{listed}");
}

#[test]
fn sigterm_ends_produce_input_and_still_sends_what_was_read() {
    let broker = TestBroker::start();
    let topic = topic(&broker, "1");
    let mut producer = Command::new(sluice_bin())
        .args(["produce", &topic, "--bootstrap-server", broker.bootstrap()])
        .args(["--timeout-ms", &COMMAND_TIMEOUT_MS.to_string()])
        .env_remove("SLUICE_BOOTSTRAP")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the sluice binary can be run");
    // The input stays open: only the signal can end it.
    let mut input = producer.stdin.take().expect("stdin was piped");
    input
        .write_all(b"one\ntwo\n")
        .expect("produce reads its stdin");
    input.flush().expect("produce reads its stdin");
    assert_eq!(
        consume(&broker, &topic, "2", &["--from-beginning"]),
        ["one", "two"]
    );
    terminate(&producer);
    let status = wait_bounded(&mut producer, Duration::from_secs(30));
    drop(input);
    let output = producer
        .wait_with_output()
        .expect("produce's output can be read");
    assert_eq!(status.code(), Some(0), "{}", stderr_of(&output));
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(summary.starts_with("Produced 2 records"), "{summary}");
}

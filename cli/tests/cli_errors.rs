//! Error paths: an unreachable address, bad flags, help, and the exact text
//! of the errors a newcomer meets first (each cause stated once).

mod cli_support;

use std::process::{Command, Stdio};

use cli_support::{
    TestBroker, assert_one_line_error, free_port, run_sluice, run_sluice_raw, sluice_bin, unique,
};

/// clap's exit status for a usage error.
const USAGE_ERROR: i32 = 2;

#[test]
fn unreachable_broker_is_one_line_error_and_failure_status() {
    let address = format!("127.0.0.1:{}", free_port());
    for args in [
        &["topic", "list"][..],
        &["group", "list"],
        &["produce", "events"],
        &["consume", "events"],
    ] {
        let output = run_sluice(args, &address);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let line = assert_one_line_error(&output, &address);
        assert!(
            line.starts_with("error: cannot reach the cluster"),
            "{line}"
        );
    }
}

#[test]
fn bootstrap_server_comes_from_the_environment() {
    let address = format!("127.0.0.1:{}", free_port());
    let output = Command::new(sluice_bin())
        .args(["topic", "list", "--timeout-ms", "5000"])
        .env("SLUICE_BOOTSTRAP", &address)
        .stdin(Stdio::null())
        .output()
        .expect("the sluice binary can be run");
    assert_one_line_error(&output, &address);
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let output = run_sluice_raw(&["topic", "list", "--no-such-flag"]);
    assert_eq!(output.status.code(), Some(USAGE_ERROR));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--no-such-flag"));
}

#[test]
fn malformed_config_flag_is_a_usage_error() {
    let output = run_sluice_raw(&["topic", "create", "t", "--config", "retention.ms"]);
    assert_eq!(output.status.code(), Some(USAGE_ERROR));
    assert!(String::from_utf8_lossy(&output.stderr).contains("NAME=VALUE"));
}

#[test]
fn reset_offsets_needs_exactly_one_target() {
    let both = run_sluice_raw(&[
        "group",
        "reset-offsets",
        "g",
        "--topic",
        "t",
        "--to-earliest",
        "--to-latest",
    ]);
    assert_eq!(both.status.code(), Some(USAGE_ERROR));
    let none = run_sluice_raw(&["group", "reset-offsets", "g", "--topic", "t"]);
    assert_eq!(none.status.code(), Some(USAGE_ERROR));
}

#[test]
fn every_client_command_has_help_with_examples() {
    for command in [
        vec!["topic"],
        vec!["topic", "create"],
        vec!["topic", "list"],
        vec!["topic", "describe"],
        vec!["topic", "alter"],
        vec!["topic", "delete"],
        vec!["group"],
        vec!["group", "list"],
        vec!["group", "describe"],
        vec!["group", "reset-offsets"],
        vec!["group", "delete"],
        vec!["produce"],
        vec!["consume"],
    ] {
        let mut args = command.clone();
        args.push("--help");
        let output = run_sluice_raw(&args);
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{command:?}");
        assert!(
            help.contains("Examples:"),
            "{command:?} help has no examples"
        );
        assert!(help.contains("--bootstrap-server"), "{command:?}");
    }
}

#[test]
fn broker_and_bench_help_end_with_examples() {
    for command in [
        vec!["broker"],
        vec!["bench"],
        vec!["bench", "produce"],
        vec!["bench", "consume"],
        vec!["bench", "e2e"],
        vec!["bench", "all"],
    ] {
        let mut args = command.clone();
        args.push("--help");
        let output = run_sluice_raw(&args);
        assert!(output.status.success(), "{command:?}");
        let help = String::from_utf8_lossy(&output.stdout);
        let examples = help
            .split("Examples:")
            .nth(1)
            .unwrap_or_else(|| panic!("{command:?} help has no examples"));
        let expected_prefix = format!("sluice {}", command[0]);
        assert!(
            examples
                .lines()
                .filter(|line| !line.trim().is_empty())
                .all(|line| line.contains(&expected_prefix)),
            "{command:?}: {examples}"
        );
    }
}

/// The `error: ...` line a failed command printed on stderr.
fn error_line(output: &std::process::Output) -> String {
    assert!(!output.status.success(), "expected failure");
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .find(|line| line.starts_with("error: "))
        .unwrap_or_default()
        .to_owned()
}

/// Runs `sluice broker` with these flags; it must fail at startup.
fn broker_failing_to_start(listen: &str, data_dir: &std::path::Path) -> std::process::Output {
    Command::new(sluice_bin())
        .args(["broker", "--listen", listen, "--data-dir"])
        .arg(data_dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("the sluice binary can be run")
}

#[test]
fn port_in_use_is_stated_once() {
    let running = TestBroker::start_sluice_with_config("");
    let scratch = tempfile::tempdir().expect("a temporary directory can be created");
    let output = broker_failing_to_start(running.bootstrap(), &scratch.path().join("data"));
    assert_eq!(
        error_line(&output),
        format!(
            "error: cannot listen on {}: Address already in use (os error 98)",
            running.bootstrap()
        )
    );
}

#[test]
fn locked_data_directory_is_stated_once() {
    let running = TestBroker::start_sluice_with_config("");
    let data_dir = running.data_dir().expect("the fixture started this broker");
    let listen = format!("127.0.0.1:{}", free_port());
    let output = broker_failing_to_start(&listen, &data_dir);
    assert_eq!(
        error_line(&output),
        format!(
            "error: data directory {} is locked by another process",
            data_dir.display()
        )
    );
}

#[test]
fn unknown_topic_without_auto_creation_says_how_to_create_it() {
    let broker = TestBroker::start_sluice_with_config("auto_create_topics_enable = false\n");
    let topic = unique("missing");
    let expected = format!(
        "error: topic {topic} does not exist and the broker does not create topics on use \
         (auto.create.topics.enable=false); create it with `sluice topic create {topic}`"
    );
    let consumed = broker.sluice(&["consume", &topic, "--max-messages", "1"]);
    assert_eq!(assert_one_line_error(&consumed, &topic), expected);
    let produced = broker.sluice_with_input(&["produce", &topic], "x\n");
    assert_eq!(assert_one_line_error(&produced, &topic), expected);
}

#[test]
fn deleting_an_unknown_topic_names_the_code_once() {
    let broker = TestBroker::start_sluice_with_config("");
    let topic = unique("missing");
    let output = broker.sluice(&["topic", "delete", &topic]);
    assert_eq!(
        assert_one_line_error(&output, &topic),
        format!("error: cannot delete topic {topic}: UNKNOWN_TOPIC_OR_PARTITION (3)")
    );
}

//! Error paths that need no broker: an unreachable address, bad flags, help.

mod cli_support;

use std::process::{Command, Stdio};

use cli_support::{assert_one_line_error, free_port, run_sluice, run_sluice_raw, sluice_bin};

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

//! `sluice bench` as a command: each mode against the CLI tests' broker
//! (`cli_support::TestBroker`) prints a JSON summary that accounts for every
//! record; every wait is bounded.

mod cli_support;

use std::process::{Command, Stdio};

use cli_support::TestBroker;
use serde_json::Value;

/// Records each run sends or reads.
const RECORDS: &str = "300";

/// Runs `sluice bench ARGS --json` (bounded by `--duration`) against
/// `broker` and parses stdout.
fn bench_json(broker: &TestBroker, args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("bench")
        .args(args)
        .args([
            "--bootstrap-server",
            broker.bootstrap(),
            "--duration",
            "60s",
        ])
        .args(["--timeout-ms", "20000", "--json"])
        .env_remove("SLUICE_BOOTSTRAP")
        .stdin(Stdio::null())
        .output()
        .expect("sluice bench can be run");
    assert!(
        output.status.success(),
        "sluice bench {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("--json prints one JSON summary")
}

#[test]
fn produce_consume_and_e2e_summaries_account_for_every_record() {
    let broker = TestBroker::start();
    let produce = [
        "produce",
        "--topic",
        "cli-bench",
        "--partitions",
        "2",
        "--records",
        RECORDS,
    ];
    let produced = bench_json(&broker, &[&produce[..], &["--acks", "1"]].concat());
    assert_eq!(produced["records"], 300);
    assert_eq!(produced["errors"], 0);
    assert_eq!(produced["settings"]["acks"], "1");

    let consumed = bench_json(
        &broker,
        &["consume", "--topic", "cli-bench", "--records", RECORDS],
    );
    assert_eq!(consumed["records"], 300);

    let e2e = [
        "e2e",
        "--topic",
        "cli-bench-e2e",
        "--records",
        RECORDS,
        "--throughput",
        "1000",
    ];
    let end_to_end = bench_json(&broker, &e2e);
    assert_eq!(end_to_end["records"], 300);
    assert_eq!(end_to_end["latency"]["count"], 300);
}

#[test]
fn report_flag_writes_an_html_page_with_plots_and_no_scripts() {
    let broker = TestBroker::start();
    let dir = tempfile::tempdir().expect("a temporary directory can be created");
    let path = dir.path().join("report.html");
    let path_text = path.to_str().expect("temporary paths are UTF-8");
    bench_json(
        &broker,
        &[
            "produce",
            "--topic",
            "cli-report",
            "--records",
            RECORDS,
            "--report",
            path_text,
        ],
    );
    let report = std::fs::read_to_string(&path).expect("the report was written");
    assert!(report.contains("<svg"));
    assert!(report.contains("Throughput over time"));
    assert!(!report.contains("<script"));
}

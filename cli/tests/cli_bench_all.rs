//! `sluice bench all --no-kafka` as a command, with tiny runs: the suite
//! starts its own broker (or measures one given with --bootstrap-server)
//! and its JSON has every standard workload with records. Figures are
//! never asserted; every process is bounded and killed by its own pid.

mod cli_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::TestBroker;
use serde_json::Value;

/// Every workload key the suite must report.
const WORKLOADS: [&str; 9] = [
    "produce-100b-acks1",
    "produce-100b-acksall",
    "produce-100b-3producers",
    "produce-1kib",
    "produce-zstd",
    "produce-lz4",
    "consume",
    "e2e-10pct",
    "e2e-50pct",
];
/// Upper bound on one suite run with 300 ms workloads.
const SUITE_BOUND: Duration = Duration::from_secs(240);

/// A child process killed (by its pid) when the test ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `sluice bench all --no-kafka` with tiny runs plus `extra`, and
/// parses the JSON it wrote.
fn bench_all(extra: &[&str]) -> Value {
    let dir = tempfile::tempdir().expect("a temporary directory can be created");
    let json = dir.path().join("suite.json");
    let markdown = dir.path().join("suite.md");
    let stderr_path = dir.path().join("stderr.log");
    let stderr_file = std::fs::File::create(&stderr_path).expect("a log file can be created");
    let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["bench", "all", "--no-kafka", "--duration-per-run", "300ms"])
        .args(["--page-cache-mib", "4", "--iperf-duration", "1s"])
        .args(["--timeout-ms", "20000", "--json"])
        .arg(&json)
        .arg("--markdown")
        .arg(&markdown)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr_file)
        .spawn()
        .expect("sluice bench all can be spawned");
    let mut child = Killed(child);
    let deadline = Instant::now() + SUITE_BOUND;
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("the child can be polled") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the suite did not end within {SUITE_BOUND:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(status.success(), "sluice bench all failed: {stderr}");
    assert_markdown_has_a_row_per_workload(&markdown);
    let text = std::fs::read_to_string(&json).expect("the suite wrote its JSON");
    serde_json::from_str(&text).expect("the suite's JSON parses")
}

fn assert_markdown_has_a_row_per_workload(path: &Path) {
    let markdown = std::fs::read_to_string(path).expect("the suite wrote its Markdown");
    assert!(markdown.starts_with("| workload |"));
    assert!(markdown.contains("| produce 1 KiB, 1 producer, acks=1, batch.size 256 KiB |"));
}

/// Checks the first broker ran every workload and each counted records.
fn assert_every_workload_has_records(results: &Value) -> &Value {
    let broker = &results["brokers"][0];
    assert_eq!(broker["error"], Value::Null, "{broker}");
    let workloads = broker["workloads"].as_array().expect("a workload list");
    for key in WORKLOADS {
        let found = workloads
            .iter()
            .find(|w| w["workload"] == key)
            .unwrap_or_else(|| panic!("no {key} in {workloads:?}"));
        let records = found["summary"]["records"].as_u64().unwrap_or(0);
        assert!(records > 0, "{key} has no records: {found}");
    }
    broker
}

#[test]
fn suite_without_kafka_runs_every_workload_on_its_own_broker() {
    let results = bench_all(&[]);
    let broker = assert_every_workload_has_records(&results);
    assert_eq!(broker["name"], "sluice");
    assert_eq!(broker["started_by_suite"], true);
    assert!(
        broker["rss"]["samples"].as_u64().unwrap_or(0) > 0,
        "{broker}"
    );
    assert_eq!(results["brokers"].as_array().map(Vec::len), Some(1));
    let page_cache = &results["limits"]["page_cache_write"];
    assert!(page_cache["mb_per_sec"].as_f64().is_some(), "{page_cache}");
    let tcp = &results["limits"]["loopback_tcp"];
    let measured = tcp["mb_per_sec"].as_f64().is_some();
    let said_why = tcp["note"]
        .as_str()
        .is_some_and(|n| n.starts_with("not measured"));
    assert!(measured || said_why, "{tcp}");
    assert!(!results["targets"].as_array().is_none_or(Vec::is_empty));
}

#[test]
fn suite_measures_a_broker_given_with_bootstrap_server_by_its_name() {
    let broker = TestBroker::start();
    let address = broker.bootstrap();
    let results = bench_all(&["--bootstrap-server", &format!("mine={address}")]);
    let measured = assert_every_workload_has_records(&results);
    assert_eq!(measured["name"], "mine");
    assert_eq!(measured["started_by_suite"], false);
    assert_eq!(measured["rss"], Value::Null);
}

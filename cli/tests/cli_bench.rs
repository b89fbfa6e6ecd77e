//! `sluice bench` as a command: each mode against a `sluice broker` child
//! process prints a JSON summary that accounts for every record. The broker
//! is killed by its own pid when the test ends; every wait is bounded.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Records each run sends or reads.
const RECORDS: &str = "300";
/// How long the broker may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A `sluice broker` on a free port with a temporary data directory.
struct Broker {
    child: Child,
    bootstrap: String,
    _data: tempfile::TempDir,
}

impl Broker {
    fn start() -> Broker {
        let data = tempfile::tempdir().expect("a temporary directory can be created");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("loopback can bind an ephemeral port")
            .port();
        let bootstrap = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["broker", "--listen", &bootstrap, "--data-dir"])
            .arg(data.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sluice broker can be spawned");
        let broker = Broker {
            child,
            bootstrap,
            _data: data,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(&broker.bootstrap).is_err() {
            assert!(Instant::now() < deadline, "the broker did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        broker
    }

    /// Runs `sluice bench ARGS --json` (bounded by `--duration`) and parses stdout.
    fn bench_json(&self, args: &[&str]) -> Value {
        let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("bench")
            .args(args)
            .args(["--bootstrap-server", &self.bootstrap, "--duration", "60s"])
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
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn produce_consume_and_e2e_summaries_account_for_every_record() {
    let broker = Broker::start();
    let produce = [
        "produce",
        "--topic",
        "cli-bench",
        "--partitions",
        "2",
        "--records",
        RECORDS,
    ];
    let produced = broker.bench_json(&[&produce[..], &["--acks", "1"]].concat());
    assert_eq!(produced["records"], 300);
    assert_eq!(produced["errors"], 0);
    assert_eq!(produced["settings"]["acks"], "1");

    let consumed = broker.bench_json(&["consume", "--topic", "cli-bench", "--records", RECORDS]);
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
    let end_to_end = broker.bench_json(&e2e);
    assert_eq!(end_to_end["records"], 300);
    assert_eq!(end_to_end["latency"]["count"], 300);
}

#[test]
fn report_flag_writes_an_html_page_with_plots_and_no_scripts() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().expect("a temporary directory can be created");
    let path = dir.path().join("report.html");
    let path_text = path.to_str().expect("temporary paths are UTF-8");
    broker.bench_json(&[
        "produce",
        "--topic",
        "cli-report",
        "--records",
        RECORDS,
        "--report",
        path_text,
    ]);
    let report = std::fs::read_to_string(&path).expect("the report was written");
    assert!(report.contains("<svg"));
    assert!(report.contains("Throughput over time"));
    assert!(!report.contains("<script"));
}

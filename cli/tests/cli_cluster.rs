//! Combined mode as processes: three `sluice broker` voters on loopback form
//! the controller quorum, name one active controller on every node, elect a
//! new one when the leader is killed (-9) and commit again, take the killed
//! node back (its log catches up), and re-form with every committed offset
//! after a SIGTERM of all three. Also every refused cluster setting, with
//! its one-line error, and `sluice cluster status` on a single node.
//!
//! Every wait is bounded; every child is killed by its PID when the test
//! ends, however it ends. Timings are printed, never asserted.
// The figures (formation and failover times) are printed for the README.
#![allow(clippy::print_stdout)]

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::{
    TestBroker, assert_one_line_error, free_port, run_sluice, run_sluice_raw, sluice_bin,
    terminate, wait_bounded,
};

/// Bound on each wait for the quorum (election, catch-up, restart).
const QUORUM_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on a SIGTERMed node's exit.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- refusals

fn broker_refuses(args: &[&str], needle: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut all = vec!["broker", "--listen", &listen, "--data-dir"];
    let data_text = data.to_string_lossy().into_owned();
    all.push(&data_text);
    all.extend_from_slice(args);
    let output = run_sluice_raw(&all);
    let line = assert_one_line_error(&output, needle);
    assert!(
        !data.join("__cluster_metadata").exists(),
        "a refused node starts no quorum"
    );
    line
}

const VOTERS: &str = "1@127.0.0.1:19093,2@127.0.0.1:29093,3@127.0.0.1:39093";

#[test]
fn voter_list_that_does_not_parse_is_refused() {
    let line = broker_refuses(
        &[
            "--node-id",
            "1",
            "--controller-listen",
            "127.0.0.1:0",
            "--controller-quorum-voters",
            "1@127.0.0.1:19093,2-127.0.0.1:29093",
        ],
        "invalid controller quorum voters",
    );
    assert!(line.contains("\"2-127.0.0.1:29093\" has no '@'"), "{line}");
}

#[test]
fn duplicate_voter_ids_are_refused() {
    broker_refuses(
        &[
            "--node-id",
            "1",
            "--controller-listen",
            "127.0.0.1:0",
            "--controller-quorum-voters",
            "1@127.0.0.1:19093,1@127.0.0.1:29093",
        ],
        "node id 1 appears more than once",
    );
}

#[test]
fn controller_listener_on_a_node_outside_the_voters_is_refused() {
    broker_refuses(
        &[
            "--node-id",
            "4",
            "--controller-listen",
            "127.0.0.1:0",
            "--controller-quorum-voters",
            VOTERS,
        ],
        "node 4 has a controller listener (127.0.0.1:0) but is not among the controller quorum voters [1, 2, 3]",
    );
    broker_refuses(
        &["--controller-listen", "127.0.0.1:0"],
        "but is not among the controller quorum voters []",
    );
}

#[test]
fn voter_without_a_controller_listener_is_refused() {
    broker_refuses(
        &["--node-id", "2", "--controller-quorum-voters", VOTERS],
        "node 2 is a controller quorum voter but has no controller listener",
    );
}

#[test]
fn broker_only_node_is_refused() {
    broker_refuses(
        &["--node-id", "4", "--controller-quorum-voters", VOTERS],
        "broker-only nodes are not supported yet: node 4 is not among the controller quorum voters [1, 2, 3]",
    );
}

#[test]
fn node_id_that_disagrees_with_the_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("cluster.properties"),
        "version=1\ncluster.id=AAAAAAAAAAAAAAAAAAAAAA\nnode.id=1\n",
    )
    .unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let controller = format!("127.0.0.1:{}", free_port());
    let voters = format!("2@{controller}");
    let output = run_sluice_raw(&[
        "broker",
        "--listen",
        &listen,
        "--data-dir",
        &data.to_string_lossy(),
        "--node-id",
        "2",
        "--controller-listen",
        &controller,
        "--controller-quorum-voters",
        &voters,
    ]);
    assert_one_line_error(&output, "belongs to node 1, but this broker is node 2");
    assert!(!data.join("__cluster_metadata").exists());
}

#[test]
fn cluster_status_on_a_single_node_says_it_runs_no_quorum() {
    let broker = TestBroker::start_sluice_with_config("");
    let output = run_sluice(&["cluster", "status"], broker.bootstrap());
    assert_one_line_error(&output, "runs no controller quorum");
}

// ------------------------------------------------------------ three voters

/// One `sluice broker` voter process; killed by PID on drop.
struct Node {
    id: u32,
    client: String,
    controller: String,
    data: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn start(&mut self, voters: &str) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data.with_extension("log"))
            .unwrap();
        let child = Command::new(sluice_bin())
            .args(["broker", "--node-id", &self.id.to_string()])
            .args(["--listen", &self.client])
            .args(["--controller-listen", &self.controller])
            .args(["--controller-quorum-voters", voters])
            .arg("--data-dir")
            .arg(&self.data)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn sluice broker");
        self.child = Some(child);
    }

    fn kill_9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&child);
            let status = wait_bounded(&mut child, EXIT_TIMEOUT);
            assert!(status.success(), "node {} exited with {status}", self.id);
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `sluice cluster status --json` against `client`, if it answers.
fn status(client: &str) -> Option<serde_json::Value> {
    let output = run_sluice(&["cluster", "status", "--json"], client);
    if !output.status.success() {
        return None;
    }
    serde_json::from_slice(&output.stdout).ok()
}

fn leader_of(status: &serde_json::Value) -> Option<i64> {
    status["leader_id"].as_i64()
}

fn high_watermark(status: &serde_json::Value) -> i64 {
    status["high_watermark"].as_i64().unwrap_or(-1)
}

/// Polls until `done` returns a value, at most [`QUORUM_TIMEOUT`].
fn eventually<T>(what: &str, logs: &Path, mut done: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + QUORUM_TIMEOUT;
    loop {
        if let Some(value) = done() {
            return value;
        }
        if Instant::now() >= deadline {
            let mut tails = String::new();
            for entry in std::fs::read_dir(logs).unwrap().flatten() {
                if entry.path().extension().is_some_and(|e| e == "log") {
                    let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                    let tail: Vec<_> = text.lines().rev().take(15).collect();
                    tails.push_str(&format!("\n--- {:?}\n", entry.path()));
                    for line in tail.into_iter().rev() {
                        tails.push_str(line);
                        tails.push('\n');
                    }
                }
            }
            panic!("timed out waiting for {what}{tails}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until every node in `nodes` answers and names the same leader
/// among `candidates`; returns it and the lowest high watermark reported.
fn agreed_leader(nodes: &[&Node], candidates: &[u32], logs: &Path) -> (i64, i64) {
    eventually("an agreed leader", logs, || {
        let statuses: Option<Vec<_>> = nodes.iter().map(|n| status(&n.client)).collect();
        let statuses = statuses?;
        let leader = leader_of(statuses.first()?)?;
        let agreed = statuses.iter().all(|s| leader_of(s) == Some(leader))
            && candidates.iter().any(|c| i64::from(*c) == leader);
        let low = statuses.iter().map(high_watermark).min()?;
        agreed.then_some((leader, low))
    })
}

#[test]
fn three_voters_elect_fail_over_rejoin_and_restart_with_their_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes: Vec<Node> = (1..=3)
        .map(|id| Node {
            id,
            client: format!("127.0.0.1:{}", free_port()),
            controller: format!("127.0.0.1:{}", free_port()),
            data: dir.path().join(format!("node{id}")),
            child: None,
        })
        .collect();
    let voters = nodes
        .iter()
        .map(|n| format!("{}@{}", n.id, n.controller))
        .collect::<Vec<_>>()
        .join(",");
    let logs = dir.path().to_owned();

    // Form the quorum.
    let started = Instant::now();
    for node in &mut nodes {
        node.start(&voters);
    }
    let all: Vec<&Node> = nodes.iter().collect();
    let (leader, formed_at) = agreed_leader(&all, &[1, 2, 3], &logs);
    println!(
        "quorum formed: leader {leader} after {:?} (3 processes started at once)",
        started.elapsed()
    );
    assert!(formed_at >= 1, "the first membership is committed");

    // Kill -9 the leader: the other two elect a new one, which commits.
    let old = usize::try_from(leader - 1).unwrap();
    nodes[old].kill_9();
    let killed = Instant::now();
    let survivors: Vec<&Node> = nodes.iter().filter(|n| n.child.is_some()).collect();
    let candidates: Vec<u32> = survivors.iter().map(|n| n.id).collect();
    let (new_leader, _) = agreed_leader(&survivors, &candidates, &logs);
    let failover = killed.elapsed();
    let committed = eventually("a commit by the new leader", &logs, || {
        let hw = high_watermark(&status(&survivors[0].client)?);
        (hw > formed_at).then_some(hw)
    });
    println!(
        "failover: node {new_leader} leads {failover:?} after kill -9 of node {leader}; \
         high watermark {formed_at} -> {committed}"
    );
    assert_ne!(new_leader, leader);

    // The killed node rejoins from its data dir and catches up.
    nodes[old].start(&voters);
    let leader_client = nodes[usize::try_from(new_leader - 1).unwrap()]
        .client
        .clone();
    eventually("the restarted node to catch up", &logs, || {
        let status = status(&leader_client)?;
        let voter = status["voters"]
            .as_array()?
            .iter()
            .find(|v| v["node_id"].as_i64() == Some(leader))?
            .clone();
        (voter["lag"].as_i64() == Some(0) && voter["log_end_offset"].as_i64() >= Some(committed))
            .then_some(())
    });
    let all: Vec<&Node> = nodes.iter().collect();
    let (_, before_restart) = agreed_leader(&all, &[1, 2, 3], &logs);

    // SIGTERM all three, start them again: same committed offset or more.
    for node in &mut nodes {
        node.stop();
    }
    let restarted = Instant::now();
    for node in &mut nodes {
        node.start(&voters);
    }
    let all: Vec<&Node> = nodes.iter().collect();
    let (leader, after) = agreed_leader(&all, &[1, 2, 3], &logs);
    println!(
        "restart: node {leader} leads after {:?}; high watermark {before_restart} -> {after}",
        restarted.elapsed()
    );
    assert!(after >= before_restart, "{after} < {before_restart}");
    for node in &mut nodes {
        node.stop();
    }
}

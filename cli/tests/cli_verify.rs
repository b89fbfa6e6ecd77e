//! `sluice verify` against a live broker (see `cli_support` for which one):
//! a short run passes and its saved history re-checks to the same verdict;
//! a history with a planted loss fails `--check` and names it.

mod cli_support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use cli_support::{
    COMMAND_TIMEOUT_MS, TestBroker, sluice_bin, stderr_of, terminate, unique, wait_bounded,
};

/// Bound on one `sluice verify` run: its duration, the drain and the final
/// read, with room for a slow machine.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);
/// Bound on re-checking a saved history.
const CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `sluice verify ARGS...` with stdout and stderr captured, bounded.
fn verify(args: &[&str], timeout: Duration) -> Output {
    let dir = tempfile::tempdir().expect("a temporary directory can be created");
    let (stdout_path, stderr_path) = (dir.path().join("out"), dir.path().join("err"));
    let file = |path: &Path| std::fs::File::create(path).expect("the temp dir is writable");
    let mut child = Command::new(sluice_bin())
        .arg("verify")
        .args(args)
        .env_remove("SLUICE_BOOTSTRAP")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(file(&stdout_path))
        .stderr(file(&stderr_path))
        .spawn()
        .expect("the sluice binary can be run");
    let status = wait_bounded(&mut child, timeout);
    Output {
        status,
        stdout: std::fs::read(&stdout_path).unwrap_or_default(),
        stderr: std::fs::read(&stderr_path).unwrap_or_default(),
    }
}

/// A short verify run against `broker` writing its history to `history`.
fn run_against(broker: &TestBroker, history: &Path, duration: &str) -> Output {
    let topic = unique("verify");
    let timeout_ms = COMMAND_TIMEOUT_MS.to_string();
    verify(
        &[
            "--bootstrap-server",
            broker.bootstrap(),
            "--timeout-ms",
            &timeout_ms,
            "--topic",
            &topic,
            "--duration",
            duration,
            "--rate",
            "100",
            "--history",
            history.to_str().expect("temp paths are UTF-8"),
            "--json",
        ],
        RUN_TIMEOUT,
    )
}

fn check(history: &Path) -> Output {
    verify(
        &[
            "--check",
            history.to_str().expect("temp paths are UTF-8"),
            "--json",
        ],
        CHECK_TIMEOUT,
    )
}

fn verdict_of(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "stdout is not a JSON verdict ({error}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            stderr_of(output)
        )
    })
}

fn count(verdict: &serde_json::Value, field: &str) -> u64 {
    verdict[field].as_u64().unwrap_or(0)
}

#[test]
fn verify_run_passes_and_its_history_rechecks_to_the_same_verdict() {
    let broker = TestBroker::start();
    let dir = tempfile::tempdir().expect("a temporary directory can be created");
    let history = dir.path().join("history.jsonl");
    let run = run_against(&broker, &history, "5s");
    assert_eq!(
        run.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&run.stdout),
        stderr_of(&run)
    );
    let verdict = verdict_of(&run);
    assert_eq!(verdict["clean"], true, "{verdict:#}");
    assert!(count(&verdict, "acknowledged") > 0, "{verdict:#}");
    assert_eq!(
        count(&verdict, "final_reads"),
        count(&verdict, "acknowledged"),
        "{verdict:#}"
    );
    assert!(
        count(&verdict, "consumed") >= count(&verdict, "acknowledged"),
        "the drain waits until the group read every acknowledged record: {verdict:#}"
    );
    assert!(
        count(&verdict, "assignments") > u64::from(2u8),
        "members left and joined: {verdict:#}"
    );

    let recheck = check(&history);
    assert_eq!(
        recheck.status.code(),
        Some(0),
        "stderr: {}",
        stderr_of(&recheck)
    );
    assert_eq!(verdict_of(&recheck), verdict);
}

#[test]
fn history_with_a_planted_loss_fails_the_check_and_names_it() {
    let broker = TestBroker::start();
    let dir = tempfile::tempdir().expect("a temporary directory can be created");
    let history = dir.path().join("history.jsonl");
    let run = run_against(&broker, &history, "2s");
    assert_eq!(
        run.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&run.stdout),
        stderr_of(&run)
    );
    let text = std::fs::read_to_string(&history).expect("the history was written");

    // Drop every read of one acknowledged record.
    let ack = text
        .lines()
        .find_map(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .filter(|e| e["type"] == "ack")
        })
        .expect("the run acknowledged records");
    let value = format!("\"value\":\"p{}-s{}\"", ack["producer"], ack["seq"]);
    let dropped: String = text
        .lines()
        .filter(|line| !line.contains(&value))
        .map(|line| format!("{line}\n"))
        .collect();
    assert!(dropped.len() < text.len(), "the record was read");
    let planted = dir.path().join("dropped-read.jsonl");
    std::fs::write(&planted, dropped).expect("the temp dir is writable");
    assert_names_one_loss(
        &check(&planted),
        ack["partition"].as_i64(),
        ack["offset"].as_i64(),
    );

    // An acknowledgement nobody ever read.
    let mut added = text.clone();
    added.push_str(r#"{"type":"send","ts_ms":1,"producer":0,"seq":999999,"partition":0}"#);
    added.push('\n');
    added.push_str(
        r#"{"type":"ack","ts_ms":2,"producer":0,"seq":999999,"partition":0,"offset":999999}"#,
    );
    added.push('\n');
    let planted = dir.path().join("added-ack.jsonl");
    std::fs::write(&planted, added).expect("the temp dir is writable");
    assert_names_one_loss(&check(&planted), Some(0), Some(999_999));
}

fn assert_names_one_loss(output: &Output, partition: Option<i64>, offset: Option<i64>) {
    assert_eq!(
        output.status.code(),
        Some(1),
        "stderr: {}",
        stderr_of(output)
    );
    let verdict = verdict_of(output);
    assert_eq!(verdict["clean"], false);
    let lost = &verdict["violations"]["lost"];
    assert_eq!(lost["count"], 1, "{verdict:#}");
    assert_eq!(lost["examples"][0]["partition"].as_i64(), partition);
    assert_eq!(lost["examples"][0]["offset"].as_i64(), offset);
    assert_eq!(
        verdict["violations"].as_object().map(serde_json::Map::len),
        Some(1),
        "only the loss: {verdict:#}"
    );
}

#[test]
fn sigterm_ends_the_run_early_with_a_checked_verdict() {
    let broker = TestBroker::start();
    let dir = tempfile::tempdir().expect("a temporary directory can be created");
    let topic = unique("verify-stop");
    let stdout_path = dir.path().join("out");
    let stdout = std::fs::File::create(&stdout_path).expect("the temp dir is writable");
    let mut child = Command::new(sluice_bin())
        .args(["verify", "--bootstrap-server", broker.bootstrap()])
        .args([
            "--topic",
            &topic,
            "--duration",
            "10m",
            "--json",
            "--history",
        ])
        .arg(dir.path().join("history.jsonl"))
        .env_remove("SLUICE_BOOTSTRAP")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .expect("the sluice binary can be run");
    // Let it get going: its signal handlers are installed before it connects.
    std::thread::sleep(Duration::from_secs(3));
    terminate(&child);
    // Far below the 10 minutes the run was asked for.
    let status = wait_bounded(&mut child, RUN_TIMEOUT);
    let output = Output {
        status,
        stdout: std::fs::read(&stdout_path).unwrap_or_default(),
        stderr: Vec::new(),
    };
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(verdict_of(&output)["clean"], true);
}

#[test]
fn malformed_history_is_an_error_naming_the_line() {
    let dir = tempfile::tempdir().expect("a temporary directory can be created");
    let history = dir.path().join("broken.jsonl");
    std::fs::write(
        &history,
        "{\"type\":\"send\",\"ts_ms\":1,\"producer\":0,\"seq\":0,\"partition\":0}\nnot json\n",
    )
    .expect("the temp dir is writable");
    let output = check(&history);
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    assert!(stderr.contains("line 2"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

#[test]
fn text_verdict_is_a_table_of_every_check() {
    let dir = tempfile::tempdir().expect("a temporary directory can be created");
    let history = dir.path().join("tiny.jsonl");
    std::fs::write(
        &history,
        "{\"type\":\"send\",\"ts_ms\":1,\"producer\":0,\"seq\":0,\"partition\":0}\n\
         {\"type\":\"ack\",\"ts_ms\":2,\"producer\":0,\"seq\":0,\"partition\":0,\"offset\":0}\n\
         {\"type\":\"final_read\",\"ts_ms\":3,\"partition\":0,\"offset\":0,\"value\":\"p0-s0\"}\n",
    )
    .expect("the temp dir is writable");
    let path = history.to_str().expect("temp paths are UTF-8");
    let output = verify(&["--check", path], CHECK_TIMEOUT);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for check in [
        "lost",
        "duplicated",
        "reordered",
        "phantom",
        "offset_regression",
        "commit_regression",
        "consumed_before_committed",
        "verdict: OK",
    ] {
        assert!(stdout.contains(check), "{check} missing from:\n{stdout}");
    }
}

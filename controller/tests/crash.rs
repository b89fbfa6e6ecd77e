//! Crash test of the Raft log file: a child process (this test binary, re-run
//! in child mode) appends entries, purging a prefix now and then, and prints
//! each acknowledged index; the parent SIGKILLs it at varying points, reopens
//! the log and checks that every acknowledged entry is there, byte for byte,
//! in a contiguous run after the purged prefix, followed by nothing but what
//! the child attempted next. Repeated on one directory so recovery runs on
//! recovered logs.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use sluice_controller::{LogEntry, LogId, RaftLogFile, RaftStorageConfig};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const CHILD_DIR_ENV: &str = "SLUICE_CONTROLLER_CRASH_CHILD_DIR";
/// Bounds the child if the parent never kills it.
const CHILD_MAX_APPENDS: u64 = 100_000;
/// The child purges entries older than this many every `PURGE_EVERY` appends.
const KEEP_AFTER_PURGE: u64 = 20;
const PURGE_EVERY: u64 = 37;

/// The entry the child writes at `index`: the term rises every 50 entries,
/// payload sizes vary.
fn nth_entry(index: u64) -> LogEntry {
    LogEntry {
        id: LogId {
            term: 1 + index / 50,
            index,
        },
        payload: format!("entry {index} ")
            .repeat(1 + (index % 13) as usize)
            .into_bytes(),
    }
}

/// Child mode: append forever, printing `ack <index>` after each append.
#[test]
#[ignore = "run by the crash test as a child process"]
fn crash_child_appends_until_killed() -> TestResult {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return Ok(());
    };
    let (mut log, _) = RaftLogFile::open(Path::new(&dir), RaftStorageConfig::default())?;
    let first = log.last_log_id().map_or(0, |id| id.index + 1);
    let mut stdout = std::io::stdout().lock();
    for index in first..first + CHILD_MAX_APPENDS {
        log.append(&[nth_entry(index)])?;
        std::io::Write::write_all(&mut stdout, format!("ack {index}\n").as_bytes())?;
        std::io::Write::flush(&mut stdout)?;
        if index % PURGE_EVERY == 0 && index > KEEP_AFTER_PURGE {
            log.purge_through(nth_entry(index - KEEP_AFTER_PURGE).id)?;
        }
    }
    Ok(())
}

fn spawn_child(dir: &Path) -> Result<Child, Box<dyn std::error::Error>> {
    let child = Command::new(std::env::current_exe()?)
        .args([
            "--exact",
            "crash_child_appends_until_killed",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(child)
}

fn parse_ack(line: &str) -> Option<u64> {
    line.strip_prefix("ack ")?.parse().ok()
}

/// Reads acks until `wanted` more have arrived (or a minute passes), then
/// SIGKILLs the child. Returns the highest acknowledged index.
fn kill_after_acks(
    mut child: Child,
    wanted: usize,
) -> Result<Option<u64>, Box<dyn std::error::Error>> {
    let stdout = child.stdout.take().ok_or("child has no stdout")?;
    let (sender, receiver) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let mut last_ack = None;
    let mut seen = 0;
    while seen < wanted {
        match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                if let Some(i) = parse_ack(&line) {
                    last_ack = Some(i);
                    seen += 1;
                }
            }
            Err(_) => break,
        }
    }
    child.kill()?; // SIGKILL, by this child's own handle
    child.wait()?;
    while let Ok(line) = receiver.recv_timeout(Duration::from_millis(200)) {
        if let Some(i) = parse_ack(&line) {
            last_ack = Some(i);
        }
    }
    reader.join().map_err(|_| "reader thread panicked")?;
    Ok(last_ack)
}

#[test]
fn sigkill_at_any_point_keeps_every_acknowledged_entry() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut acknowledged: Option<u64> = None;
    for (round, wanted) in [7usize, 23, 41, 3, 60, 18].into_iter().enumerate() {
        let child = spawn_child(dir.path())?;
        if let Some(last) = kill_after_acks(child, wanted)? {
            acknowledged = Some(last);
        }
        let (log, recovery) = RaftLogFile::open(dir.path(), RaftStorageConfig::default())?;
        let entries = log.read_range(0, u64::MAX)?;
        let first = log.purged().map_or(0, |p| p.index + 1);
        for (i, entry) in entries.iter().enumerate() {
            assert_eq!(
                entry,
                &nth_entry(first + i as u64),
                "round {round}: entry {i}"
            );
        }
        let last = log.last_log_id().map(|id| id.index);
        assert!(
            last >= acknowledged,
            "round {round}: acknowledged {acknowledged:?} but the log ends at {last:?} ({recovery:?})"
        );
        // At most the one entry in flight at the kill is kept beyond the acks.
        assert!(
            last <= acknowledged.map(|a| a + 1),
            "round {round}: {last:?} > {acknowledged:?} + 1"
        );
        acknowledged = last;
    }
    // Every round's acks landed (152 in all, from index 0) and purges ran.
    assert!(acknowledged >= Some(151), "{acknowledged:?}");
    let (log, _) = RaftLogFile::open(dir.path(), RaftStorageConfig::default())?;
    assert!(log.purged().is_some());
    Ok(())
}

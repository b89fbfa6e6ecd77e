//! Every input the fuzzer once crashed on (`fuzz/regressions/<target>/`)
//! is replayed through the fuzzer's worker, as `--replay` does, and must
//! no longer produce a finding: no panic, no abort, no hang, no single
//! allocation over 64 MiB.

use std::path::{Path, PathBuf};
use std::process::Command;

fn regressions(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("regressions")
        .join(target)
}

/// Replays `target`'s saved inputs; returns the fuzzer's exit code and output.
fn replay(target: &str, extra: &[&str]) -> (Option<i32>, String) {
    let findings = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_sluice-fuzz"))
        .arg("--replay")
        .arg(regressions(target))
        .arg("--findings-dir")
        .arg(findings.path())
        .args(extra)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

fn assert_no_longer_crashes(target: &str) {
    let count = std::fs::read_dir(regressions(target)).unwrap().count();
    assert!(count > 0, "no regression inputs for {target}");
    let (code, output) = replay(target, &[]);
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(
        output.lines().filter(|l| l.ends_with(": ok")).count(),
        count,
        "{output}"
    );
}

/// Requests claiming 2^31-1 array entries made kafka-protocol 0.18 reserve
/// gigabytes and abort the process (fixed in vendor/kafka-protocol).
#[test]
fn request_bodies_with_huge_counts_no_longer_crash() {
    assert_no_longer_crashes("request");
}

/// The same requests arriving through the frame codec.
#[test]
fn framed_requests_with_huge_counts_no_longer_crash() {
    assert_no_longer_crashes("frame");
}

/// A snappy block declaring 88 MB in 68 bytes made the validator allocate
/// and zero it.
#[test]
fn snappy_batches_declaring_huge_lengths_no_longer_allocate_them() {
    assert_no_longer_crashes("record_batch");
}

/// The replay can fail: with an allocation bound of zero every input is a
/// finding, and the fuzzer says so with exit code 1.
#[test]
fn a_replayed_finding_fails_the_run() {
    let (code, output) = replay("record_batch", &["--allocation-bound-mib", "0"]);
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("FINDING allocation over"), "{output}");
}

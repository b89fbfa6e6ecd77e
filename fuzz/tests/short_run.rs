//! A short fuzzing run of every target with a fixed seed, in whatever
//! profile the tests are built in (CI: debug, so `debug_assert!`s and
//! overflow checks count as findings too). About 15 seconds per target; it
//! fails if any input panics, aborts, hangs or allocates over 64 MiB.

use std::process::Command;

#[test]
fn every_target_survives_a_short_seeded_run() {
    let findings = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_sluice-fuzz"))
        .args(["--target", "all", "--seed", "20261207"])
        .args(["--iterations", "200000", "--time-limit", "15"])
        .arg("--findings-dir")
        .arg(findings.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    for target in ["frame", "request", "record_batch", "files"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("target={target} ")))
            .unwrap_or_else(|| panic!("no report for {target}: {stdout}"));
        assert!(line.contains(" findings=0 "), "{line}");
        assert!(!line.contains(" inputs=0 "), "{line}");
    }
}

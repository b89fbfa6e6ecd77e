//! `sluice broker` as a process: starts with flags, logs where it listens,
//! shuts down cleanly on SIGTERM, and reports bad configuration in one line.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod cli_support;
use cli_support::Running;

/// Upper bound for the broker to start or stop; a hang fails the test.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);

fn sluice() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
}

fn wait_for_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + PROCESS_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("wait for sluice") {
            return status;
        }
        assert!(Instant::now() < deadline, "sluice broker did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn broker_logs_its_address_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let child = sluice()
        .args(["broker", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sluice broker");
    let mut running = Running(child);
    let stderr = running.0.stderr.take().expect("piped stderr");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let listening = lines_rx
        .iter()
        .find(|line| line.contains("listening on 127.0.0.1:"))
        .expect("a 'listening on' line");
    assert!(
        !listening.contains(":0 "),
        "the real port is logged: {listening}"
    );
    let pid = running.0.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let status = wait_for_exit(&mut running.0);
    assert!(status.success(), "clean shutdown exits 0, got {status}");
    let rest: Vec<String> = lines_rx.iter().collect();
    assert!(
        rest.iter().any(|l| l.contains("shutdown complete")),
        "{rest:?}"
    );
    assert!(dir.path().join("meta.properties").exists());
}

#[test]
fn invalid_config_file_is_one_line_error_and_failure_status() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "no_such_setting = 1\n").unwrap();
    let output = sluice()
        .args(["broker", "--config"])
        .arg(&config)
        .env("RUST_LOG", "off")
        .output()
        .expect("run sluice broker");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("error: invalid config file"),
        "{stderr}"
    );
}

//! `sluice broker` start-up and shutdown as a process: a SIGTERM at any
//! moment of start-up (before the data directory is open, while logs load,
//! while groups load, the instant the port opens) ends in exit status 0
//! with every log closed cleanly, and the port refuses connections until
//! the broker can answer them.
//!
//! A signal that arrives before the process has installed its handler (the
//! first milliseconds after `exec`) takes the default action, as for any
//! program; the tests start at the earliest moment the handler exists,
//! which they read from `/proc/<pid>/status`.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

mod cli_support;
use cli_support::{Running, free_port};

/// Upper bound for a broker to start or to exit after SIGTERM.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);
/// Partitions of the data directory that takes a while to load.
const SLOW_START_PARTITIONS: i32 = 100;
/// Written by storage on a clean close, in every partition directory.
const CLEAN_SHUTDOWN_MARKER: &str = ".clean-shutdown";
/// Logged by the broker once logs and groups are loaded, before it listens.
const LOADED_LINE: &str = "broker state loaded";
/// SIGTERM's bit in the `SigCgt` mask of `/proc/<pid>/status`.
const SIGTERM_CAUGHT_BIT: u64 = 1 << (15 - 1);

/// A config file for a broker on `port` over `data_dir`, with small file
/// preallocation so hundreds of partitions cost little disk.
fn write_config(dir: &Path, data_dir: &Path, port: u16) -> PathBuf {
    let path = dir.join(format!("broker-{port}.toml"));
    let text = format!(
        "listeners = \"127.0.0.1:{port}\"\n\
         data_dir = \"{}\"\n\
         [log]\n\
         preallocate_step_bytes = 65536\n\
         index_preallocate_step_bytes = 4096\n",
        data_dir.display()
    );
    std::fs::write(&path, text).expect("write the config file");
    path
}

/// A data directory whose opening takes a while: a topic of
/// [`SLOW_START_PARTITIONS`] partitions besides `__consumer_offsets`.
fn slow_start_data_dir(dir: &Path) -> PathBuf {
    let data_dir = dir.join("data");
    let config_path = write_config(dir, &data_dir, free_port());
    let config = sluice_broker::BrokerConfig::from_file(&config_path).expect("valid config");
    let broker = sluice_broker::Broker::open(config).expect("open the data directory");
    broker
        .create_topic(
            "many-partitions",
            SLOW_START_PARTITIONS,
            Default::default(),
            false,
        )
        .expect("create the topic");
    broker.shutdown().expect("close the logs");
    data_dir
}

fn spawn_broker(config: &Path, log: &Path) -> Running {
    let log_file = std::fs::File::create(log).expect("create the log file");
    let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["broker", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("spawn sluice broker");
    Running(child)
}

fn read_log(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

/// Waits until the broker catches SIGTERM (its handler is installed).
fn wait_for_signal_handler(child: &mut Child) {
    let status_path = format!("/proc/{}/status", child.id());
    let deadline = Instant::now() + PROCESS_TIMEOUT;
    loop {
        let caught = std::fs::read_to_string(&status_path)
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix("SigCgt:"))
                    .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            })
            .is_some_and(|mask| mask & SIGTERM_CAUGHT_BIT != 0);
        if caught {
            return;
        }
        assert!(
            child.try_wait().expect("poll the broker").is_none(),
            "the broker exited before it watched for signals"
        );
        assert!(Instant::now() < deadline, "no SIGTERM handler in time");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn wait_for_port(child: &mut Child, port: u16) -> Duration {
    let started = Instant::now();
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return started.elapsed();
        }
        assert!(
            child.try_wait().expect("poll the broker").is_none(),
            "the broker exited before it listened"
        );
        assert!(started.elapsed() < PROCESS_TIMEOUT, "the port never opened");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM {}", child.id());
}

fn wait_for_exit(child: &mut Child, log: &Path) -> ExitStatus {
    let deadline = Instant::now() + PROCESS_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("poll the broker") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the broker did not exit after SIGTERM; its log:\n{}",
            read_log(log)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every partition directory holds the clean-shutdown marker.
fn assert_closed_cleanly(data_dir: &Path, log: &Path) {
    let mut partitions = 0;
    for entry in std::fs::read_dir(data_dir).expect("read the data directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            partitions += 1;
            assert!(
                path.join(CLEAN_SHUTDOWN_MARKER).exists(),
                "{} has no clean-shutdown marker; log:\n{}",
                path.display(),
                read_log(log)
            );
        }
    }
    assert!(partitions > 0, "the data directory holds partitions");
}

/// Starts the broker, sends SIGTERM once `before_signal` returns, and
/// checks for exit status 0 and a clean close of every log.
fn sigterm_during_start_up(
    dir: &Path,
    data_dir: &Path,
    before_signal: impl FnOnce(&mut Child, u16),
) {
    let port = free_port();
    let config = write_config(dir, data_dir, port);
    let log = dir.join(format!("broker-{port}.log"));
    let mut broker = spawn_broker(&config, &log);
    wait_for_signal_handler(&mut broker.0);
    before_signal(&mut broker.0, port);
    sigterm(&broker.0);
    let status = wait_for_exit(&mut broker.0, &log);
    assert!(
        status.success(),
        "SIGTERM during start-up exits 0, got {status}; log:\n{}",
        read_log(&log)
    );
    assert_closed_cleanly(data_dir, &log);
}

/// The race that once hung the broker: a shutdown that begins before the
/// background tasks first run. Ten tries at each of the two earliest moments.
#[test]
fn sigterm_early_in_start_up_exits_cleanly_every_time() {
    for _ in 0..10 {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let data_dir = dir.path().join("data");
        sigterm_during_start_up(dir.path(), &data_dir, |_, _| {});
        let dir = tempfile::tempdir().expect("a temporary directory");
        let data_dir = dir.path().join("data");
        sigterm_during_start_up(dir.path(), &data_dir, |child, port| {
            wait_for_port(child, port);
        });
    }
}

#[test]
#[allow(clippy::print_stderr, reason = "the test reports its figures")]
fn sigterm_at_any_moment_of_a_slow_start_up_exits_cleanly() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data_dir = slow_start_data_dir(dir.path());
    // How long this start-up takes here, so the signals below land all
    // along it: before the data directory is opened, while partition logs
    // load, while groups load, as the port opens.
    let mut start_up = Duration::ZERO;
    sigterm_during_start_up(dir.path(), &data_dir, |child, port| {
        start_up = wait_for_port(child, port);
    });
    eprintln!("start-up over {SLOW_START_PARTITIONS} partitions took {start_up:?}");
    for fifth in 0..=5 {
        sigterm_during_start_up(dir.path(), &data_dir, |_, _| {
            std::thread::sleep(start_up * fifth / 5);
        });
    }
}

#[test]
fn next_start_after_a_sigterm_during_start_up_skips_recovery() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data_dir = dir.path().join("data");
    sigterm_during_start_up(dir.path(), &data_dir, |_, _| {});
    sigterm_during_start_up(dir.path(), &data_dir, |child, port| {
        wait_for_port(child, port);
    });
    let config = write_config(dir.path(), &data_dir, free_port());
    let log = dir.path().join("recovery-check.log");
    let log_file = std::fs::File::create(&log).expect("create the log file");
    let mut broker = Running(
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["broker", "--config"])
            .arg(&config)
            .env("RUST_LOG", "sluice_storage=debug,info")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("spawn sluice broker"),
    );
    wait_for_signal_handler(&mut broker.0);
    let port = std::fs::read_to_string(&config)
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("listeners = \"127.0.0.1:"))
                .and_then(|rest| rest.trim_end_matches('"').parse::<u16>().ok())
        })
        .expect("the port is in the config");
    wait_for_port(&mut broker.0, port);
    sigterm(&broker.0);
    assert!(wait_for_exit(&mut broker.0, &log).success());
    let text = read_log(&log);
    let opened: Vec<&str> = text.lines().filter(|l| l.contains("opened log")).collect();
    assert!(!opened.is_empty(), "storage logs each opened log:\n{text}");
    assert!(
        opened.iter().all(|line| line.contains("clean=true")),
        "every log opens clean:\n{text}"
    );
}

#[test]
fn port_refuses_connections_until_the_broker_has_loaded() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data_dir = slow_start_data_dir(dir.path());
    let port = free_port();
    let config = write_config(dir.path(), &data_dir, port);
    let log = dir.path().join("refuses.log");
    let mut broker = spawn_broker(&config, &log);
    let mut refused = 0;
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(_) => {
                // The broker logs LOADED_LINE before it listens, so a
                // connection that got through finds it in the log.
                assert!(
                    read_log(&log).contains(LOADED_LINE),
                    "a connection was accepted before the broker had loaded"
                );
                break;
            }
            Err(error) => {
                assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
                refused += 1;
            }
        }
        assert!(
            broker.0.try_wait().expect("poll the broker").is_none(),
            "the broker exited:\n{}",
            read_log(&log)
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(
        refused > 0,
        "connections were refused while the broker loaded"
    );
    sigterm(&broker.0);
    assert!(wait_for_exit(&mut broker.0, &log).success());
}

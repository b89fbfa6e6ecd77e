//! Fixtures for the CLI tests: a broker to talk to and a way to run the
//! built `sluice` binary against it.
//!
//! The broker is, by preference:
//! - the one at `SLUICE_TEST_BOOTSTRAP` (already running, shared: tests use
//!   unique topic and group names);
//! - Apache Kafka from `scripts/kafka.sh` when `SLUICE_TEST_BROKER=kafka`;
//! - otherwise a `sluice broker` child on a free port and a temporary data dir.
//!
//! Children run in their own process group (a Ctrl-C of the test run does
//! not reach them) and are SIGKILLed when the fixture drops, so a failing
//! test leaks no broker.
#![allow(dead_code)]

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a broker may take to answer Metadata after it was started.
const SLUICE_START_TIMEOUT: Duration = Duration::from_secs(30);
const KAFKA_START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a metadata change may take to show in describes.
const METADATA_PROPAGATION_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on every `sluice` command a test runs (passed as `--timeout-ms`).
pub const COMMAND_TIMEOUT_MS: u64 = 20_000;

/// The `sluice` binary under test.
pub fn sluice_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sluice")
}

/// A name unique within this test run, for topics and groups.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A child process killed and reaped when dropped, so a failing test leaks
/// no process.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("the loopback interface can bind an ephemeral port")
}

/// A broker the tests can reach, stopped on drop when we started it.
#[derive(Debug)]
pub struct TestBroker {
    bootstrap: String,
    child: Option<Child>,
    _data: Option<tempfile::TempDir>,
}

impl TestBroker {
    /// Starts (or finds) the broker the environment asks for and waits,
    /// bounded, until it answers.
    pub fn start() -> TestBroker {
        if let Ok(bootstrap) = std::env::var("SLUICE_TEST_BOOTSTRAP") {
            return TestBroker {
                bootstrap,
                child: None,
                _data: None,
            };
        }
        let kafka = std::env::var("SLUICE_TEST_BROKER").is_ok_and(|kind| kind == "kafka");
        Self::spawn(kafka, None)
    }

    /// Starts a `sluice broker` child whatever the environment says, with
    /// `config` (TOML, `config/single.toml`'s names) as its `--config` file.
    pub fn start_sluice_with_config(config: &str) -> TestBroker {
        Self::spawn(false, Some(config))
    }

    fn spawn(kafka: bool, config: Option<&str>) -> TestBroker {
        let data = tempfile::tempdir().expect("a temporary directory can be created");
        let port = free_port();
        let bootstrap = format!("127.0.0.1:{port}");
        let (mut command, timeout) = if kafka {
            (kafka_command(data.path(), port), KAFKA_START_TIMEOUT)
        } else {
            let mut command = sluice_command(data.path(), &bootstrap);
            if let Some(config) = config {
                let path = data.path().join("broker.toml");
                std::fs::write(&path, config).expect("the temporary directory is writable");
                command.arg("--config").arg(path);
            }
            (command, SLUICE_START_TIMEOUT)
        };
        let log = std::fs::File::create(data.path().join("broker.log"))
            .expect("the temporary directory is writable");
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log file handle can be cloned"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("the broker command can be spawned");
        let mut broker = TestBroker {
            bootstrap,
            child: Some(child),
            _data: Some(data),
        };
        broker.wait_ready(timeout);
        broker
    }

    /// The `sluice broker` child's process id, when this fixture started one.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The data directory of the broker this fixture started.
    pub fn data_dir(&self) -> Option<PathBuf> {
        self._data.as_ref().map(|dir| dir.path().join("data"))
    }

    /// The `host:port` to pass as `--bootstrap-server`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Runs `sluice ARGS... --bootstrap-server THIS --timeout-ms N`.
    pub fn sluice(&self, args: &[&str]) -> Output {
        run_sluice(args, &self.bootstrap)
    }

    /// Runs `sluice ARGS...` against this broker with `input` on stdin.
    pub fn sluice_with_input(&self, args: &[&str], input: &str) -> Output {
        let mut child = Command::new(sluice_bin())
            .args(args)
            .args(["--bootstrap-server", &self.bootstrap])
            .args(["--timeout-ms", &COMMAND_TIMEOUT_MS.to_string()])
            .env_remove("SLUICE_BOOTSTRAP")
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the sluice binary can be run");
        let mut stdin = child.stdin.take().expect("stdin was piped");
        match stdin.write_all(input.as_bytes()) {
            // A command that fails before reading (an unknown topic) may
            // exit before the input is written: its output tells the test.
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.expect("sluice reads its stdin"),
        }
        drop(stdin);
        child.wait_with_output().expect("sluice can be waited for")
    }

    /// As [`TestBroker::sluice`], failing the test unless it exits 0; returns stdout.
    pub fn sluice_ok(&self, args: &[&str]) -> String {
        let output = self.sluice(args);
        assert!(
            output.status.success(),
            "sluice {args:?} failed with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("sluice prints UTF-8")
    }

    /// Runs a read-only command until its stdout satisfies `expected` or a
    /// bound passes, returning the last stdout. Apache Kafka applies metadata
    /// changes to its brokers asynchronously, so a describe right after a
    /// change may briefly show the old state.
    pub fn sluice_until(&self, args: &[&str], expected: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + METADATA_PROPAGATION_TIMEOUT;
        loop {
            let stdout = self.sluice_ok(args);
            if expected(&stdout) || Instant::now() >= deadline {
                return stdout;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("broker exited with {status}:\n{}", self.log_tail());
            }
            let listening = TcpStream::connect(&self.bootstrap).is_ok();
            if listening
                && run_sluice(&["topic", "list"], &self.bootstrap)
                    .status
                    .success()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("broker not ready within {timeout:?}:\n{}", self.log_tail());
    }

    fn log_tail(&self) -> String {
        self._data
            .as_ref()
            .and_then(|dir| std::fs::read_to_string(dir.path().join("broker.log")).ok())
            .map(|log| {
                let lines: Vec<&str> = log.lines().collect();
                lines[lines.len().saturating_sub(40)..].join("\n")
            })
            .unwrap_or_default()
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The child is the broker itself: `sluice broker`, or the JVM that
            // kafka.sh and kafka-tool `exec` into. Never signal a process group
            // with `kill -SIG -PGID`: Debian's procps-ng 4.0.2 `kill` signals
            // every process on the machine when that group no longer exists.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs the binary with the bootstrap flag and the test's time bound.
pub fn run_sluice(args: &[&str], bootstrap: &str) -> Output {
    Command::new(sluice_bin())
        .args(args)
        .args(["--bootstrap-server", bootstrap])
        .args(["--timeout-ms", &COMMAND_TIMEOUT_MS.to_string()])
        .env_remove("SLUICE_BOOTSTRAP")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("the sluice binary can be run")
}

/// Runs the binary with exactly these arguments and no bootstrap flag.
pub fn run_sluice_raw(args: &[&str]) -> Output {
    Command::new(sluice_bin())
        .args(args)
        .env_remove("SLUICE_BOOTSTRAP")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("the sluice binary can be run")
}

fn sluice_command(data: &Path, bootstrap: &str) -> Command {
    let mut command = Command::new(sluice_bin());
    command
        .args(["broker", "--listen", bootstrap, "--data-dir"])
        .arg(data.join("data"));
    command
}

fn kafka_command(data: &Path, port: u16) -> Command {
    let mut controller_port = free_port();
    while controller_port == port {
        controller_port = free_port();
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka.sh");
    let mut command = Command::new("bash");
    command
        .arg(script)
        .arg(data.join("kafka"))
        .arg(port.to_string())
        .arg(controller_port.to_string());
    command
}

/// stderr of a finished command, as text.
pub fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the command failed with a non-zero code and exactly one line on
/// stderr that contains `needle`; returns that line.
pub fn assert_one_line_error(output: &Output, needle: &str) -> String {
    let stderr = stderr_of(output);
    assert!(
        !output.status.success(),
        "expected failure, got success: {stderr}"
    );
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "expected one error line, got: {stderr}"
    );
    assert!(
        stderr.contains(needle),
        "expected `{needle}` in the error, got: {stderr}"
    );
    stderr.trim_end().to_owned()
}

/// Sends SIGTERM to a child this test started, by its process id (a
/// positive pid: only that process, never a group).
pub fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill(1) can be run");
    assert!(
        status.success(),
        "SIGTERM could not be sent to {}",
        child.id()
    );
}

/// Waits for `child` to exit, at most `timeout`; kills it and fails the
/// test when it does not.
pub fn wait_bounded(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

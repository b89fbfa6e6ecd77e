//! The brokers the suite starts itself: `sluice broker` (the running
//! executable) or a single-node Apache Kafka through `scripts/kafka.sh`,
//! each on a free loopback port with a temporary data directory. The
//! process is killed by its own pid when the value is dropped.

use std::fs::File;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sluice_client::wait_until_answering;
use tempfile::TempDir;

use super::error::{SuiteError, SuiteResult};

/// How long a Sluice broker may take to answer metadata.
const SLUICE_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long Kafka may take: a JVM start, storage format and KRaft election.
const KAFKA_START_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause between readiness probes.
const READY_POLL: Duration = Duration::from_millis(200);
/// Lines of the broker log quoted when it fails to start.
const LOG_TAIL_LINES: usize = 20;
/// JVM flags of the Kafka broker: the heap and collector of Kafka's own
/// `kafka-server-start.sh` (`KAFKA_HEAP_OPTS`, `KAFKA_JVM_PERFORMANCE_OPTS`),
/// overriding the small-heap serial-GC start-up flags of `scripts/kafka-tool`.
pub const KAFKA_SERVER_JVM_OPTS: &str = "-Xmx1g -Xms1g -XX:-UseSerialGC -XX:+UseG1GC \
     -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent";

/// Which broker a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    /// `sluice broker`.
    Sluice,
    /// Apache Kafka in KRaft mode.
    Kafka,
}

/// A broker child process with its data directory.
#[derive(Debug)]
pub struct BrokerProcess {
    kind: BrokerKind,
    child: Option<Child>,
    bootstrap: String,
    dir: TempDir,
}

impl BrokerProcess {
    /// Starts `binary broker --listen 127.0.0.1:<free port> --data-dir <temp>`.
    ///
    /// # Errors
    /// No free port, no temporary directory, or the binary cannot be spawned.
    pub fn start_sluice(binary: &Path, scratch: &Path) -> SuiteResult<BrokerProcess> {
        let dir = TempDir::with_prefix_in("sluice-", scratch).map_err(SuiteError::Scratch)?;
        let bootstrap = format!("127.0.0.1:{}", free_port("sluice")?);
        let mut command = Command::new(binary);
        command
            .args(["broker", "--listen", &bootstrap, "--data-dir"])
            .arg(dir.path().join("data"));
        Self::spawn(BrokerKind::Sluice, command, bootstrap, dir)
    }

    /// Starts `scripts/kafka.sh <temp> <port> <controller port>`; the script
    /// execs the JVM, so the child's pid is the broker's.
    ///
    /// # Errors
    /// No free port, no temporary directory, or the script cannot be spawned.
    pub fn start_kafka(scripts_dir: &Path, scratch: &Path) -> SuiteResult<BrokerProcess> {
        let dir = TempDir::with_prefix_in("kafka-", scratch).map_err(SuiteError::Scratch)?;
        let port = free_port("kafka")?;
        let controller_port = free_port("kafka")?;
        let mut command = Command::new(scripts_dir.join("kafka.sh"));
        command
            .arg(dir.path().join("kafka"))
            .arg(port.to_string())
            .arg(controller_port.to_string())
            .env("KAFKA_JVM_OPTS", KAFKA_SERVER_JVM_OPTS);
        Self::spawn(BrokerKind::Kafka, command, format!("127.0.0.1:{port}"), dir)
    }

    fn spawn(
        kind: BrokerKind,
        mut command: Command,
        bootstrap: String,
        dir: TempDir,
    ) -> SuiteResult<BrokerProcess> {
        let name = kind_name(kind);
        let log = File::create(dir.path().join("broker.log")).map_err(SuiteError::Scratch)?;
        let log_err = log.try_clone().map_err(SuiteError::Scratch)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|error| broker_error(name, format!("cannot spawn: {error}")))?;
        Ok(BrokerProcess {
            kind,
            child: Some(child),
            bootstrap,
            dir,
        })
    }

    /// `host:port` clients bootstrap from.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The broker's process id (the JVM's for Kafka), for RSS sampling.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Polls until a client bootstraps and sees a broker, or the start-up
    /// timeout passes.
    ///
    /// # Errors
    /// The process exited or did not answer in time; the message quotes the
    /// end of its log.
    pub async fn wait_ready(&mut self) -> SuiteResult<()> {
        let timeout = match self.kind {
            BrokerKind::Sluice => SLUICE_START_TIMEOUT,
            BrokerKind::Kafka => KAFKA_START_TIMEOUT,
        };
        let child = &mut self.child;
        let gone = || {
            let status = child.as_mut()?.try_wait().ok()??;
            Some(format!("exited with {status}"))
        };
        wait_until_answering(&self.bootstrap, timeout, READY_POLL, gone)
            .await
            .map_err(|error| self.startup_error(error.to_string()))
    }

    fn startup_error(&self, reason: String) -> SuiteError {
        let log = std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
        broker_error(
            kind_name(self.kind),
            format!("{reason} on {}\n{tail}", self.bootstrap),
        )
    }

    /// Kills the process (by its pid) and waits for it, so the next broker
    /// has the CPU to itself.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `sluice` or `kafka`: the name the results use for a started broker.
pub fn kind_name(kind: BrokerKind) -> &'static str {
    match kind {
        BrokerKind::Sluice => "sluice",
        BrokerKind::Kafka => "kafka",
    }
}

fn broker_error(name: &str, reason: String) -> SuiteError {
    SuiteError::Broker {
        name: name.to_owned(),
        reason,
    }
}

/// A port that was free on 127.0.0.1 a moment ago.
fn free_port(name: &str) -> SuiteResult<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|error| broker_error(name, format!("no free port: {error}")))
}

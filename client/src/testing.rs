//! Test support for the client crates' integration tests (feature `testing`):
//! a broker started for a test and a proxy that can cut connections.
//!
//! [`TestBroker::start`] starts Apache Kafka through `scripts/kafka.sh` when
//! `SLUICE_TEST_BROKER=kafka`, and otherwise the Sluice binary from
//! `SLUICE_BIN` (default `<repo>/target/debug/sluice`). The process is killed
//! when the handle drops; every wait is bounded.
//!
//! [`TestBroker::start_behind_proxy`] puts a [`TcpProxy`] in front and makes
//! the broker *advertise* the proxy's address (Sluice's
//! `--advertised-listener`; for Kafka a `server.properties` written before
//! `kafka.sh` runs), so every client connection, after bootstrap too, goes
//! through the proxy and [`TcpProxy::cut_all`] drops all of them.
//!
//! [`TestBroker::shared_bootstrap`] starts one broker per test binary, shared
//! by its tests (through unique topic and group names), for suites where a
//! broker per test would cost more than the tests (a Kafka JVM starts in
//! seconds); `SLUICE_TEST_BOOTSTRAP=host:port` points it at a broker that is
//! already running.
//!
//! Every broker runs under a small guard shell that SIGKILLs it when the
//! guard's stdin pipe closes: when the handle drops, and when the test
//! process exits however it exits (the kernel closes the pipe), so no broker
//! outlives its tests, not even the shared one, which is never dropped.
#![allow(clippy::print_stderr)]

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a Sluice broker may take to answer after start.
const SLUICE_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the Kafka JVM may take to answer after start.
const KAFKA_START_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause between readiness probes.
const READY_POLL: Duration = Duration::from_millis(200);

/// The guard shell around a broker process (see the module docs). `$1` is a
/// directory to delete once the broker is gone (empty for none); the rest is
/// the broker's command line. Background jobs of a non-interactive shell read
/// /dev/null, so the guard reads the pipe through a copy of it on fd 3.
const GUARD_SCRIPT: &str = r#"remove="$1"; shift
exec 3<&0
"$@" </dev/null 3<&- &
broker=$!
{ read -r _ <&3; kill -9 "$broker" 2>/dev/null; } &
guard=$!
exec 3<&-
wait "$broker"; status=$?
kill "$guard" 2>/dev/null
[ -n "$remove" ] && rm -rf "$remove"
exit "$status"
"#;

/// The broker shared by the tests of this process, or why it did not start.
static SHARED_BROKER: OnceLock<Result<TestBroker, String>> = OnceLock::new();

/// Which broker implementation a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    /// The `sluice` binary.
    Sluice,
    /// Apache Kafka from `scripts/kafka.sh`.
    Kafka,
}

impl BrokerKind {
    /// The kind selected by `SLUICE_TEST_BROKER` (`kafka` or anything else).
    pub fn from_env() -> BrokerKind {
        match std::env::var("SLUICE_TEST_BROKER") {
            Ok(value) if value.eq_ignore_ascii_case("kafka") => BrokerKind::Kafka,
            _ => BrokerKind::Sluice,
        }
    }
}

/// A broker process owned by a test; killed on drop.
#[derive(Debug)]
pub struct TestBroker {
    kind: BrokerKind,
    port: u16,
    controller_port: u16,
    advertised_port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    proxy: Option<TcpProxy>,
    /// Whether the guard deletes `dir` (for the shared broker, never dropped).
    guard_removes_dir: bool,
}

impl TestBroker {
    /// Starts the broker chosen by `SLUICE_TEST_BROKER` on free ports and
    /// waits (bounded) until it answers Metadata.
    ///
    /// # Errors
    /// When the process cannot start or does not answer in time.
    pub async fn start() -> io::Result<TestBroker> {
        TestBroker::launch(BrokerKind::from_env(), false, false).await
    }

    /// As [`TestBroker::start`], with a [`TcpProxy`] as the advertised address.
    ///
    /// # Errors
    /// As [`TestBroker::start`].
    pub async fn start_behind_proxy() -> io::Result<TestBroker> {
        TestBroker::launch(BrokerKind::from_env(), true, false).await
    }

    /// The bootstrap address of one broker shared by every test of this test
    /// process, started (as [`TestBroker::start`] would) on first use, or the
    /// `SLUICE_TEST_BOOTSTRAP` address when that is set. The broker is killed
    /// and its directory deleted when the process exits.
    ///
    /// # Errors
    /// When the broker did not start; every later call reports the same.
    pub async fn shared_bootstrap() -> io::Result<String> {
        if let Ok(address) = std::env::var("SLUICE_TEST_BOOTSTRAP") {
            return Ok(address);
        }
        // Started on a thread of its own so that a test cancelled while
        // waiting cannot abandon the start half-way.
        let shared = tokio::task::spawn_blocking(|| SHARED_BROKER.get_or_init(start_shared))
            .await
            .map_err(io::Error::other)?;
        shared
            .as_ref()
            .map(TestBroker::bootstrap)
            .map_err(|reason| io::Error::other(reason.clone()))
    }

    /// Starts a broker and waits until it answers; `guard_removes_dir` for
    /// a broker whose handle is never dropped.
    async fn launch(
        kind: BrokerKind,
        behind_proxy: bool,
        guard_removes_dir: bool,
    ) -> io::Result<TestBroker> {
        let mut broker = TestBroker::new(kind, behind_proxy).await?;
        broker.guard_removes_dir = guard_removes_dir;
        broker.spawn()?;
        broker.wait_ready().await?;
        Ok(broker)
    }

    async fn new(kind: BrokerKind, behind_proxy: bool) -> io::Result<TestBroker> {
        let port = free_port()?;
        let controller_port = free_port()?;
        let proxy = if behind_proxy {
            Some(TcpProxy::start(format!("127.0.0.1:{port}")).await?)
        } else {
            None
        };
        let advertised_port = proxy.as_ref().map_or(port, TcpProxy::port);
        Ok(TestBroker {
            kind,
            port,
            controller_port,
            advertised_port,
            dir: tempfile::tempdir()?,
            child: None,
            proxy,
            guard_removes_dir: false,
        })
    }

    /// The address clients bootstrap from (the proxy's when behind one).
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.advertised_port)
    }

    /// Which implementation runs.
    pub fn kind(&self) -> BrokerKind {
        self.kind
    }

    /// The proxy in front of the broker, if started behind one.
    pub fn proxy(&self) -> Option<&TcpProxy> {
        self.proxy.as_ref()
    }

    /// Kills the broker with SIGKILL and starts it again on the same ports
    /// and data, waiting until it answers.
    ///
    /// # Errors
    /// As [`TestBroker::start`].
    pub async fn kill_and_restart(&mut self) -> io::Result<()> {
        self.kill();
        self.spawn()?;
        self.wait_ready().await
    }

    fn spawn(&mut self) -> io::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("broker.log"))?;
        let broker = match self.kind {
            BrokerKind::Kafka => self.kafka_command()?,
            BrokerKind::Sluice => self.sluice_command(),
        };
        let remove = if self.guard_removes_dir {
            self.dir.path().as_os_str().to_owned()
        } else {
            std::ffi::OsString::new()
        };
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(GUARD_SCRIPT)
            .arg("sluice-test-broker-guard")
            .arg(remove)
            .arg(broker.get_program())
            .args(broker.get_args());
        let child = command
            .stdin(Stdio::piped())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    fn sluice_command(&self) -> Command {
        let binary = std::env::var_os("SLUICE_BIN").map_or_else(sluice_binary, PathBuf::from);
        let mut command = Command::new(binary);
        command
            .arg("broker")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(self.dir.path().join("data"));
        if self.advertised_port != self.port {
            command
                .arg("--advertised-listener")
                .arg(format!("127.0.0.1:{}", self.advertised_port));
        }
        command
    }

    fn kafka_command(&self) -> io::Result<Command> {
        let kafka_dir = self.dir.path().join("kafka");
        if self.advertised_port != self.port {
            // kafka.sh keeps an existing server.properties: write one that
            // advertises the proxy.
            std::fs::create_dir_all(&kafka_dir)?;
            let properties = kafka_properties(
                &kafka_dir,
                self.port,
                self.controller_port,
                self.advertised_port,
            );
            std::fs::write(kafka_dir.join("server.properties"), properties)?;
        }
        let mut command = Command::new(repo_root().join("scripts/kafka.sh"));
        command
            .arg(&kafka_dir)
            .arg(self.port.to_string())
            .arg(self.controller_port.to_string());
        Ok(command)
    }

    /// Polls until a client can bootstrap and sees a broker, or times out.
    async fn wait_ready(&mut self) -> io::Result<()> {
        let timeout = match self.kind {
            BrokerKind::Kafka => KAFKA_START_TIMEOUT,
            BrokerKind::Sluice => SLUICE_START_TIMEOUT,
        };
        let bootstrap = self.bootstrap();
        let child = &mut self.child;
        let gone = || {
            let status = child.as_mut()?.try_wait().ok()??;
            Some(format!("broker exited with {status}"))
        };
        crate::wait_until_answering(&bootstrap, timeout, READY_POLL, gone)
            .await
            .map_err(|error| self.startup_error(error.to_string()))
    }

    fn startup_error(&self, reason: String) -> io::Error {
        let log = std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default();
        let tail: String = log
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        io::Error::other(format!(
            "{:?} broker on port {}: {reason}\n{tail}",
            self.kind, self.port
        ))
    }

    /// SIGKILLs the broker: closing the guard's stdin makes it kill the
    /// broker and exit, and waiting for the guard waits for the broker.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts the shared broker on a runtime of its own (the caller's runtime
/// belongs to one test, which may end first).
fn start_shared() -> Result<TestBroker, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("runtime for the shared test broker: {error}"))?;
    runtime
        .block_on(TestBroker::launch(BrokerKind::from_env(), false, true))
        .map_err(|error| format!("shared test broker: {error}"))
}

/// The `sluice` binary built beside the running test: tests run from
/// `<target>/<profile>/deps/`, whatever `CARGO_TARGET_DIR` is; outside
/// that layout, the workspace's `target/debug/sluice`.
fn sluice_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|test| Some(test.parent()?.parent()?.join("sluice")))
        .filter(|binary| binary.is_file())
        .unwrap_or_else(|| repo_root().join("target/debug/sluice"))
}

/// The workspace root: the parent of this crate's manifest directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// A port that was free a moment ago on 127.0.0.1.
///
/// # Errors
/// When no socket can be bound.
pub fn free_port() -> io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// The settings `scripts/kafka.sh` writes, with `advertised_port` advertised.
fn kafka_properties(dir: &Path, port: u16, controller_port: u16, advertised_port: u16) -> String {
    format!(
        "process.roles=broker,controller\n\
         node.id=1\n\
         controller.quorum.voters=1@127.0.0.1:{controller_port}\n\
         listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}\n\
         advertised.listeners=PLAINTEXT://127.0.0.1:{advertised_port}\n\
         controller.listener.names=CONTROLLER\n\
         inter.broker.listener.name=PLAINTEXT\n\
         listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n\
         log.dirs={}/data\n\
         num.partitions=1\n\
         auto.create.topics.enable=false\n\
         offsets.topic.replication.factor=1\n\
         offsets.topic.num.partitions=5\n\
         transaction.state.log.replication.factor=1\n\
         transaction.state.log.min.isr=1\n\
         share.coordinator.state.topic.replication.factor=1\n\
         share.coordinator.state.topic.min.isr=1\n\
         group.initial.rebalance.delay.ms=0\n",
        dir.display()
    )
}

/// A TCP proxy on a free loopback port that forwards to one upstream and
/// can drop every open connection on command (new ones are accepted again).
#[derive(Debug)]
pub struct TcpProxy {
    port: u16,
    cuts: watch::Sender<u64>,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Starts forwarding `127.0.0.1:<free port>` to `upstream`.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start(upstream: String) -> io::Result<TcpProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (cuts, _) = watch::channel(0);
        let accepted = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(accept_loop(
            listener,
            upstream,
            cuts.clone(),
            accepted.clone(),
        ));
        Ok(TcpProxy {
            port,
            cuts,
            accepted,
            task,
        })
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Closes every connection open through the proxy right now.
    pub fn cut_all(&self) {
        self.cuts.send_modify(|generation| *generation += 1);
    }

    /// Starts cutting every connection each `period` until the returned
    /// guard is dropped (fault injection while a test produces or consumes).
    pub fn cutter(&self, period: Duration) -> Cutter {
        let cuts = self.cuts.clone();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                cuts.send_modify(|generation| *generation += 1);
            }
        });
        Cutter { task }
    }

    /// Times connections were cut (by [`TcpProxy::cut_all`] or a [`Cutter`]).
    pub fn cuts(&self) -> u64 {
        *self.cuts.borrow()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut_all();
    }
}

/// Cuts a proxy's connections periodically; stops when dropped.
#[derive(Debug)]
pub struct Cutter {
    task: JoinHandle<()>,
}

impl Drop for Cutter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: String,
    cuts: watch::Sender<u64>,
    accepted: Arc<AtomicUsize>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        accepted.fetch_add(1, Ordering::Relaxed);
        let upstream = upstream.clone();
        let mut cut = cuts.subscribe();
        cut.mark_unchanged();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                return;
            };
            let (mut client, mut server) = (client, server);
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                _ = cut.changed() => {}
            }
        });
    }
}

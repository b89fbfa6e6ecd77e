//! What every client command shares: the flags that say where the cluster is,
//! the async runtime, and the admin connection.
//!
//! Commands are synchronous `run(args)` functions; each builds its runtime
//! here so `main` stays a dispatcher and the broker keeps its own runtime.

use std::future::Future;

use anyhow::{Context, bail};
use clap::Args;
use sluice_client::{Admin, Client, ClientConfig, TopicMetadata};
use sluice_protocol::ErrorCode;

/// The default bootstrap address: a broker started with no flags.
pub const DEFAULT_BOOTSTRAP: &str = "127.0.0.1:9092";

/// Flags shared by every command that talks to a cluster.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Comma-separated `host:port` list used to find the cluster.
    #[arg(
        long,
        short = 'b',
        global = true,
        env = "SLUICE_BOOTSTRAP",
        default_value = DEFAULT_BOOTSTRAP,
        value_name = "HOST:PORT[,...]"
    )]
    pub bootstrap_server: String,
    /// Give up on an operation (retries included) after this many milliseconds.
    #[arg(long, global = true, default_value_t = 30_000, value_name = "MS")]
    pub timeout_ms: u64,
}

impl ClusterArgs {
    /// The client settings these flags ask for.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(self.bootstrap_server.clone());
        config.client_id = "sluice-cli".to_owned();
        config.default_api_timeout_ms = self.timeout_ms;
        config.request_timeout_ms = config.request_timeout_ms.min(self.timeout_ms);
        config.socket_connection_setup_timeout_ms = config
            .socket_connection_setup_timeout_ms
            .min(self.timeout_ms);
        config
    }

    /// Connects an admin client to the cluster.
    ///
    /// # Errors
    /// When no bootstrap server answers, with the address in the message.
    pub async fn connect_admin(&self) -> anyhow::Result<Admin> {
        Admin::connect(self.client_config())
            .await
            .with_context(|| format!("cannot reach the cluster at {}", self.bootstrap_server))
    }
}

/// The topic `produce` or `consume` works on, created on first use when the
/// broker allows it (`auto.create.topics.enable`), as Kafka's console tools
/// and Java clients do.
///
/// # Errors
/// One clear line when the broker does not create topics on use, refuses
/// the name, or cannot be reached.
pub async fn topic_created_on_use(client: &Client, topic: &str) -> anyhow::Result<TopicMetadata> {
    let found = client.lookup_topic_creating(topic).await?;
    match found.error {
        ErrorCode::None => Ok(found),
        ErrorCode::UnknownTopicOrPartition => bail!(
            "topic {topic} does not exist and the broker does not create topics on use \
             (auto.create.topics.enable=false); create it with `sluice topic create {topic}`"
        ),
        other => bail!("topic {topic}: {other}"),
    }
}

/// Exit status after a second SIGINT: the shell's 128 + signal number.
const EXIT_ON_SECOND_SIGINT: i32 = 128 + 2;
/// Exit status after a second SIGTERM.
const EXIT_ON_SECOND_SIGTERM: i32 = 128 + 15;

/// Raised by the first SIGINT (Ctrl-C) or SIGTERM, so a long-running
/// command stops the same way for both: it finishes what it started
/// (commits printed records, leaves its group, flushes read lines) and
/// exits 0, as Kafka's console tools do from their shutdown hooks. A
/// second signal exits at once.
#[derive(Debug, Clone)]
pub struct StopSignal {
    raised: tokio::sync::watch::Receiver<bool>,
}

impl StopSignal {
    /// Starts watching both signals; from now on they no longer kill the
    /// process. Call it first thing inside the runtime, so a signal that
    /// arrives during setup is seen too.
    ///
    /// # Errors
    /// When the signal handlers cannot be installed.
    pub fn watch() -> anyhow::Result<StopSignal> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        let (raise, raised) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => tracing::debug!("SIGINT: stopping"),
                _ = terminate.recv() => tracing::debug!("SIGTERM: stopping"),
            }
            let _ = raise.send(true);
            // A second signal means "now": do not wait for a broker that
            // may never answer the final commit or the last deliveries.
            let status = tokio::select! {
                _ = interrupt.recv() => EXIT_ON_SECOND_SIGINT,
                _ = terminate.recv() => EXIT_ON_SECOND_SIGTERM,
            };
            std::process::exit(status);
        });
        Ok(StopSignal { raised })
    }

    /// Whether a stop signal has arrived.
    pub fn is_raised(&self) -> bool {
        *self.raised.borrow()
    }

    /// Resolves once a stop signal has arrived.
    pub async fn raised(&mut self) {
        // An error means the watching task is gone, so no signal can come:
        // never resolve, as if none ever arrives.
        if self.raised.wait_for(|raised| *raised).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Runs one command's future on a fresh single-threaded runtime.
///
/// # Errors
/// When the runtime cannot start, or what the future returns.
pub fn block_on<T>(future: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(future)
}

/// `--acks` values, as Kafka spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AcksArg {
    /// No response; records may be lost silently.
    #[value(name = "0")]
    Zero,
    /// The leader has written the record.
    #[value(name = "1")]
    One,
    /// Every in-sync replica has the record.
    #[value(name = "all", alias = "-1")]
    All,
}

impl From<AcksArg> for sluice_producer::Acks {
    fn from(acks: AcksArg) -> Self {
        match acks {
            AcksArg::Zero => sluice_producer::Acks::None,
            AcksArg::One => sluice_producer::Acks::Leader,
            AcksArg::All => sluice_producer::Acks::All,
        }
    }
}

/// `--compression` values, Kafka's `compression.type` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompressionArg {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl CompressionArg {
    /// Kafka's `compression.type` name.
    pub fn name(self) -> &'static str {
        match self {
            CompressionArg::None => "none",
            CompressionArg::Gzip => "gzip",
            CompressionArg::Snappy => "snappy",
            CompressionArg::Lz4 => "lz4",
            CompressionArg::Zstd => "zstd",
        }
    }
}

//! `sluice broker`: run a broker until SIGINT or SIGTERM.
//!
//! Configuration is layered: built-in defaults, then `--config FILE` (TOML,
//! see `config/single.toml`), then the flags.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use sluice_broker::BrokerConfig;
use tracing::info;

/// Flags of `sluice broker`.
#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// TOML configuration file (e.g. `config/single.toml`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on (`listeners`), e.g. `127.0.0.1:9092`.
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// Address clients are told to connect to (`advertised.listeners`).
    #[arg(long, value_name = "HOST:PORT")]
    advertised_listener: Option<String>,
    /// Data directory (`log.dirs`).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// This broker's id (`node.id`).
    #[arg(long)]
    node_id: Option<i32>,
    /// Address the controller listens on for the other controllers
    /// (`controller_listener`); only on a node among the quorum voters.
    #[arg(long, value_name = "HOST:PORT")]
    controller_listen: Option<String>,
    /// The controller quorum's voters (`controller.quorum.voters`), e.g.
    /// `1@127.0.0.1:19093,2@127.0.0.1:29093,3@127.0.0.1:39093`.
    #[arg(long, value_name = "ID@HOST:PORT,...")]
    controller_quorum_voters: Option<String>,
}

impl BrokerArgs {
    fn into_config(self) -> anyhow::Result<BrokerConfig> {
        let mut config = match &self.config {
            Some(path) => BrokerConfig::from_file(path)?,
            None => BrokerConfig::default(),
        };
        if let Some(listen) = self.listen {
            config.listeners = listen;
        }
        if let Some(advertised) = self.advertised_listener {
            config.advertised_listeners = Some(advertised);
        }
        if let Some(data_dir) = self.data_dir {
            config.data_dir = data_dir;
        }
        if let Some(node_id) = self.node_id {
            config.node_id = node_id;
        }
        if let Some(listener) = self.controller_listen {
            config.controller_listener = Some(listener);
        }
        if let Some(voters) = self.controller_quorum_voters {
            config.controller_quorum_voters = Some(voters);
        }
        // Refuse inconsistent cluster settings before anything starts.
        config.controller_role()?;
        Ok(config)
    }
}

/// Runs the broker until a shutdown signal, then shuts down gracefully.
///
/// # Errors
/// Bad configuration, an unusable data directory or address, or an unclean
/// shutdown.
pub fn run(args: BrokerArgs) -> anyhow::Result<()> {
    let config = args.into_config()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        // Watch the signals before the broker announces itself, so a SIGTERM
        // that follows "listening on" at once still shuts down gracefully.
        let shutdown = ShutdownSignals::watch()?;
        let handle = sluice_broker::start(config).await?;
        shutdown.wait().await;
        info!("shutting down");
        handle.shutdown().await?;
        info!("shutdown complete");
        Ok(())
    })
}

/// SIGINT and SIGTERM, registered as soon as this is created.
struct ShutdownSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn watch() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("cannot watch SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

//! The server loop: accept connections, spawn a task each, shut down gracefully.
//!
//! Shutdown follows mini-redis: a watch channel tells every connection to stop
//! reading; each connection answers what it already read and then drops its
//! clone of an mpsc sender, so the loop knows all connections are done when
//! the receiver sees the channel close. Only then are the logs flushed and the
//! clean-shutdown marker written.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sluice_controller::{QuorumConfig, RaftQuorum};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::broker::Broker;
use crate::config::{BrokerConfig, ControllerRole};
use crate::connection::serve_connection;
use crate::error::BrokerError;

/// Longest pause between accept retries after repeated accept errors.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(8);

/// Serves `listener` until `shutdown` completes, then drains connections and
/// closes the broker's logs.
///
/// # Errors
/// [`BrokerError`] when the logs cannot be closed cleanly.
pub async fn run(
    listener: TcpListener,
    broker: Arc<Broker>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BrokerError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let ticker = tokio::spawn(crate::group_service::run_ticker(broker.clone()));
    let maintenance = tokio::spawn(crate::maintenance::run_maintenance(broker.clone()));
    tokio::select! {
        () = accept_loop(&listener, &broker, &stop_rx, &done_tx) => {}
        () = shutdown => info!("shutdown requested: no longer accepting connections"),
    }
    drop(listener);
    let _ = stop_tx.send(true);
    broker.begin_shutdown();
    drop(done_tx);
    // Every connection task holds a sender; recv returns None once all are done.
    let _ = done_rx.recv().await;
    info!("all connections drained");
    if let Some(controller) = broker.controller() {
        controller.shutdown().await;
        info!("controller quorum stopped");
    }
    ticker.abort();
    // Let a retention pass or flush that is under way finish before closing logs.
    let _ = maintenance.await;
    let broker_for_close = broker.clone();
    tokio::task::spawn_blocking(move || broker_for_close.shutdown())
        .await
        .map_err(|e| BrokerError::Task(e.to_string()))?
}

async fn accept_loop(
    listener: &TcpListener,
    broker: &Arc<Broker>,
    stop: &watch::Receiver<bool>,
    done: &mpsc::Sender<()>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match listener.accept().await {
            Ok((socket, peer)) => {
                backoff = Duration::from_millis(100);
                spawn_connection(broker.clone(), socket, peer, stop.clone(), done.clone());
            }
            Err(e) => {
                warn!(error = %e, backoff_ms = backoff.as_millis() as u64, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
            }
        }
    }
}

fn spawn_connection(
    broker: Arc<Broker>,
    socket: TcpStream,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
) {
    let _ = socket.set_nodelay(true);
    tokio::spawn(async move {
        serve_connection(broker, socket, peer, stop).await;
        drop(done);
    });
}

/// A broker running in the background (used by the CLI and by tests).
#[derive(Debug)]
pub struct BrokerHandle {
    local_addr: SocketAddr,
    broker: Arc<Broker>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), BrokerError>>,
}

/// Binds the listener, opens the data directory and starts serving.
///
/// When `advertised_listeners` is unset the bound address is advertised, so
/// a `:0` listener advertises its real port. A node named in
/// `controller_quorum_voters` also binds its `controller_listener` and runs
/// its controller quorum (combined mode), files under
/// `<data_dir>/__cluster_metadata/`, stopped after the connections drain.
///
/// # Errors
/// [`BrokerError::Cluster`] for inconsistent cluster settings (checked
/// before anything is bound or opened), [`BrokerError::Bind`] when an
/// address cannot be bound, [`BrokerError::Controller`] when the quorum does
/// not start, or any error of [`Broker::open`].
pub async fn start(mut config: BrokerConfig) -> Result<BrokerHandle, BrokerError> {
    let role = config.controller_role()?;
    let listener = TcpListener::bind(&config.listeners)
        .await
        .map_err(|source| BrokerError::Bind {
            address: config.listeners.clone(),
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| BrokerError::Bind {
        address: config.listeners.clone(),
        source,
    })?;
    if config.advertised_listeners.is_none() {
        config.advertised_listeners = Some(local_addr.to_string());
    }
    let controller_listener = match &role {
        Some(role) => Some(bind(&role.listener).await?),
        None => None,
    };
    let metadata_dir = config.data_dir.join(CLUSTER_METADATA_DIR);
    let broker = tokio::task::spawn_blocking(move || Broker::open(config))
        .await
        .map_err(|e| BrokerError::Task(e.to_string()))??;
    if let (Some(role), Some(listener)) = (role, controller_listener)
        && let Err(error) = start_controller(&broker, role, listener, metadata_dir).await
    {
        // No half-started node: close the logs just opened.
        let broker = broker.clone();
        let _ = tokio::task::spawn_blocking(move || broker.shutdown()).await;
        return Err(error);
    }
    info!(address = %local_addr, "listening on {local_addr}");
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(run(listener, Arc::clone(&broker), async move {
        let _ = stop_rx.await;
    }));
    Ok(BrokerHandle {
        local_addr,
        broker,
        stop: Some(stop_tx),
        task,
    })
}

/// The controller quorum's directory inside the data directory (no
/// `-<partition>` suffix, so the log manager does not take it for a
/// partition).
pub const CLUSTER_METADATA_DIR: &str = "__cluster_metadata";

async fn bind(address: &str) -> Result<TcpListener, BrokerError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| BrokerError::Bind {
            address: address.to_owned(),
            source,
        })
}

async fn start_controller(
    broker: &Broker,
    role: ControllerRole,
    listener: TcpListener,
    dir: std::path::PathBuf,
) -> Result<(), BrokerError> {
    let voters = role
        .voters
        .iter()
        .map(|(id, address)| (u64::from(id.unsigned_abs()), address.clone()))
        .collect();
    let config = QuorumConfig::new(u64::from(role.node_id.unsigned_abs()), voters, dir);
    let quorum = RaftQuorum::start(config, listener)
        .await
        .map_err(BrokerError::Controller)?;
    info!(
        node_id = role.node_id,
        address = %role.listener,
        voters = ?role.voters.keys().collect::<Vec<_>>(),
        "controller quorum started on {}",
        role.listener
    );
    if let Err(quorum) = broker.set_controller(quorum) {
        quorum.shutdown().await;
    }
    Ok(())
}

impl BrokerHandle {
    /// The address the broker listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The running broker's shared state, for observation.
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Shuts down gracefully and waits until the logs are closed.
    ///
    /// # Errors
    /// [`BrokerError`] when the logs could not be closed cleanly.
    pub async fn shutdown(mut self) -> Result<(), BrokerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.join().await
    }

    async fn join(self) -> Result<(), BrokerError> {
        match self.task.await {
            Ok(result) => result,
            Err(join_error) => Err(BrokerError::Task(join_error.to_string())),
        }
    }
}

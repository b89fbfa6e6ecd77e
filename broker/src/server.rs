//! The server loop: accept connections, spawn a task each, shut down gracefully.
//!
//! Start-up opens the data directory first (recovery may take a while after
//! a crash) and only then listens, so a client never reaches a port that
//! nobody serves (Kafka starts its acceptors last too). The address is bound
//! (without listening) before the data directory is opened, so a taken
//! address fails at once with a clear error and a `:0` port is known
//! before the broker advertises it.
//!
//! Each accepted connection must get past the connection quotas
//! (`max.connections`, `max.connections.per.ip`); one over a quota is closed
//! at once, and refusals are logged at most once per interval, with a count.
//!
//! Shutdown follows mini-redis: a watch channel tells every connection to stop
//! reading; each connection answers what it already read and then drops its
//! clone of an mpsc sender, so the loop knows all connections are done when
//! the receiver sees the channel close. Only then are the logs flushed and the
//! clean-shutdown marker written. The background tasks (group ticker, log
//! maintenance) wait for the broker's closing flag by *value*, not for a
//! change of it, so a shutdown that begins before such a task first runs
//! still stops it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_controller::{QuorumConfig, RaftQuorum};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::broker::Broker;
use crate::config::{BrokerConfig, ControllerRole};
use crate::connection::serve_connection;
use crate::error::BrokerError;
use crate::limits::ServerLimits;

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
    let limits = Arc::new(ServerLimits::new(broker.config()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let ticker = tokio::spawn(crate::group_service::run_ticker(broker.clone()));
    let maintenance = tokio::spawn(crate::maintenance::run_maintenance(broker.clone()));
    tokio::select! {
        () = accept_loop(&listener, &broker, &limits, &stop_rx, &done_tx) => {}
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
    limits: &Arc<ServerLimits>,
    stop: &watch::Receiver<bool>,
    done: &mpsc::Sender<()>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match listener.accept().await {
            Ok((socket, peer)) => {
                backoff = Duration::from_millis(100);
                let permit = match limits.connections.admit(peer.ip()) {
                    Ok(permit) => permit,
                    Err(refusal) => {
                        // Dropping the socket closes it right after accept.
                        drop(socket);
                        if let Some(refused) = limits.refused_log.event(Instant::now()) {
                            warn!(
                                %peer,
                                %refusal,
                                refused_since_last_line = refused,
                                "refusing connections (at most one such line per {}s)",
                                crate::limits::LOG_INTERVAL.as_secs()
                            );
                        }
                        continue;
                    }
                };
                let broker = broker.clone();
                let limits = limits.clone();
                let (stop, done) = (stop.clone(), done.clone());
                let _ = socket.set_nodelay(true);
                tokio::spawn(async move {
                    serve_connection(broker, limits, socket, peer, stop).await;
                    drop(permit);
                    drop(done);
                });
            }
            Err(e) => {
                warn!(error = %e, backoff_ms = backoff.as_millis() as u64, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
            }
        }
    }
}

/// A broker running in the background (used by the CLI and by tests).
#[derive(Debug)]
pub struct BrokerHandle {
    local_addr: SocketAddr,
    broker: Arc<Broker>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), BrokerError>>,
}

/// Reserves the listener's address, opens the data directory, then listens
/// and starts serving: the port accepts connections only once the broker
/// can answer them.
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
/// address cannot be bound (checked before the data directory is opened),
/// [`BrokerError::Controller`] when the quorum does not start, or any error
/// of [`Broker::open`].
pub async fn start(mut config: BrokerConfig) -> Result<BrokerHandle, BrokerError> {
    let role = config.controller_role()?;
    let address = config.listeners.clone();
    let bind_error = |source| BrokerError::Bind {
        address: address.clone(),
        source,
    };
    let socket = bind_without_listening(&config.listeners)
        .await
        .map_err(bind_error)?;
    let local_addr = socket.local_addr().map_err(bind_error)?;
    if config.advertised_listeners.is_none() {
        config.advertised_listeners = Some(local_addr.to_string());
    }
    let controller_listener = match &role {
        Some(role) => Some(bind(&role.listener).await?),
        None => None,
    };
    let metadata_dir = config.data_dir.join(CLUSTER_METADATA_DIR);
    let backlog = config.socket_listen_backlog_size;
    let broker = tokio::task::spawn_blocking(move || Broker::open(config))
        .await
        .map_err(|e| BrokerError::Task(e.to_string()))??;
    let started = match (role, controller_listener) {
        (Some(role), Some(listener)) => {
            start_controller(&broker, role, listener, metadata_dir).await
        }
        _ => Ok(()),
    };
    let listener = started.and_then(|()| socket.listen(backlog).map_err(bind_error));
    let listener = match listener {
        Ok(listener) => listener,
        Err(error) => {
            // Nothing was served: stop the quorum if it started and close
            // the logs, so no half-started node is left and the next start
            // is clean.
            if let Some(controller) = broker.controller() {
                controller.shutdown().await;
            }
            let closing = Arc::clone(&broker);
            let _ = tokio::task::spawn_blocking(move || closing.shutdown()).await;
            return Err(error);
        }
    };
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

/// A socket bound to `address` that does not listen yet: the address is
/// ours (a second broker on it fails here), but connections are refused.
async fn bind_without_listening(address: &str) -> std::io::Result<TcpSocket> {
    let mut last_error = None;
    for candidate in tokio::net::lookup_host(address).await? {
        let socket = if candidate.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        // As `TcpListener::bind` does: a restart may reuse a port whose
        // old connections linger in TIME_WAIT.
        socket.set_reuseaddr(true)?;
        match socket.bind(candidate) {
            Ok(()) => return Ok(socket),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the address resolves to nothing",
        )
    }))
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

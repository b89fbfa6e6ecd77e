//! [`RaftQuorum`]: one controller node of the metadata quorum.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use openraft::async_runtime::WatchReceiver;
use openraft::errors::{ClientWriteError, RaftError};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::log_store::LogStore;
use super::network::{NetworkFactory, serve};
use super::state_machine::StateMachine;
use super::types::{MetadataBatch, Raft};
use super::{CommittedBatch, MetadataQuorum, QuorumError, QuorumStatus, VoterProgress};
use crate::image::MetadataImage;
use crate::raft_log::{RaftLogFile, RaftStorageConfig};
use crate::records::MetadataRecord;
use crate::snapshot::SnapshotStore;

/// How to start one controller node.
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    /// This node's id (`node.id`).
    pub node_id: u64,
    /// Every voter's id and controller address
    /// (`controller.quorum.voters`, `1@127.0.0.1:19093,...`), this node
    /// included.
    pub voters: BTreeMap<u64, String>,
    /// Where the Raft log, snapshots and vote live (created if missing).
    pub dir: PathBuf,
    /// Limits of the log and snapshot files.
    pub storage: RaftStorageConfig,
    /// Leader heartbeat period in ms. Default 100.
    pub heartbeat_interval_ms: u64,
    /// Election timeout range in ms (a follower that hears nothing for a
    /// random time in it campaigns). Default 500..1000: a dead active
    /// controller is replaced in about a second.
    pub election_timeout_ms: (u64, u64),
    /// Largest frame between controllers. Default 256 MiB (snapshots travel
    /// whole).
    pub max_frame_bytes: u32,
    /// Committed batches buffered per subscriber before it lags. Default
    /// 1024.
    pub subscriber_capacity: usize,
}

impl QuorumConfig {
    /// A config with the defaults above.
    pub fn new(node_id: u64, voters: BTreeMap<u64, String>, dir: PathBuf) -> Self {
        Self {
            node_id,
            voters,
            dir,
            storage: RaftStorageConfig::default(),
            heartbeat_interval_ms: 100,
            election_timeout_ms: (500, 1000),
            max_frame_bytes: 256 * 1024 * 1024,
            subscriber_capacity: 1024,
        }
    }
}

/// One controller node: openraft over our log files and TCP transport.
#[derive(Debug)]
pub struct RaftQuorum {
    node_id: u64,
    raft: Raft,
    state_machine: StateMachine,
    committed: broadcast::Sender<CommittedBatch>,
    shutdown: watch::Sender<bool>,
    server: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl RaftQuorum {
    /// Starts the node, serving other controllers on `listener` (bound by the
    /// caller, so tests can use port 0). A node whose log is empty proposes
    /// the configured voters as the first membership; openraft accepts the
    /// same proposal from every voter.
    ///
    /// # Errors
    ///
    /// [`QuorumError::Unavailable`] when this node is not among the voters,
    /// the files cannot be opened or Raft does not start.
    pub async fn start(config: QuorumConfig, listener: TcpListener) -> Result<Self, QuorumError> {
        let unavailable = |e: &dyn std::fmt::Display| QuorumError::Unavailable(e.to_string());
        if !config.voters.contains_key(&config.node_id) {
            return Err(QuorumError::Unavailable(format!(
                "node {} is not among the voters {:?}",
                config.node_id,
                config.voters.keys().collect::<Vec<_>>()
            )));
        }
        std::fs::create_dir_all(&config.dir).map_err(|e| unavailable(&e))?;
        let dir = config.dir.clone();
        let storage = config.storage.clone();
        let (log, recovery) = tokio::task::spawn_blocking(move || RaftLogFile::open(&dir, storage))
            .await
            .map_err(|e| unavailable(&e))?
            .map_err(|e| unavailable(&e))?;
        tracing::info!(node_id = config.node_id, ?recovery, "controller log opened");
        let store = SnapshotStore::new(&config.dir, config.storage.clone());
        let (committed, _) = broadcast::channel(config.subscriber_capacity.max(1));
        let state_machine =
            StateMachine::open(store.clone(), committed.clone()).map_err(|e| unavailable(&e))?;
        let raft_config = openraft::Config {
            cluster_name: "sluice-controller".into(),
            heartbeat_interval: config.heartbeat_interval_ms,
            election_timeout_min: config.election_timeout_ms.0,
            election_timeout_max: config.election_timeout_ms.1,
            ..Default::default()
        }
        .validate()
        .map_err(|e| unavailable(&e))?;
        let network = NetworkFactory {
            max_frame_bytes: config.max_frame_bytes,
        };
        let log_store = LogStore::new(log, store);
        let raft = Raft::new(
            config.node_id,
            Arc::new(raft_config),
            network,
            log_store,
            state_machine.clone(),
        )
        .await
        .map_err(|e| unavailable(&e))?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let server = tokio::spawn(serve(
            listener,
            raft.clone(),
            config.max_frame_bytes,
            shutdown_rx,
        ));
        let quorum = Self {
            node_id: config.node_id,
            raft,
            state_machine,
            committed,
            shutdown,
            server: std::sync::Mutex::new(Some(server)),
        };
        if !quorum
            .raft
            .is_initialized()
            .await
            .map_err(|e| unavailable(&e))?
        {
            let members: BTreeMap<u64, openraft::BasicNode> = config
                .voters
                .iter()
                .map(|(id, addr)| (*id, openraft::BasicNode { addr: addr.clone() }))
                .collect();
            if let Err(error) = quorum.raft.initialize(members).await {
                // Another voter's membership got here first: fine.
                tracing::debug!(%error, "controller quorum already initialized");
            }
        }
        Ok(quorum)
    }

    /// Stops Raft and the listener. Files stay as they are. Calling it
    /// again does nothing more.
    pub async fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        let server = self
            .server
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(server) = server else {
            return;
        };
        if let Err(error) = self.raft.shutdown().await {
            tracing::warn!(%error, "controller raft did not shut down cleanly");
        }
        server.abort();
        let _ = server.await;
    }
}

impl MetadataQuorum for RaftQuorum {
    async fn propose(&self, records: Vec<MetadataRecord>) -> Result<u64, QuorumError> {
        match self.raft.client_write(MetadataBatch(records)).await {
            Ok(response) => Ok(response.log_id.index),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                Err(QuorumError::NotLeader {
                    leader: forward.leader_id,
                })
            }
            Err(error) => Err(QuorumError::Unavailable(error.to_string())),
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<CommittedBatch> {
        self.committed.subscribe()
    }

    fn image(&self) -> MetadataImage {
        self.state_machine.image()
    }

    fn status(&self) -> QuorumStatus {
        let metrics = self.raft.metrics().borrow_watched().clone();
        QuorumStatus {
            node_id: self.node_id,
            leader: metrics.current_leader,
            voters: metrics.membership_config.voter_ids().collect(),
            term: metrics.current_term,
            committed_offset: metrics.cluster_committed.map(|id| id.index),
            applied_offset: self.state_machine.applied_offset(),
            last_log_offset: metrics.last_log_index,
            replication: replication(&metrics),
        }
    }
}

/// Each voter's matched offset and last acknowledgement, from the leader's
/// metrics (empty on other nodes).
fn replication(metrics: &openraft::RaftMetrics<super::types::TypeConfig>) -> Vec<VoterProgress> {
    let Some(matched) = &metrics.replication else {
        return Vec::new();
    };
    matched
        .iter()
        .map(|(node_id, log_id)| {
            let last_ack_ms_ago = if *node_id == metrics.id {
                Some(0)
            } else {
                metrics
                    .heartbeat
                    .as_ref()
                    .and_then(|acks| acks.get(node_id).copied().flatten())
                    .map(|at| {
                        u64::try_from(openraft::Instant::elapsed(&*at).as_millis())
                            .unwrap_or(u64::MAX)
                    })
            };
            VoterProgress {
                node_id: *node_id,
                last_offset: log_id.as_ref().map(|id| id.index),
                last_ack_ms_ago,
            }
        })
        .collect()
}

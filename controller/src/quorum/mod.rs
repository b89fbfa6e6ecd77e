//! The metadata quorum: Raft (openraft, pinned exactly) behind one small
//! trait of ours.
//!
//! [`MetadataQuorum`] is all the rest of Sluice sees: propose one decision's
//! records and learn the offset they committed at, subscribe to committed
//! batches, read the applied image, ask who leads. [`RaftQuorum`] implements
//! it with openraft; everything openraft-specific lives in this module, so an
//! openraft upgrade touches nothing else.
//!
//! - `types`: the openraft type configuration (`u64` node ids, the standard
//!   leader id so a log id is exactly (term, index), entries carrying a
//!   [`MetadataBatch`]).
//! - `log_store`: openraft's `RaftLogStorage` over [`crate::RaftLogFile`],
//!   with the vote in [`crate::SnapshotStore`]; file I/O on blocking threads.
//! - `state_machine`: openraft's `RaftStateMachine`: committed entries are
//!   decoded and applied to a [`crate::MetadataImage`], published to
//!   subscribers; snapshots are the image, saved durably.
//! - `network`: the transport between controllers: its own TCP listener,
//!   length-prefixed JSON frames with a size limit, one connection per peer
//!   reused across RPCs.
//! - `raft_quorum`: [`RaftQuorum`]: starts all of the above for one node.

mod log_store;
mod network;
mod raft_quorum;
mod state_machine;
mod types;

#[cfg(test)]
mod suite_tests;

use std::future::Future;

use tokio::sync::broadcast;

use crate::image::MetadataImage;
use crate::records::MetadataRecord;

pub use raft_quorum::{QuorumConfig, RaftQuorum};
pub use types::MetadataBatch;

/// One committed entry's records and the offset (Raft index) it committed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedBatch {
    /// The metadata log offset of the entry.
    pub offset: u64,
    /// Its records, in order.
    pub records: Vec<MetadataRecord>,
}

/// Who leads the quorum and how far it has committed, as this node knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumStatus {
    /// This node's id.
    pub node_id: u64,
    /// The active controller (Raft leader), if known.
    pub leader: Option<u64>,
    /// The voters of the current configuration.
    pub voters: Vec<u64>,
    /// The Raft term this node is in.
    pub term: u64,
    /// The last offset this node knows committed.
    pub committed_offset: Option<u64>,
    /// The last offset applied to this node's image.
    pub applied_offset: Option<u64>,
    /// The last offset in this node's own log (its log end offset - 1).
    pub last_log_offset: Option<u64>,
    /// How far each voter has replicated, as the leader tracks it; empty on
    /// a node that is not the leader (only the leader knows).
    pub replication: Vec<VoterProgress>,
}

/// One voter's replication progress as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoterProgress {
    /// The voter's node id.
    pub node_id: u64,
    /// The last offset the leader knows the voter holds, if any.
    pub last_offset: Option<u64>,
    /// Milliseconds since the voter last acknowledged the leader (a
    /// replication or heartbeat answer), if it ever did; 0 for the leader.
    pub last_ack_ms_ago: Option<u64>,
}

/// Why a proposal did not commit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuorumError {
    /// This node is not the active controller (Kafka: NOT_CONTROLLER).
    #[error("not the active controller; leader is {leader:?}")]
    NotLeader {
        /// The leader, if known.
        leader: Option<u64>,
    },
    /// The quorum is shutting down or failed.
    #[error("metadata quorum unavailable: {0}")]
    Unavailable(String),
}

/// The controller quorum as the rest of Sluice uses it.
pub trait MetadataQuorum: Send + Sync {
    /// Proposes one decision's records as one entry; resolves with its offset
    /// once committed (and applied here).
    fn propose(
        &self,
        records: Vec<MetadataRecord>,
    ) -> impl Future<Output = Result<u64, QuorumError>> + Send;

    /// Every batch committed from now on, in order. A receiver that lags
    /// behind loses batches (`RecvError::Lagged`), and a node that installs
    /// a snapshot from the leader skips the batches it covers (offsets jump);
    /// either way the receiver must start again from
    /// [`MetadataQuorum::image`].
    fn subscribe(&self) -> broadcast::Receiver<CommittedBatch>;

    /// A copy of the image built from every applied entry.
    fn image(&self) -> MetadataImage;

    /// Leader, voters and offsets as this node knows them.
    fn status(&self) -> QuorumStatus;
}

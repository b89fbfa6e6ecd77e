//! openraft's type configuration for the metadata quorum.

use std::fmt;
use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::records::MetadataRecord;

/// The records of one controller decision: one Raft entry's application
/// data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataBatch(pub Vec<MetadataRecord>);

impl fmt::Display for MetadataBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} metadata records", self.0.len())
    }
}

/// The bytes of a snapshot in flight.
pub(crate) type SnapshotData = Cursor<Vec<u8>>;

openraft::declare_raft_types!(
    /// The metadata quorum's Raft types: the standard leader id makes a log
    /// id exactly (term, index), as the log file stores it.
    pub(crate) TypeConfig:
        D = MetadataBatch,
        R = (),
        NodeId = u64,
        Node = openraft::BasicNode,
        LeaderId = openraft::impls::leader_id_std::LeaderId<u64, u64>,
);

pub(crate) type Entry = <TypeConfig as openraft::RaftTypeConfig>::Entry;
pub(crate) type LogIdOf = openraft::alias::LogIdOf<TypeConfig>;
pub(crate) type Vote = <TypeConfig as openraft::RaftTypeConfig>::Vote;
pub(crate) type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
pub(crate) type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
pub(crate) type Snapshot = openraft::alias::SnapshotOf<TypeConfig, SnapshotData>;
pub(crate) type Raft = openraft::Raft<TypeConfig, super::state_machine::StateMachine>;

/// Our log id from openraft's.
pub(crate) fn to_ours(id: &LogIdOf) -> crate::raft_log::LogId {
    crate::raft_log::LogId {
        term: id.leader_id.term,
        index: id.index,
    }
}

/// openraft's log id from ours.
pub(crate) fn to_openraft(id: crate::raft_log::LogId) -> LogIdOf {
    openraft::LogId::new_term_index(id.term, id.index)
}

//! Sluice's cluster controller (issue 18, first steps).
//!
//! (The crate map is written out at the end of this work; see below.)
#![deny(missing_docs)]

mod alter_partition;
mod brokers;
mod checked_file;
mod codec;
mod config;
mod election;
mod error;
mod image;
mod messages;
mod pending;
mod placement;
mod producer_ids;
mod raft_log;
mod records;
mod snapshot;
mod state;
mod storage_error;
mod topics;

#[cfg(test)]
mod alter_partition_tests;
#[cfg(test)]
mod brokers_tests;
#[cfg(test)]
mod codec_tests;
#[cfg(test)]
mod image_tests;
#[cfg(test)]
mod property_tests;
#[cfg(test)]
mod raft_log_tests;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod topics_tests;

pub use codec::{CodecError, RECORD_FORMAT_VERSION, decode_batch, encode_batch};
pub use config::ControllerConfig;
pub use error::ApplyError;
pub use image::{BrokerRegistration, MetadataImage, PartitionState, TopicImage};
pub use messages::{
    AllocateProducerIdsRequest, AllocateProducerIdsResponse, AlterPartitionItem,
    AlterPartitionRequest, AlterPartitionResponse, AlterPartitionResult, CreatableTopic,
    CreatePartitionsRequest, CreatePartitionsTopic, CreateTopicsRequest, CreatedTopic, Decision,
    DeleteTopicsRequest, HeartbeatRequest, HeartbeatResponse, RegisterBrokerRequest,
    RegisterBrokerResponse, TopicOutcome,
};
pub use placement::{PlacementBroker, place_replicas};
pub use raft_log::{
    LogEntry, LogId, LogRecovery, RAFT_LOG_FILE_NAME, RaftLogFile, RaftStorageConfig,
};
pub use records::{
    BrokerEndpoint, BrokerEpochRef, BrokerId, ConfigRecord, ConfigResource, MetadataRecord,
    NO_LEADER, PartitionChangeRecord, PartitionRecord, ProducerIdsRecord, RegisterBrokerRecord,
    TopicRecord,
};
pub use snapshot::{Snapshot, SnapshotStore, VOTE_FILE_NAME};
pub use state::ControllerState;
pub use storage_error::StorageError;

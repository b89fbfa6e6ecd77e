//! What the controller's decisions take and answer.
//!
//! Plain structs, not Kafka's generated messages: the broker shell maps
//! BrokerRegistration, BrokerHeartbeat, CreateTopics, ... into these and the
//! answers back, so this crate needs no codec.

use std::collections::BTreeMap;

use sluice_protocol::ErrorCode;
use uuid::Uuid;

use crate::records::{BrokerEndpoint, BrokerId, MetadataRecord};

/// A decision: the records to commit and the answer to send once they are.
///
/// The shell proposes `records` as one Raft entry, applies them to the
/// controller's image, and sends `response` when the entry is committed (or
/// an error such as NOT_CONTROLLER if it is not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<T> {
    /// The records to commit together, in order (may be empty).
    pub records: Vec<MetadataRecord>,
    /// The answer to the request.
    pub response: T,
}

/// BrokerRegistration: a broker announces itself at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterBrokerRequest {
    /// The broker's id (`node.id`).
    pub broker_id: BrokerId,
    /// A fresh id per process start.
    pub incarnation_id: Uuid,
    /// The listeners clients use.
    pub endpoints: Vec<BrokerEndpoint>,
    /// The broker's rack (`broker.rack`).
    pub rack: Option<String>,
}

/// The answer to a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisterBrokerResponse {
    /// NONE, or why the registration was refused.
    pub error: ErrorCode,
    /// The registration's broker epoch (-1 on error).
    pub broker_epoch: i64,
}

/// BrokerHeartbeat: a broker says it is alive and how far it has read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatRequest {
    /// The broker's id.
    pub broker_id: BrokerId,
    /// Its registration's epoch.
    pub broker_epoch: i64,
    /// The metadata log offset it has applied.
    pub current_metadata_offset: i64,
    /// The broker wants to be fenced (it cannot keep up).
    pub want_fence: bool,
    /// The broker is shutting down (SIGTERM): move its leaderships off.
    pub want_shut_down: bool,
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatResponse {
    /// NONE, STALE_BROKER_EPOCH or BROKER_ID_NOT_REGISTERED.
    pub error: ErrorCode,
    /// The broker has read the metadata log up to its registration.
    pub is_caught_up: bool,
    /// The broker is fenced after this decision.
    pub is_fenced: bool,
    /// The broker leads nothing any more and may exit.
    pub should_shut_down: bool,
}

/// One topic of a CreateTopics request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreatableTopic {
    /// The topic's name.
    pub name: String,
    /// Partitions, or -1 for `num.partitions`.
    pub num_partitions: i32,
    /// Replication factor, or -1 for `default.replication.factor`.
    pub replication_factor: i16,
    /// Explicit replica lists by partition (then both counts must be -1).
    pub assignments: BTreeMap<i32, Vec<BrokerId>>,
    /// Topic configs.
    pub configs: BTreeMap<String, String>,
}

/// CreateTopics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateTopicsRequest {
    /// The topics to create.
    pub topics: Vec<CreatableTopic>,
    /// Check only; create nothing.
    pub validate_only: bool,
}

/// The outcome for one topic of a CreateTopics request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTopic {
    /// The topic's name.
    pub name: String,
    /// NONE, or why it was not created.
    pub error: ErrorCode,
    /// A human-readable reason with the error.
    pub message: Option<String>,
    /// The new topic's id (nil on error).
    pub topic_id: Uuid,
    /// Its partition count (-1 on error).
    pub num_partitions: i32,
    /// Its replication factor (-1 on error).
    pub replication_factor: i16,
}

/// One topic of a CreatePartitions request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePartitionsTopic {
    /// The topic's name.
    pub name: String,
    /// The total partition count wanted.
    pub count: i32,
    /// Replica lists for the new partitions, or `None` to place them.
    pub assignments: Option<Vec<Vec<BrokerId>>>,
}

/// CreatePartitions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreatePartitionsRequest {
    /// The topics to grow.
    pub topics: Vec<CreatePartitionsTopic>,
    /// Check only; create nothing.
    pub validate_only: bool,
}

/// The outcome for one topic of a CreatePartitions or DeleteTopics request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicOutcome {
    /// The topic's name (empty when deleted by an unknown id).
    pub name: String,
    /// The topic's id (nil when unknown).
    pub topic_id: Uuid,
    /// NONE, or why it failed.
    pub error: ErrorCode,
    /// A human-readable reason with the error.
    pub message: Option<String>,
}

/// DeleteTopics, by names and/or ids.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteTopicsRequest {
    /// Topics named.
    pub names: Vec<String>,
    /// Topics by id (DeleteTopics v6+).
    pub topic_ids: Vec<Uuid>,
}

/// One partition of an AlterPartition request (KIP-497).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartitionItem {
    /// The topic.
    pub topic_id: Uuid,
    /// The partition.
    pub partition: i32,
    /// The leader epoch the leader holds.
    pub leader_epoch: i32,
    /// The ISR the leader wants.
    pub new_isr: Vec<BrokerId>,
    /// The partition epoch the leader's view is based on.
    pub partition_epoch: i32,
}

/// AlterPartition: a leader shrinks or expands its ISR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartitionRequest {
    /// The leader sending it.
    pub broker_id: BrokerId,
    /// Its registration's epoch.
    pub broker_epoch: i64,
    /// The partitions to change.
    pub partitions: Vec<AlterPartitionItem>,
}

/// The outcome for one partition of an AlterPartition request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartitionResult {
    /// The topic.
    pub topic_id: Uuid,
    /// The partition.
    pub partition: i32,
    /// NONE, or why the change was refused.
    pub error: ErrorCode,
    /// The partition's leader after the request (-1 on error).
    pub leader: BrokerId,
    /// Its leader epoch after the request.
    pub leader_epoch: i32,
    /// Its ISR after the request.
    pub isr: Vec<BrokerId>,
    /// Its partition epoch after the request.
    pub partition_epoch: i32,
}

/// The answer to AlterPartition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartitionResponse {
    /// A request-wide error (STALE_BROKER_EPOCH, ...), or NONE.
    pub error: ErrorCode,
    /// One result per partition asked (empty on a request-wide error).
    pub partitions: Vec<AlterPartitionResult>,
}

/// AllocateProducerIds (KIP-730).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocateProducerIdsRequest {
    /// The broker asking.
    pub broker_id: BrokerId,
    /// Its registration's epoch.
    pub broker_epoch: i64,
}

/// The answer to AllocateProducerIds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocateProducerIdsResponse {
    /// NONE, or why no block was handed out.
    pub error: ErrorCode,
    /// The block's first id (-1 on error).
    pub first_producer_id: i64,
    /// How many ids it holds (0 on error).
    pub block_size: i64,
}

//! The metadata records: what the controller's Raft log holds.
//!
//! Each record is one fact about the cluster; [`crate::MetadataImage::apply`]
//! folds them, in log order, into the image every broker reads. The names
//! follow KRaft's (`RegisterBrokerRecord`, `PartitionChangeRecord`, ...) so a
//! Kafka reader finds their way; the fields are ours. Records carry the epochs
//! they set explicitly (Kafka derives them on replay), so an image can reject
//! a record whose epoch does not follow the one it holds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A broker id (Kafka's `node.id`).
pub type BrokerId = i32;

/// The leader of a partition that has none (Kafka's `-1`).
pub const NO_LEADER: BrokerId = -1;

/// One listener a broker advertises to clients (Kafka's `advertised.listeners`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerEndpoint {
    /// The listener's name (`PLAINTEXT`).
    pub name: String,
    /// The host clients connect to.
    pub host: String,
    /// The port clients connect to.
    pub port: u16,
    /// Kafka's security protocol id (0 = PLAINTEXT).
    pub security_protocol: i16,
}

/// A broker announced itself (at start, or again after a restart).
///
/// A new registration of the same broker id replaces the old one; the broker
/// starts fenced and is unfenced once it has caught up with the metadata log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterBrokerRecord {
    /// The broker's id.
    pub broker_id: BrokerId,
    /// A fresh id per process start; tells a restart from a retried request.
    pub incarnation_id: Uuid,
    /// The epoch the controller gave this registration; strictly greater than
    /// every broker epoch before it. Heartbeats and AlterPartition name it.
    pub broker_epoch: i64,
    /// The listeners clients use.
    pub endpoints: Vec<BrokerEndpoint>,
    /// The broker's rack (`broker.rack`), if set.
    pub rack: Option<String>,
}

/// Names one registration of one broker (its id and broker epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerEpochRef {
    /// The broker's id.
    pub broker_id: BrokerId,
    /// The registration's broker epoch.
    pub broker_epoch: i64,
}

/// A topic was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    /// The topic's id (KIP-516).
    pub topic_id: Uuid,
    /// The topic's name.
    pub name: String,
    /// The topic's configs set at creation (name to value); later changes come
    /// as [`ConfigRecord`]s.
    pub configs: BTreeMap<String, String>,
}

/// A partition was created: its full state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRecord {
    /// The topic it belongs to.
    pub topic_id: Uuid,
    /// The partition index; a topic's partitions are dense from 0.
    pub partition: i32,
    /// The assigned replicas, the preferred leader first; distinct.
    pub replicas: Vec<BrokerId>,
    /// The in-sync replicas: a subset of `replicas`.
    pub isr: Vec<BrokerId>,
    /// The leader: a member of `isr`, or [`NO_LEADER`].
    pub leader: BrokerId,
    /// Bumped whenever the leader changes.
    pub leader_epoch: i32,
    /// Bumped on every change of the partition (KIP-497).
    pub partition_epoch: i32,
}

/// A partition's leader and/or ISR changed (election, AlterPartition, fencing).
///
/// `partition_epoch` must be the current one plus 1; `leader_epoch` the
/// current one plus 1 when the leader changes, and the current one otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionChangeRecord {
    /// The topic it belongs to.
    pub topic_id: Uuid,
    /// The partition index.
    pub partition: i32,
    /// The new leader (may be [`NO_LEADER`]).
    pub leader: BrokerId,
    /// The new in-sync replicas.
    pub isr: Vec<BrokerId>,
    /// The leader epoch after the change.
    pub leader_epoch: i32,
    /// The partition epoch after the change.
    pub partition_epoch: i32,
}

/// What a config change applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConfigResource {
    /// A topic, by name (Kafka's config resources name topics).
    Topic(String),
    /// One broker's dynamic configs.
    Broker(BrokerId),
    /// The cluster-wide default for every broker.
    Cluster,
}

/// A config was set (`Some`) or removed back to its default (`None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigRecord {
    /// What it applies to.
    pub resource: ConfigResource,
    /// The config's name (`retention.ms`).
    pub name: String,
    /// The new value, or `None` to remove it.
    pub value: Option<String>,
}

/// A block of producer ids handed to one broker (KIP-730).
///
/// Blocks are consecutive: `first_producer_id` must be where the previous
/// block ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerIdsRecord {
    /// The registration the block was handed to.
    pub broker: BrokerEpochRef,
    /// The first id of the block.
    pub first_producer_id: i64,
    /// How many ids the block holds (> 0).
    pub block_size: i64,
}

/// One entry of the metadata log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetadataRecord {
    /// A broker registered (or re-registered after a restart).
    RegisterBroker(RegisterBrokerRecord),
    /// A broker's registration was removed (it left the cluster).
    UnregisterBroker(BrokerEpochRef),
    /// A broker lost its session or shut down: no leaderships, not in new ISRs.
    FenceBroker(BrokerEpochRef),
    /// A broker caught up with the metadata log and may lead partitions.
    UnfenceBroker(BrokerEpochRef),
    /// A broker asked to shut down; its leaderships are being moved off.
    BrokerControlledShutdown(BrokerEpochRef),
    /// A topic was created.
    Topic(TopicRecord),
    /// A partition was created.
    Partition(PartitionRecord),
    /// A partition's leader or ISR changed.
    PartitionChange(PartitionChangeRecord),
    /// A config was set or removed.
    Config(ConfigRecord),
    /// A topic and all its partitions were deleted.
    RemoveTopic {
        /// The deleted topic's id.
        topic_id: Uuid,
    },
    /// A block of producer ids was handed out.
    ProducerIds(ProducerIdsRecord),
}

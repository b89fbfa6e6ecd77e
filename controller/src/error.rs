//! The crate's errors.

use uuid::Uuid;

use crate::records::BrokerId;

/// Why a record does not fit the image ([`crate::MetadataImage::apply`]).
///
/// The active controller only proposes records that fit, so one of these on
/// replay means a corrupt log or a bug, never a user's mistake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// A broker id below 0.
    #[error("invalid broker id {0}")]
    InvalidBrokerId(BrokerId),
    /// A registration whose broker epoch is not above every earlier one.
    #[error("broker epoch {broker_epoch} is not above the last one, {last}")]
    BrokerEpochNotIncreasing {
        /// The record's epoch.
        broker_epoch: i64,
        /// The greatest epoch so far.
        last: i64,
    },
    /// The record names a broker that is not registered.
    #[error("broker {0} is not registered")]
    UnknownBroker(BrokerId),
    /// The record names an older registration of the broker.
    #[error("broker {broker_id} epoch {broker_epoch} is stale (current {current})")]
    StaleBrokerEpoch {
        /// The broker.
        broker_id: BrokerId,
        /// The record's epoch.
        broker_epoch: i64,
        /// The registration's epoch.
        current: i64,
    },
    /// A topic with this id exists already.
    #[error("topic id {0} exists already")]
    DuplicateTopicId(Uuid),
    /// A topic with this name exists already.
    #[error("topic {0:?} exists already")]
    DuplicateTopicName(String),
    /// The record names a topic id that does not exist.
    #[error("unknown topic id {0}")]
    UnknownTopic(Uuid),
    /// The record names a topic name that does not exist.
    #[error("unknown topic {0:?}")]
    UnknownTopicName(String),
    /// The record names a partition the topic does not have.
    #[error("unknown partition {partition} of topic {topic_id}")]
    UnknownPartition {
        /// The topic.
        topic_id: Uuid,
        /// The partition.
        partition: i32,
    },
    /// A new partition whose index is not the next one.
    #[error("partition {partition} created where {next} is next")]
    PartitionNotNext {
        /// The record's partition.
        partition: i32,
        /// The index the next partition must have.
        next: i32,
    },
    /// A new partition with a negative epoch.
    #[error("negative leader or partition epoch")]
    NegativeEpoch,
    /// An empty replica list or one naming a broker twice.
    #[error("invalid replicas {0:?}")]
    InvalidReplicas(Vec<BrokerId>),
    /// An empty ISR, one naming a broker twice or one outside the replicas.
    #[error("invalid ISR {0:?}")]
    InvalidIsr(Vec<BrokerId>),
    /// A leader that is not in the ISR.
    #[error("leader {0} is not in the ISR")]
    LeaderNotInIsr(BrokerId),
    /// A partition change whose epochs do not follow the current ones.
    #[error(
        "epochs (leader {leader_epoch}, partition {partition_epoch}) do not follow \
         (expected leader {expected_leader_epoch}, partition {expected_partition_epoch})"
    )]
    EpochMismatch {
        /// The record's leader epoch.
        leader_epoch: i32,
        /// The leader epoch it must have.
        expected_leader_epoch: i32,
        /// The record's partition epoch.
        partition_epoch: i32,
        /// The partition epoch it must have.
        expected_partition_epoch: i32,
    },
    /// A producer-id block that does not start where the last one ended.
    #[error(
        "producer id block [{first_producer_id}, +{block_size}) does not start at {next} or is empty"
    )]
    ProducerIdBlockNotNext {
        /// The record's first id.
        first_producer_id: i64,
        /// The record's block size.
        block_size: i64,
        /// Where the next block must start.
        next: i64,
    },
}

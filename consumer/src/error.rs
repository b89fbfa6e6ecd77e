//! Why a consumer operation failed, in the caller's terms.

use sluice_client::ClientError;
use sluice_protocol::{BatchError, ErrorCode};

use crate::partition::TopicPartition;

/// Everything a [`crate::Consumer`] call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// A setting is invalid.
    #[error("invalid consumer configuration: {0}")]
    Config(String),
    /// The cluster could not be reached or answered with an error.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The coordinator answered a group request with an error we cannot recover from.
    #[error("group {group}: {api} failed with {code}")]
    Group {
        /// The group id.
        group: String,
        /// The API that failed.
        api: &'static str,
        /// The Kafka error code.
        code: ErrorCode,
    },
    /// Another consumer with the same `group_instance_id` took over (KIP-345).
    #[error("fenced: another member uses group.instance.id {0}")]
    FencedInstanceId(String),
    /// `auto_offset_reset` is `none` and the partition has no committed offset,
    /// or its position is out of range.
    #[error("no valid offset for {0} and auto.offset.reset is none")]
    NoOffset(TopicPartition),
    /// A record batch from the broker is corrupt.
    #[error("corrupt record batch in {partition}")]
    CorruptBatch {
        /// Where the batch came from.
        partition: TopicPartition,
        /// What was wrong with it.
        #[source]
        source: BatchError,
    },
    /// The embedded consumer protocol (subscription or assignment) did not decode.
    #[error("malformed consumer protocol {what}: {reason}")]
    EmbeddedProtocol {
        /// Which message.
        what: &'static str,
        /// The codec's message.
        reason: String,
    },
    /// Committing offsets failed for some partitions.
    #[error("commit failed for {partition}: {code}")]
    CommitFailed {
        /// The first partition that failed.
        partition: TopicPartition,
        /// Its error code.
        code: ErrorCode,
    },
    /// The operation needs a `group_id` and none is configured.
    #[error("this operation needs group_id to be configured")]
    NoGroup,
    /// The partition is not assigned to this consumer.
    #[error("{0} is not assigned to this consumer")]
    NotAssigned(TopicPartition),
    /// `offsets_for_times` was given a timestamp below zero (on the wire
    /// those mean "earliest" and "latest", not a time).
    #[error("timestamp {timestamp_ms} for {partition} is negative")]
    NegativeTimestamp {
        /// The partition it was given for.
        partition: TopicPartition,
        /// The timestamp.
        timestamp_ms: i64,
    },
    /// The consumer was closed.
    #[error("the consumer is closed")]
    Closed,
}

/// Results of this crate.
pub type Result<T, E = ConsumerError> = std::result::Result<T, E>;

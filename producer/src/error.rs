//! The producer's error type. Cloneable, because one failure (a batch
//! rejected, a timeout) is reported to every record of the batch.

use std::sync::Arc;
use std::time::Duration;

use sluice_client::ClientError;
use sluice_protocol::{BatchError, ErrorCode};

/// Everything sending a record can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProducerError {
    /// The configuration cannot work.
    #[error("invalid producer configuration: {0}")]
    Config(String),
    /// Talking to the cluster failed (and retrying did not help).
    #[error(transparent)]
    Client(Arc<ClientError>),
    /// A batch could not be encoded (compression failure, size limits).
    #[error(transparent)]
    Batch(Arc<BatchError>),
    /// The topic did not appear in metadata within `max.block.ms`.
    #[error("topic {topic} not present in metadata after {timeout:?}")]
    TopicNotFound {
        /// The topic.
        topic: String,
        /// `max.block.ms`.
        timeout: Duration,
    },
    /// The record names a partition the topic does not have.
    #[error("partition {partition} of topic {topic} does not exist (topic has {partition_count})")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
        /// How many the topic has.
        partition_count: usize,
    },
    /// `buffer.memory` stayed full for `max.block.ms`: the producer is
    /// being fed faster than the cluster takes records.
    #[error("buffer.memory full: no room for {bytes} bytes within max.block.ms ({timeout:?})")]
    BufferExhausted {
        /// Bytes the record needed.
        bytes: usize,
        /// `max.block.ms`.
        timeout: Duration,
    },
    /// The record is larger than `max.request.size` or `buffer.memory`.
    #[error("record of {size} bytes exceeds the limit of {max} bytes")]
    RecordTooLarge {
        /// The record's encoded size estimate.
        size: usize,
        /// The limit it passes.
        max: usize,
    },
    /// The broker rejected the batch with a non-retriable error.
    #[error("broker rejected batch for {topic}-{partition}: {code}{}", message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Broker {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// Kafka's error code.
        code: ErrorCode,
        /// The broker's error message.
        message: Option<String>,
    },
    /// The record was not acknowledged within `delivery.timeout.ms`.
    #[error(
        "record not delivered within delivery.timeout.ms ({timeout:?}); last error: {last_error}"
    )]
    DeliveryTimeout {
        /// `delivery.timeout.ms`.
        timeout: Duration,
        /// The last error seen for its batch, or "none".
        last_error: String,
    },
    /// The idempotent producer state was reset (new producer id or epoch)
    /// while this batch was in flight, so it cannot be resent without
    /// risking a duplicate.
    #[error("producer id was reset while the batch was in flight: {0}")]
    ProducerReset(String),
    /// The producer was closed (or dropped) before the record was delivered.
    #[error("producer is closed")]
    Closed,
}

impl From<ClientError> for ProducerError {
    fn from(error: ClientError) -> Self {
        ProducerError::Client(Arc::new(error))
    }
}

impl From<BatchError> for ProducerError {
    fn from(error: BatchError) -> Self {
        ProducerError::Batch(Arc::new(error))
    }
}

/// Results of this crate.
pub type Result<T, E = ProducerError> = std::result::Result<T, E>;

/// Why [`crate::Producer::send_all_with_callback`] stopped before the end of
/// its records: the records before the failing one were appended (their
/// outcomes will be reported), the failing one and those after it were not.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{appended} records appended, then one failed")]
pub struct SendAllError {
    /// Records appended before the failure.
    pub appended: usize,
    /// Why the next record was not.
    #[source]
    pub error: ProducerError,
}

//! A producer batch: the records bound for one partition, with their
//! completions, from the moment the first record arrives until the broker
//! answers for them.

use std::sync::Arc;

use bytes::Bytes;
use sluice_protocol::BatchBuilder;

/// One record waiting in a batch: whoever waits for it, and the timestamp
/// it was written with (reported back unless the topic uses append time).
#[derive(Debug)]
pub struct Pending<C> {
    /// Notified when the batch completes (a channel sender in the shell).
    pub completion: C,
    /// The record's create timestamp.
    pub timestamp: i64,
}

/// Who wrote a built batch: the idempotent producer id, epoch and the
/// sequence of its first record. Retries must resend exactly this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchIdentity {
    /// Producer id (`-1` when not idempotent).
    pub producer_id: i64,
    /// Producer epoch (`-1` when not idempotent).
    pub producer_epoch: i16,
    /// Sequence of the first record (`-1` when not idempotent).
    pub base_sequence: i32,
}

impl BatchIdentity {
    /// The identity of a batch from a non-idempotent producer.
    pub const NONE: BatchIdentity = BatchIdentity {
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
    };
}

/// A batch's bytes: still being appended to, or encoded once and resent
/// byte for byte on every retry (so the broker can deduplicate it).
#[derive(Debug)]
pub(crate) enum Content {
    Open(BatchBuilder),
    Built {
        bytes: Bytes,
        identity: BatchIdentity,
    },
}

/// The records for one partition that travel together.
#[derive(Debug)]
pub struct ProducerBatch<C> {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// Uncompressed bytes at which the batch counts as full (`batch.size`, or
    /// more with compression: what is expected to compress to `batch.size`).
    pub full_bytes: usize,
    /// When the first record arrived (ms, the caller's clock).
    pub created_ms: u64,
    /// When the batch fails with a delivery timeout if not yet acknowledged.
    pub deadline_ms: u64,
    /// Not sent again before this instant (retry backoff).
    pub retry_at_ms: u64,
    /// Sends so far.
    pub attempts: u32,
    /// The last retriable error, for the delivery-timeout message.
    pub last_error: Option<String>,
    /// Whether, when last sent, every earlier batch of its partition was
    /// already acknowledged: only then does OUT_OF_ORDER_SEQUENCE_NUMBER mean
    /// the broker lost our state rather than that an earlier batch (sent on
    /// another connection, or lost) had not reached it yet.
    pub sent_as_oldest: bool,
    /// `buffer.memory` bytes the records hold, released on completion.
    pub reserved_bytes: usize,
    /// The records' waiters, in offset order.
    pub pending: Vec<Pending<C>>,
    pub(crate) content: Content,
}

impl<C> ProducerBatch<C> {
    /// Records in the batch.
    pub fn record_count(&self) -> usize {
        self.pending.len()
    }

    /// The encoded bytes and identity, once built.
    pub fn built(&self) -> Option<(&Bytes, BatchIdentity)> {
        match &self.content {
            Content::Built { bytes, identity } => Some((bytes, *identity)),
            Content::Open(_) => None,
        }
    }

    /// Bytes the batch takes (uncompressed estimate while open).
    pub fn size_bytes(&self) -> usize {
        match &self.content {
            Content::Open(builder) => builder.estimated_size(),
            Content::Built { bytes, .. } => bytes.len(),
        }
    }
}

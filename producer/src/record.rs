//! What callers hand the producer, and what they get back.

use std::sync::Arc;

use bytes::Bytes;

use crate::error::Result;

/// One record to send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerRecord {
    /// Destination topic.
    pub topic: String,
    /// Explicit partition; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// Key; decides the partition (murmur2) unless `partition` is set.
    pub key: Option<Bytes>,
    /// Value; `None` is a tombstone on compacted topics.
    pub value: Option<Bytes>,
    /// Headers, in order (keys may repeat).
    pub headers: Vec<(String, Option<Bytes>)>,
    /// Create time in milliseconds since the epoch; `None` means now.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record with a value and nothing else.
    pub fn new(topic: impl Into<String>, value: impl Into<Bytes>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            value: Some(value.into()),
            ..ProducerRecord::default()
        }
    }

    /// Sets the key.
    pub fn with_key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the partition explicitly.
    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, key: impl Into<String>, value: Option<Bytes>) -> Self {
        self.headers.push((key.into(), value));
        self
    }

    /// Sets the create timestamp (ms since the epoch).
    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Bytes this record takes in the buffer and (before compression) in a
    /// batch: payload plus the worst-case record framing.
    pub fn estimated_size(&self) -> usize {
        const RECORD_FRAMING: usize = 21;
        let field = |bytes: &Option<Bytes>| bytes.as_ref().map_or(0, Bytes::len) + 5;
        let headers: usize = self
            .headers
            .iter()
            .map(|(key, value)| key.len() + 5 + field(value))
            .sum();
        RECORD_FRAMING + field(&self.key) + field(&self.value) + headers
    }
}

/// Where a record was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic (shared by every record of a batch: cloning is cheap).
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The record's offset; `-1` when unknown (`acks=0`, or a retry the
    /// broker recognised as a duplicate of an older request).
    pub offset: i64,
    /// The create time, or the broker's append time for topics with
    /// `message.timestamp.type=LogAppendTime`.
    pub timestamp: i64,
}

/// Receives the outcome of records sent with
/// [`Producer::send_with_callback`](crate::Producer::send_with_callback):
/// one shared object for many records instead of a channel per record, so a
/// steady producer allocates nothing per record.
///
/// Called on the producer's sender task, once per record, in offset order
/// within a partition, as soon as its batch is acknowledged or fails. Keep
/// it short and never block in it: the next batch waits meanwhile.
pub trait DeliveryCallback: Send + Sync + 'static {
    /// `token` is what the record was sent with; `outcome` where it was
    /// written, or why it was not.
    fn on_delivery(&self, token: u64, outcome: Result<RecordMetadata>);

    /// The outcomes of consecutive records of one batch that share this
    /// callback, in order. By default one [`on_delivery`] call each;
    /// override it to do per-batch work once (read a clock, take a lock).
    /// Records the implementation leaves in `deliveries` still reach
    /// [`on_delivery`] afterwards.
    ///
    /// [`on_delivery`]: DeliveryCallback::on_delivery
    fn on_deliveries(&self, deliveries: &mut dyn Iterator<Item = (u64, Result<RecordMetadata>)>) {
        for (token, outcome) in deliveries {
            self.on_delivery(token, outcome);
        }
    }
}

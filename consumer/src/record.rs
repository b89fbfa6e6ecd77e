//! What `poll` returns: records whose key, value and headers are slices of the
//! fetch response (or of the decompressed batch), never copies.

use bytes::Bytes;
use sluice_protocol::RecordHeaders;

use crate::partition::TopicPartition;

/// One consumed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// Where it came from.
    pub partition: TopicPartition,
    /// Its offset in the partition.
    pub offset: i64,
    /// Its timestamp in ms since the epoch (create or log-append time).
    pub timestamp_ms: i64,
    /// The key, `None` for a null key.
    pub key: Option<Bytes>,
    /// The value, `None` for a tombstone.
    pub value: Option<Bytes>,
    /// The headers, decoded when iterated.
    pub headers: RecordHeaders,
}

impl ConsumerRecord {
    /// The topic name.
    pub fn topic(&self) -> &str {
        &self.partition.topic
    }
}

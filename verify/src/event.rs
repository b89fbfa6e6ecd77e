//! What a history is made of: one [`Event`] per send, acknowledgement,
//! rebalance, consumed record, commit and final read, and the record values
//! ([`RecordValue`]) that say which producer sent a record and when.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One thing that happened during a run, as one line of the history file.
///
/// Every event carries `ts_ms`, the wall-clock time in ms since the Unix
/// epoch when the workload recorded it. Partitions are of the run's one
/// topic; producers and consumers are numbered from 0 in the order the
/// workload started them (a consumer that rejoins gets a new number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The run starts: its topic and where each partition's log ended, so
    /// records an earlier run left below those offsets are not judged.
    Begin {
        /// When.
        ts_ms: u64,
        /// The topic the run writes and reads.
        topic: String,
        /// The log end offset of each partition (by index) before the run.
        start_offsets: Vec<i64>,
    },
    /// A producer is about to send record `seq` to `partition`.
    Send {
        /// When.
        ts_ms: u64,
        /// Which producer.
        producer: u32,
        /// The producer's sequence number of this record (from 0, no gaps).
        seq: u64,
        /// The partition it is sent to.
        partition: i32,
    },
    /// The cluster acknowledged a record at `offset` (`-1`: offset unknown).
    Ack {
        /// When.
        ts_ms: u64,
        /// Which producer.
        producer: u32,
        /// The record's sequence number.
        seq: u64,
        /// Where it was written.
        partition: i32,
        /// Its offset there.
        offset: i64,
    },
    /// A send failed: the record may or may not have been written.
    SendFailed {
        /// When.
        ts_ms: u64,
        /// Which producer.
        producer: u32,
        /// The record's sequence number.
        seq: u64,
        /// Why, as the producer said.
        error: String,
    },
    /// The group gave these partitions to a consumer (a rebalance ended).
    Assigned {
        /// When.
        ts_ms: u64,
        /// Which consumer.
        consumer: u32,
        /// What it owns now.
        partitions: Vec<i32>,
    },
    /// A consumer gave these partitions up (a rebalance began, or it left).
    Revoked {
        /// When.
        ts_ms: u64,
        /// Which consumer.
        consumer: u32,
        /// What it no longer owns.
        partitions: Vec<i32>,
    },
    /// A group member's `poll` returned this record.
    Consumed {
        /// When.
        ts_ms: u64,
        /// Which consumer.
        consumer: u32,
        /// Where it was read.
        partition: i32,
        /// Its offset.
        offset: i64,
        /// Its value, as text (see [`RecordValue`]).
        value: String,
    },
    /// The group coordinator accepted a consumer's commit.
    Committed {
        /// When.
        ts_ms: u64,
        /// Which consumer.
        consumer: u32,
        /// The group generation the commit was made in.
        generation: i32,
        /// The partition.
        partition: i32,
        /// The committed offset: the next one to read.
        offset: i64,
    },
    /// The final independent read (no group, from the log start) saw this
    /// record: the ground truth of what the log holds.
    FinalRead {
        /// When.
        ts_ms: u64,
        /// Where it was read.
        partition: i32,
        /// Its offset.
        offset: i64,
        /// Its value, as text.
        value: String,
    },
}

/// The value the workload writes: which producer sent the record and its
/// sequence number, as `p<producer>-s<seq>` (readable in any consumer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordValue {
    /// The producer's number.
    pub producer: u32,
    /// The producer's sequence number of the record.
    pub seq: u64,
}

impl fmt::Display for RecordValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}-s{}", self.producer, self.seq)
    }
}

/// A value that is not `p<producer>-s<seq>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a verify record value: {0:?}")]
pub struct NotARecordValue(pub String);

impl FromStr for RecordValue {
    type Err = NotARecordValue;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parsed = text.strip_prefix('p').and_then(|rest| {
            let (producer, seq) = rest.split_once("-s")?;
            Some(RecordValue {
                producer: producer.parse().ok()?,
                seq: seq.parse().ok()?,
            })
        });
        parsed.ok_or_else(|| NotARecordValue(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_value_round_trips_through_text() {
        let value = RecordValue {
            producer: 3,
            seq: 1234,
        };
        assert_eq!(value.to_string(), "p3-s1234");
        assert_eq!("p3-s1234".parse::<RecordValue>(), Ok(value));
    }

    #[test]
    fn foreign_values_are_not_record_values() {
        for text in ["", "hello", "p-s1", "p1-s", "p1-s2x", "q1-s2", "p1_s2"] {
            assert!(text.parse::<RecordValue>().is_err(), "{text:?}");
        }
    }

    #[test]
    fn events_are_tagged_json_objects() {
        let event = Event::Ack {
            ts_ms: 5,
            producer: 1,
            seq: 2,
            partition: 0,
            offset: 7,
        };
        let line = serde_json::to_string(&event).unwrap_or_default();
        assert_eq!(
            line,
            r#"{"type":"ack","ts_ms":5,"producer":1,"seq":2,"partition":0,"offset":7}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&line).ok(), Some(event));
    }
}

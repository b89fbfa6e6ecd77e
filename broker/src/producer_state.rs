//! Idempotent-producer sequence tracking, as a sans-IO core.
//!
//! For every producer id writing to a partition the broker remembers the
//! producer epoch and the last five batches (Kafka's
//! `max.in.flight.requests.per.connection` bound for idempotence). A batch
//! whose sequence range matches one of them is a retry: it is acknowledged with
//! its original offsets and not written again. Anything else must continue the
//! sequence exactly, or it is refused the way Kafka refuses it.

use std::collections::{HashMap, VecDeque};

use sluice_protocol::ErrorCode;

/// How many recent batches per producer are kept for duplicate detection.
pub const BATCHES_PER_PRODUCER: usize = 5;

/// The idempotence fields of one record batch, plus where it landed once appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSequence {
    /// Producer id from the batch header.
    pub producer_id: i64,
    /// Producer epoch from the batch header.
    pub producer_epoch: i16,
    /// Sequence of the first record.
    pub first_sequence: i32,
    /// Sequence of the last record.
    pub last_sequence: i32,
}

/// Offsets a batch was written at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOffsets {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
}

/// What to do with an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Write it.
    Append,
    /// A retry of a batch already written at these offsets: acknowledge, do not write.
    Duplicate(BatchOffsets),
    /// Refuse the batch with this error.
    Reject(ErrorCode),
}

#[derive(Debug, Clone, Copy)]
struct WrittenBatch {
    first_sequence: i32,
    last_sequence: i32,
    offsets: BatchOffsets,
}

#[derive(Debug, Clone, Default)]
struct ProducerEntry {
    producer_epoch: i16,
    batches: VecDeque<WrittenBatch>,
    /// Max timestamp of the latest batch written, as Kafka keeps it.
    last_timestamp: i64,
}

impl ProducerEntry {
    fn last_sequence(&self) -> Option<i32> {
        self.batches.back().map(|b| b.last_sequence)
    }
}

/// What DescribeProducers reports about one producer writing to a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveProducer {
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch of its latest batch.
    pub producer_epoch: i16,
    /// The sequence of its last record written.
    pub last_sequence: i32,
    /// The max timestamp of its latest batch.
    pub last_timestamp: i64,
}

/// The sequence state of every idempotent producer of one partition.
#[derive(Debug, Clone, Default)]
pub struct ProducerStateTable {
    producers: HashMap<i64, ProducerEntry>,
}

/// The sequence that follows `sequence`; Kafka wraps at `i32::MAX` to 0.
fn next_sequence(sequence: i32) -> i32 {
    if sequence == i32::MAX {
        0
    } else {
        sequence + 1
    }
}

impl ProducerStateTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decides whether `batch` is new, a retry, or an error.
    pub fn check(&self, batch: &BatchSequence) -> SequenceCheck {
        let Some(entry) = self.producers.get(&batch.producer_id) else {
            // Like Kafka, accept any sequence from a producer with no state
            // here (its earlier batches may have been deleted by retention).
            return SequenceCheck::Append;
        };
        if batch.producer_epoch < entry.producer_epoch {
            return SequenceCheck::Reject(ErrorCode::InvalidProducerEpoch);
        }
        if batch.producer_epoch > entry.producer_epoch {
            // A bumped epoch restarts the sequence.
            return if batch.first_sequence == 0 {
                SequenceCheck::Append
            } else {
                SequenceCheck::Reject(ErrorCode::OutOfOrderSequenceNumber)
            };
        }
        if let Some(written) = entry.batches.iter().find(|w| {
            w.first_sequence == batch.first_sequence && w.last_sequence == batch.last_sequence
        }) {
            return SequenceCheck::Duplicate(written.offsets);
        }
        match entry.last_sequence() {
            Some(last) if next_sequence(last) != batch.first_sequence => {
                SequenceCheck::Reject(ErrorCode::OutOfOrderSequenceNumber)
            }
            _ => SequenceCheck::Append,
        }
    }

    /// Records that `batch`, whose max timestamp is `max_timestamp`, was
    /// written at `offsets` (after a successful append, or while rebuilding the
    /// state from the log).
    pub fn record(&mut self, batch: &BatchSequence, offsets: BatchOffsets, max_timestamp: i64) {
        let entry = self.producers.entry(batch.producer_id).or_default();
        entry.last_timestamp = max_timestamp;
        if batch.producer_epoch != entry.producer_epoch {
            entry.producer_epoch = batch.producer_epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == BATCHES_PER_PRODUCER {
            entry.batches.pop_front();
        }
        entry.batches.push_back(WrittenBatch {
            first_sequence: batch.first_sequence,
            last_sequence: batch.last_sequence,
            offsets,
        });
    }

    /// Forgets batches written at or above `offset` (the log was truncated).
    pub fn truncate_to(&mut self, offset: i64) {
        for entry in self.producers.values_mut() {
            entry.batches.retain(|b| b.offsets.base_offset < offset);
        }
        self.producers.retain(|_, entry| !entry.batches.is_empty());
    }

    /// Every producer tracked, by producer id.
    pub fn active_producers(&self) -> Vec<ActiveProducer> {
        let mut active: Vec<ActiveProducer> = self
            .producers
            .iter()
            .filter_map(|(producer_id, entry)| {
                Some(ActiveProducer {
                    producer_id: *producer_id,
                    producer_epoch: entry.producer_epoch,
                    last_sequence: entry.last_sequence()?,
                    last_timestamp: entry.last_timestamp,
                })
            })
            .collect();
        active.sort_unstable_by_key(|p| p.producer_id);
        active
    }

    /// Number of producers tracked.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// Whether no producer is tracked.
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMESTAMP: i64 = 1_700_000_000_000;

    fn batch(epoch: i16, first: i32, last: i32) -> BatchSequence {
        BatchSequence {
            producer_id: 42,
            producer_epoch: epoch,
            first_sequence: first,
            last_sequence: last,
        }
    }

    fn at(base: i64, last: i64) -> BatchOffsets {
        BatchOffsets {
            base_offset: base,
            last_offset: last,
        }
    }

    fn table_with(batches: &[(BatchSequence, BatchOffsets)]) -> ProducerStateTable {
        let mut table = ProducerStateTable::new();
        for (b, o) in batches {
            table.record(b, *o, TIMESTAMP);
        }
        table
    }

    #[test]
    fn new_producer_starting_at_zero_is_appended() {
        assert_eq!(
            ProducerStateTable::new().check(&batch(0, 0, 4)),
            SequenceCheck::Append
        );
    }

    #[test]
    fn producer_without_state_may_start_at_any_sequence() {
        assert_eq!(
            ProducerStateTable::new().check(&batch(0, 5, 9)),
            SequenceCheck::Append
        );
    }

    #[test]
    fn next_batch_in_sequence_is_appended() {
        let table = table_with(&[(batch(0, 0, 4), at(10, 14))]);
        assert_eq!(table.check(&batch(0, 5, 9)), SequenceCheck::Append);
    }

    #[test]
    fn retried_batch_is_a_duplicate_with_its_original_offsets() {
        let table = table_with(&[(batch(0, 0, 4), at(10, 14)), (batch(0, 5, 9), at(15, 19))]);
        assert_eq!(
            table.check(&batch(0, 0, 4)),
            SequenceCheck::Duplicate(at(10, 14))
        );
    }

    #[test]
    fn gap_in_sequence_is_out_of_order() {
        let table = table_with(&[(batch(0, 0, 4), at(10, 14))]);
        assert_eq!(
            table.check(&batch(0, 7, 9)),
            SequenceCheck::Reject(ErrorCode::OutOfOrderSequenceNumber)
        );
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let written: Vec<_> = (0..6)
            .map(|i| (batch(0, i, i), at(i64::from(i), i64::from(i))))
            .collect();
        let table = table_with(&written);
        assert_eq!(
            table.check(&batch(0, 0, 0)),
            SequenceCheck::Reject(ErrorCode::OutOfOrderSequenceNumber)
        );
        assert_eq!(
            table.check(&batch(0, 1, 1)),
            SequenceCheck::Duplicate(at(1, 1))
        );
    }

    #[test]
    fn older_epoch_is_fenced() {
        let table = table_with(&[(batch(3, 0, 0), at(0, 0))]);
        assert_eq!(
            table.check(&batch(2, 1, 1)),
            SequenceCheck::Reject(ErrorCode::InvalidProducerEpoch)
        );
    }

    #[test]
    fn newer_epoch_must_restart_at_sequence_zero() {
        let table = table_with(&[(batch(0, 0, 0), at(0, 0))]);
        assert_eq!(table.check(&batch(1, 0, 2)), SequenceCheck::Append);
        assert_eq!(
            table.check(&batch(1, 1, 2)),
            SequenceCheck::Reject(ErrorCode::OutOfOrderSequenceNumber)
        );
    }

    #[test]
    fn sequence_wraps_after_i32_max() {
        let table = table_with(&[(batch(0, i32::MAX - 1, i32::MAX), at(0, 1))]);
        assert_eq!(table.check(&batch(0, 0, 3)), SequenceCheck::Append);
    }

    #[test]
    fn truncation_forgets_batches_above_the_new_end() {
        let mut table = table_with(&[(batch(0, 0, 0), at(0, 0)), (batch(0, 1, 1), at(1, 1))]);
        table.truncate_to(1);
        assert_eq!(table.check(&batch(0, 1, 1)), SequenceCheck::Append);
    }

    #[test]
    fn active_producers_report_their_latest_batch() {
        let mut table = table_with(&[(batch(0, 0, 4), at(0, 4))]);
        table.record(&batch(0, 5, 9), at(5, 9), TIMESTAMP + 7);
        assert_eq!(
            table.active_producers(),
            vec![ActiveProducer {
                producer_id: 42,
                producer_epoch: 0,
                last_sequence: 9,
                last_timestamp: TIMESTAMP + 7,
            }]
        );
    }

    #[test]
    fn truncated_away_producers_are_no_longer_active() {
        let mut table = table_with(&[(batch(0, 0, 0), at(3, 3))]);
        table.truncate_to(3);
        assert!(table.active_producers().is_empty());
    }
}

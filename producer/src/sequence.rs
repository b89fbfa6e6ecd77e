//! Idempotence bookkeeping and the retry decision, sans-IO.
//!
//! The idempotent producer numbers each partition's records from 0
//! (wrapping at `i32::MAX`) under a producer id and epoch from
//! InitProducerId; the broker keeps the last five batches per producer and
//! partition, rejects gaps with OUT_OF_ORDER_SEQUENCE_NUMBER and answers a
//! resent batch it already has with its original result (or
//! DUPLICATE_SEQUENCE_NUMBER). So a batch is always resent with the bytes
//! (and sequence) it was first sent with, and a batch that follows a failed
//! one is simply resent after it.
//!
//! Two rules keep every retry inside that five-batch memory even when
//! connections drop (answers are lost while the broker may have written the
//! batch, and a later batch can be answered on a fresh connection first):
//! per partition, at most five batches are unresolved from the oldest
//! unacknowledged one on (counted across connections, acknowledged later
//! batches included), and a retry is sent only once it is the oldest
//! unacknowledged batch, so retries reach the broker one at a time and in
//! sequence order, as in the Java client.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use sluice_protocol::ErrorCode;

use crate::batch::BatchIdentity;

/// The most batches per partition the broker remembers for duplicate
/// detection (Kafka's `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`).
pub const BROKER_DEDUP_WINDOW: usize = 5;

/// The idempotent producer's id and epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdentity {
    /// Producer id from InitProducerId.
    pub producer_id: i64,
    /// Epoch from InitProducerId.
    pub producer_epoch: i16,
}

type PartitionKey = (Arc<str>, i32);

/// One batch that took a sequence, in the order sequences were assigned.
#[derive(Debug, Clone, Copy)]
struct Assigned {
    base_sequence: i32,
    completed: bool,
}

/// Sequence numbers per partition and the batches not yet acknowledged.
#[derive(Debug, Default)]
pub struct SequenceTracker {
    identity: Option<ProducerIdentity>,
    next_sequence: HashMap<PartitionKey, i32>,
    /// Per partition, every batch from the oldest unacknowledged one to the
    /// newest, in sequence order. Batches after the oldest may already be
    /// acknowledged (a later batch can be answered while an earlier one's
    /// answer was lost with its connection); they stay until everything
    /// before them completes, because the broker may hold them *after* the
    /// oldest batch and evict it from its duplicate cache.
    window: HashMap<PartitionKey, VecDeque<Assigned>>,
    /// Partitions with an acknowledged batch under the current identity.
    confirmed: HashSet<PartitionKey>,
}

impl SequenceTracker {
    /// A tracker with no producer id yet (non-idempotent producers keep it so).
    pub fn new() -> Self {
        SequenceTracker::default()
    }

    /// The current producer id and epoch, if idempotent and initialised.
    pub fn identity(&self) -> Option<ProducerIdentity> {
        self.identity
    }

    /// Starts over with a new producer id or epoch: every partition's
    /// sequence restarts at 0 and nothing is outstanding any more.
    pub fn reset(&mut self, identity: ProducerIdentity) {
        self.identity = Some(identity);
        self.next_sequence.clear();
        self.window.clear();
        self.confirmed.clear();
    }

    /// The identity for a new batch of `record_count` records to
    /// `topic`-`partition`; advances the partition's sequence.
    /// [`BatchIdentity::NONE`] when not idempotent.
    pub fn assign(
        &mut self,
        topic: &Arc<str>,
        partition: i32,
        record_count: usize,
    ) -> BatchIdentity {
        let Some(identity) = self.identity else {
            return BatchIdentity::NONE;
        };
        let key = (topic.clone(), partition);
        let next = self.next_sequence.entry(key.clone()).or_insert(0);
        let base_sequence = *next;
        *next = wrapping_sequence(base_sequence, record_count);
        self.window.entry(key).or_default().push_back(Assigned {
            base_sequence,
            completed: false,
        });
        BatchIdentity {
            producer_id: identity.producer_id,
            producer_epoch: identity.producer_epoch,
            base_sequence,
        }
    }

    /// Whether the partition's next batch may be sent now: `head` is its
    /// identity if it was sent before (a retry), `None` for a new batch.
    ///
    /// Like the Java client, a retry goes out only when it is the oldest
    /// unacknowledged batch, so retries reach the broker strictly in
    /// sequence order, one at a time. A new batch takes a sequence only
    /// while fewer than `max_in_flight` (at most the broker's five-batch
    /// duplicate window) batches are unresolved from the oldest
    /// unacknowledged one on, counted across reconnects: otherwise the
    /// broker could write five later batches after a batch whose answer
    /// was lost, forget it, and reject its retry as out of order.
    ///
    /// Until a partition's first batch under a producer id is acknowledged,
    /// it is the only one in flight: the broker (Kafka and Sluice alike)
    /// accepts any sequence from a producer it has no state for, so a later
    /// batch overtaking the first one on another connection would be
    /// written first and the first one then refused as out of order.
    pub fn admits(
        &self,
        topic: &Arc<str>,
        partition: i32,
        head: Option<BatchIdentity>,
        max_in_flight: usize,
    ) -> bool {
        if self.identity.is_none() {
            return true;
        }
        match head {
            Some(identity) => {
                !self.is_current(identity) || self.is_oldest_outstanding(topic, partition, identity)
            }
            None => {
                let key = (topic.clone(), partition);
                let limit = if self.confirmed.contains(&key) {
                    max_in_flight.clamp(1, BROKER_DEDUP_WINDOW)
                } else {
                    1
                };
                self.window
                    .get(&key)
                    .is_none_or(|window| window.len() < limit)
            }
        }
    }

    /// Whether `batch` was written under the current producer id and epoch
    /// (a batch from before a reset must not be resent).
    pub fn is_current(&self, batch: BatchIdentity) -> bool {
        match self.identity {
            None => batch.producer_id == -1,
            Some(identity) => {
                identity.producer_id == batch.producer_id
                    && identity.producer_epoch == batch.producer_epoch
            }
        }
    }

    /// Whether `batch` is the oldest unacknowledged batch of its partition:
    /// an out-of-order rejection of the oldest batch means the broker lost
    /// our state, of a later one only that an earlier batch is missing.
    pub fn is_oldest_outstanding(
        &self,
        topic: &Arc<str>,
        partition: i32,
        batch: BatchIdentity,
    ) -> bool {
        self.window
            .get(&(topic.clone(), partition))
            .and_then(VecDeque::front)
            .is_none_or(|oldest| oldest.base_sequence == batch.base_sequence)
    }

    /// Replaces `batch` in its partition's window with the batches it was
    /// split into (their base sequences, in order): they cover its
    /// sequences, and each is acknowledged on its own.
    pub fn split(
        &mut self,
        topic: &Arc<str>,
        partition: i32,
        batch: BatchIdentity,
        pieces: &[BatchIdentity],
    ) {
        if !self.is_current(batch) || batch.base_sequence < 0 {
            return;
        }
        let Some(window) = self.window.get_mut(&(topic.clone(), partition)) else {
            return;
        };
        let Some(position) = window
            .iter()
            .position(|assigned| assigned.base_sequence == batch.base_sequence)
        else {
            return;
        };
        window.remove(position);
        for (offset, piece) in pieces.iter().enumerate() {
            window.insert(
                position + offset,
                Assigned {
                    base_sequence: piece.base_sequence,
                    completed: false,
                },
            );
        }
    }

    /// Forgets a batch that completed (delivered or failed for good).
    pub fn complete(&mut self, topic: &Arc<str>, partition: i32, batch: BatchIdentity) {
        if !self.is_current(batch) || batch.base_sequence < 0 {
            return;
        }
        let key = (topic.clone(), partition);
        self.confirmed.insert(key.clone());
        let Some(window) = self.window.get_mut(&key) else {
            return;
        };
        if let Some(assigned) = window
            .iter_mut()
            .find(|assigned| assigned.base_sequence == batch.base_sequence)
        {
            assigned.completed = true;
        }
        while window.front().is_some_and(|assigned| assigned.completed) {
            window.pop_front();
        }
        if window.is_empty() {
            self.window.remove(&key);
        }
    }
}

/// Kafka's sequence arithmetic: wraps from `i32::MAX` to 0.
pub fn wrapping_sequence(base: i32, record_count: usize) -> i32 {
    let next = i64::from(base) + record_count as i64;
    (next % (i64::from(i32::MAX) + 1)) as i32
}

/// What to do with a batch after its Produce response (or transport failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Written; complete the records. `duplicate` when the broker only
    /// recognised a resend (offsets unknown).
    Delivered {
        /// Acknowledged as DUPLICATE_SEQUENCE_NUMBER.
        duplicate: bool,
    },
    /// Send again after the backoff (refresh metadata first when the code says so).
    Retry,
    /// Fail the records with this code.
    Fail(ErrorCode),
    /// The batch is larger than the broker takes (MESSAGE_TOO_LARGE) but
    /// holds several records: split it and send the pieces.
    Split,
    /// Fail the records and get a new producer id: the broker's sequence
    /// state and ours no longer agree.
    FailAndReset(ErrorCode),
}

/// What the sender knows about a batch when its answer arrives.
#[derive(Debug, Clone, Copy)]
pub struct BatchContext {
    /// The producer is idempotent.
    pub idempotent: bool,
    /// The batch is its partition's oldest unacknowledged batch.
    pub oldest_outstanding: bool,
    /// Sends so far, this one included.
    pub attempts: u32,
    /// `retries`.
    pub max_retries: u32,
    /// `delivery.timeout.ms` has passed for the batch.
    pub deadline_passed: bool,
    /// The batch holds more than one record (it can be split).
    pub splittable: bool,
}

/// Decides a batch's fate from the broker's error code (`None` for a
/// transport failure, which is always worth retrying).
pub fn decide(code: Option<ErrorCode>, context: BatchContext) -> Verdict {
    let retry_or = |fallback: Verdict| {
        if context.deadline_passed || context.attempts > context.max_retries {
            fallback
        } else {
            Verdict::Retry
        }
    };
    match code {
        Some(ErrorCode::None) => Verdict::Delivered { duplicate: false },
        Some(ErrorCode::DuplicateSequenceNumber) if context.idempotent => {
            Verdict::Delivered { duplicate: true }
        }
        // An earlier batch of the partition failed and will be resent; this
        // one follows it.
        Some(ErrorCode::OutOfOrderSequenceNumber)
            if context.idempotent && !context.oldest_outstanding =>
        {
            retry_or(Verdict::FailAndReset(ErrorCode::OutOfOrderSequenceNumber))
        }
        Some(
            code @ (ErrorCode::OutOfOrderSequenceNumber
            | ErrorCode::UnknownProducerId
            | ErrorCode::InvalidProducerEpoch),
        ) if context.idempotent => Verdict::FailAndReset(code),
        // Like the Java client: a batch that grew past what the topic takes
        // (`batch.max.size` above `max.message.bytes`) goes again in pieces.
        Some(ErrorCode::MessageTooLarge) if context.splittable && !context.deadline_passed => {
            Verdict::Split
        }
        Some(code) if code.is_retriable() => retry_or(Verdict::Fail(code)),
        Some(code) => Verdict::Fail(code),
        None => retry_or(Verdict::Fail(ErrorCode::RequestTimedOut)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic() -> Arc<str> {
        Arc::from("t")
    }

    fn context() -> BatchContext {
        BatchContext {
            idempotent: true,
            oldest_outstanding: true,
            attempts: 1,
            max_retries: 10,
            deadline_passed: false,
            splittable: false,
        }
    }

    fn tracker() -> SequenceTracker {
        let mut tracker = SequenceTracker::new();
        tracker.reset(ProducerIdentity {
            producer_id: 7,
            producer_epoch: 0,
        });
        tracker
    }

    #[test]
    fn sequences_advance_by_record_count_per_partition() {
        let mut tracker = tracker();
        assert_eq!(tracker.assign(&topic(), 0, 3).base_sequence, 0);
        assert_eq!(tracker.assign(&topic(), 0, 2).base_sequence, 3);
        assert_eq!(tracker.assign(&topic(), 1, 1).base_sequence, 0);
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        assert_eq!(wrapping_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(wrapping_sequence(i32::MAX, 1), 0);
    }

    #[test]
    fn non_idempotent_batches_carry_no_identity() {
        let mut tracker = SequenceTracker::new();
        assert_eq!(tracker.assign(&topic(), 0, 5), BatchIdentity::NONE);
        assert!(tracker.is_current(BatchIdentity::NONE));
    }

    #[test]
    fn oldest_outstanding_moves_on_as_batches_complete() {
        let mut tracker = tracker();
        let first = tracker.assign(&topic(), 0, 2);
        let second = tracker.assign(&topic(), 0, 2);
        assert!(tracker.is_oldest_outstanding(&topic(), 0, first));
        assert!(!tracker.is_oldest_outstanding(&topic(), 0, second));
        tracker.complete(&topic(), 0, first);
        assert!(tracker.is_oldest_outstanding(&topic(), 0, second));
    }

    #[test]
    fn reset_restarts_sequences_and_makes_old_batches_stale() {
        let mut tracker = tracker();
        let old = tracker.assign(&topic(), 0, 4);
        tracker.reset(ProducerIdentity {
            producer_id: 8,
            producer_epoch: 0,
        });
        assert!(!tracker.is_current(old));
        assert_eq!(tracker.assign(&topic(), 0, 1).base_sequence, 0);
    }

    /// Kafka's duplicate detection for one producer on one partition: the
    /// last five written batches are recognised as retries, anything else
    /// must continue the sequence.
    #[derive(Default)]
    struct BrokerModel {
        written: VecDeque<(i32, i32)>,
    }

    impl BrokerModel {
        /// Appends a batch of `count` records or answers as the broker would.
        fn produce(&mut self, base: i32, count: usize) -> ErrorCode {
            let last = wrapping_sequence(base, count - 1);
            if self.written.contains(&(base, last)) {
                return ErrorCode::None;
            }
            // A producer the broker has no state for may start anywhere.
            let expected = self
                .written
                .back()
                .map_or(base, |(_, last)| wrapping_sequence(*last, 1));
            if base != expected {
                return ErrorCode::OutOfOrderSequenceNumber;
            }
            if self.written.len() == BROKER_DEDUP_WINDOW {
                self.written.pop_front();
            }
            self.written.push_back((base, last));
            ErrorCode::None
        }
    }

    #[test]
    fn a_batch_whose_answer_was_lost_is_still_deduplicated_when_retried() {
        let mut tracker = tracker();
        let mut broker = BrokerModel::default();
        // The broker writes the first batch, but its connection drops
        // before the answer arrives; its retry is still pending.
        let first = tracker.assign(&topic(), 0, 2);
        assert_eq!(broker.produce(first.base_sequence, 2), ErrorCode::None);
        tracker.complete(&topic(), 0, first);
        let lost = tracker.assign(&topic(), 0, 2);
        assert_eq!(broker.produce(lost.base_sequence, 2), ErrorCode::None);
        // Meanwhile later batches go out on a fresh connection and are
        // acknowledged, as often as the sender lets them.
        for _ in 0..10 {
            if !tracker.admits(&topic(), 0, None, 5) {
                break;
            }
            let later = tracker.assign(&topic(), 0, 2);
            assert_eq!(broker.produce(later.base_sequence, 2), ErrorCode::None);
            tracker.complete(&topic(), 0, later);
        }
        assert!(tracker.is_oldest_outstanding(&topic(), 0, lost));
        assert_eq!(
            broker.produce(lost.base_sequence, 2),
            ErrorCode::None,
            "the retry of the lost batch is recognised as a duplicate"
        );
    }

    #[test]
    fn a_later_batch_cannot_overtake_a_partitions_first_batch() {
        let mut tracker = tracker();
        let mut broker = BrokerModel::default();
        let first = tracker.assign(&topic(), 0, 2);
        // Whatever is admitted now may reach the broker before `first`
        // (on a connection opened by another request).
        let mut overtaking = Vec::new();
        while overtaking.len() < 4 && tracker.admits(&topic(), 0, None, 5) {
            overtaking.push(tracker.assign(&topic(), 0, 2));
        }
        for later in &overtaking {
            broker.produce(later.base_sequence, 2);
        }
        assert_eq!(broker.produce(first.base_sequence, 2), ErrorCode::None);
    }

    #[test]
    fn later_acknowledgements_do_not_free_the_window_before_the_oldest_batch() {
        let mut tracker = tracker();
        confirm(&mut tracker);
        let batches: Vec<_> = (0..5).map(|_| tracker.assign(&topic(), 0, 1)).collect();
        for later in &batches[1..] {
            tracker.complete(&topic(), 0, *later);
        }
        assert!(!tracker.admits(&topic(), 0, None, 5));
        tracker.complete(&topic(), 0, batches[0]);
        assert!(tracker.admits(&topic(), 0, None, 5));
    }

    #[test]
    fn a_retry_waits_until_every_earlier_batch_is_resolved() {
        let mut tracker = tracker();
        let first = tracker.assign(&topic(), 0, 1);
        let second = tracker.assign(&topic(), 0, 1);
        assert!(!tracker.admits(&topic(), 0, Some(second), 5));
        assert!(tracker.admits(&topic(), 0, Some(first), 5));
        tracker.complete(&topic(), 0, first);
        assert!(tracker.admits(&topic(), 0, Some(second), 5));
    }

    /// Gets a first batch of partition 0 acknowledged.
    fn confirm(tracker: &mut SequenceTracker) {
        let first = tracker.assign(&topic(), 0, 1);
        tracker.complete(&topic(), 0, first);
    }

    #[test]
    fn the_window_never_exceeds_the_brokers_duplicate_cache() {
        let mut tracker = tracker();
        confirm(&mut tracker);
        for _ in 0..BROKER_DEDUP_WINDOW {
            assert!(tracker.admits(&topic(), 0, None, 50));
            tracker.assign(&topic(), 0, 1);
        }
        assert!(!tracker.admits(&topic(), 0, None, 50));
        assert!(tracker.admits(&topic(), 1, None, 50), "per partition");
    }

    #[test]
    fn retriable_errors_retry_until_the_deadline() {
        let code = Some(ErrorCode::NotLeaderOrFollower);
        assert_eq!(decide(code, context()), Verdict::Retry);
        let late = BatchContext {
            deadline_passed: true,
            ..context()
        };
        assert_eq!(
            decide(code, late),
            Verdict::Fail(ErrorCode::NotLeaderOrFollower)
        );
    }

    #[test]
    fn retries_stop_after_the_configured_count() {
        let exhausted = BatchContext {
            attempts: 11,
            ..context()
        };
        assert_eq!(
            decide(None, exhausted),
            Verdict::Fail(ErrorCode::RequestTimedOut)
        );
    }

    #[test]
    fn transport_failures_are_retried() {
        assert_eq!(decide(None, context()), Verdict::Retry);
    }

    #[test]
    fn duplicate_sequence_counts_as_delivered() {
        assert_eq!(
            decide(Some(ErrorCode::DuplicateSequenceNumber), context()),
            Verdict::Delivered { duplicate: true }
        );
    }

    #[test]
    fn out_of_order_behind_a_failed_batch_is_retried() {
        let behind = BatchContext {
            oldest_outstanding: false,
            ..context()
        };
        assert_eq!(
            decide(Some(ErrorCode::OutOfOrderSequenceNumber), behind),
            Verdict::Retry
        );
    }

    #[test]
    fn out_of_order_on_the_oldest_batch_resets_the_producer() {
        assert_eq!(
            decide(Some(ErrorCode::OutOfOrderSequenceNumber), context()),
            Verdict::FailAndReset(ErrorCode::OutOfOrderSequenceNumber)
        );
    }

    #[test]
    fn unknown_producer_id_resets_the_producer() {
        assert_eq!(
            decide(Some(ErrorCode::UnknownProducerId), context()),
            Verdict::FailAndReset(ErrorCode::UnknownProducerId)
        );
    }

    #[test]
    fn a_too_large_batch_of_several_records_is_split_and_one_record_fails() {
        let several = BatchContext {
            splittable: true,
            ..context()
        };
        assert_eq!(
            decide(Some(ErrorCode::MessageTooLarge), several),
            Verdict::Split
        );
        assert_eq!(
            decide(Some(ErrorCode::MessageTooLarge), context()),
            Verdict::Fail(ErrorCode::MessageTooLarge)
        );
    }

    #[test]
    fn split_pieces_replace_their_batch_in_sequence_order() {
        let topic = topic();
        let mut tracker = tracker();
        let first = tracker.assign(&topic, 0, 10);
        let second = tracker.assign(&topic, 0, 4);
        let pieces = [
            BatchIdentity {
                base_sequence: 0,
                ..first
            },
            BatchIdentity {
                base_sequence: 6,
                ..first
            },
        ];
        tracker.split(&topic, 0, first, &pieces);
        assert!(tracker.is_oldest_outstanding(&topic, 0, pieces[0]));
        tracker.complete(&topic, 0, pieces[0]);
        assert!(tracker.is_oldest_outstanding(&topic, 0, pieces[1]));
        assert!(!tracker.is_oldest_outstanding(&topic, 0, second));
        tracker.complete(&topic, 0, pieces[1]);
        assert!(tracker.is_oldest_outstanding(&topic, 0, second));
        assert_eq!(second.base_sequence, 10);
    }

    #[test]
    fn non_retriable_errors_fail_at_once() {
        assert_eq!(
            decide(Some(ErrorCode::MessageTooLarge), context()),
            Verdict::Fail(ErrorCode::MessageTooLarge)
        );
    }
}

//! The record accumulator: per-partition queues of batches, deciding which
//! are ready to send given the current time. Sans-IO: the caller passes
//! `now_ms`, completions are an opaque type, nothing here blocks or spawns.
//!
//! A partition's batch is ready when it is full (`batch.size`), when it has
//! waited `linger.ms`, or while a flush is in progress; a batch being
//! retried is ready once its backoff has passed. Retried batches go back to
//! the head of their queue in sequence order, so a partition's records
//! leave in the order they were sent.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use foldhash::HashMap;
use sluice_protocol::{BatchBuilder, Compression, HeaderRef};

use crate::batch::{BatchIdentity, Content, Pending, ProducerBatch};
use crate::error::ProducerError;

/// The accumulator's limits (from [`crate::ProducerConfig`]).
#[derive(Debug, Clone, Copy)]
pub struct AccumulatorSettings {
    /// `batch.size`.
    pub batch_size: usize,
    /// `linger.ms`.
    pub linger_ms: u64,
    /// `delivery.timeout.ms`.
    pub delivery_timeout_ms: u64,
    /// `compression.type`.
    pub compression: Compression,
    /// The codec level, if set.
    pub compression_level: Option<i32>,
}

/// A record as the accumulator appends it (borrowed; copied into the batch).
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    /// Create timestamp.
    pub timestamp: i64,
    /// Key.
    pub key: Option<&'a [u8]>,
    /// Value.
    pub value: Option<&'a [u8]>,
    /// Headers.
    pub headers: &'a [HeaderRef<'a>],
}

/// Which partitions have a batch to send now, and when to look again.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Partitions with a sendable batch.
    pub ready: Vec<(Arc<str>, i32)>,
    /// The earliest instant a not-yet-ready batch becomes ready.
    pub next_check_ms: Option<u64>,
}

#[derive(Debug)]
struct PartitionQueue<C> {
    open: Option<ProducerBatch<C>>,
    closed: VecDeque<ProducerBatch<C>>,
}

impl<C> Default for PartitionQueue<C> {
    fn default() -> Self {
        PartitionQueue {
            open: None,
            closed: VecDeque::new(),
        }
    }
}

/// Per-partition batch queues.
#[derive(Debug)]
pub struct Accumulator<C> {
    settings: AccumulatorSettings,
    topics: HashMap<Arc<str>, Vec<PartitionQueue<C>>>,
    /// Builders of sent batches, kept so a steady producer allocates none.
    spare_builders: Vec<BatchBuilder>,
    flushing: bool,
}

impl<C> Accumulator<C> {
    /// An empty accumulator.
    pub fn new(settings: AccumulatorSettings) -> Self {
        Accumulator {
            settings,
            topics: HashMap::default(),
            spare_builders: Vec::new(),
            flushing: false,
        }
    }

    /// Appends a record to `topic`-`partition`'s open batch, starting a new
    /// batch when it is full; `now_ms` is called only when a batch starts.
    /// Returns whether the sender should look again: a batch filled up, or a
    /// new one started (its linger timer runs).
    ///
    /// # Errors
    /// [`ProducerError::RecordTooLarge`] (with the completion handed back)
    /// when the record does not fit even an empty batch.
    pub fn append(
        &mut self,
        topic: &str,
        partition: i32,
        record: RecordRef<'_>,
        completion: C,
        reserved_bytes: usize,
        now_ms: impl FnOnce() -> u64,
    ) -> Result<bool, (ProducerError, C)> {
        let settings = self.settings;
        let queue = self.queue_mut(topic, partition);
        if let Some(batch) = queue.open.as_mut()
            && try_append(batch, record)
        {
            batch.pending.push(Pending {
                completion,
                timestamp: record.timestamp,
            });
            batch.reserved_bytes += reserved_bytes;
            // The common case: close a full batch without looking the queue up again.
            if batch.size_bytes() < settings.batch_size {
                return Ok(false);
            }
            let full = queue
                .open
                .take()
                .expect("the batch was appended to just above");
            queue.closed.push_back(full);
            return Ok(true);
        }
        // Room for as many records as the last batch held, so the
        // completions do not grow record by record.
        let records_hint = {
            let queue = self.queue_mut(topic, partition);
            queue
                .open
                .as_ref()
                .or(queue.closed.back())
                .map_or(0, ProducerBatch::record_count)
        };
        self.close_open(topic, partition);
        // The clock is read only here: most records join an open batch.
        let mut batch = self.new_batch(topic, partition, now_ms(), settings);
        batch.pending.reserve_exact(records_hint);
        if !try_append(&mut batch, record) {
            self.recycle(batch);
            return Err((
                ProducerError::RecordTooLarge {
                    size: reserved_bytes,
                    max: i32::MAX as usize,
                },
                completion,
            ));
        }
        batch.pending.push(Pending {
            completion,
            timestamp: record.timestamp,
        });
        batch.reserved_bytes = reserved_bytes;
        self.queue_mut(topic, partition).open = Some(batch);
        self.close_if_full(topic, partition);
        Ok(true)
    }

    fn new_batch(
        &mut self,
        topic: &str,
        partition: i32,
        now_ms: u64,
        settings: AccumulatorSettings,
    ) -> ProducerBatch<C> {
        let builder = self.spare_builders.pop().unwrap_or_else(|| {
            BatchBuilder::new(settings.compression, settings.batch_size)
                .with_compression_level(settings.compression_level)
        });
        let topic = self
            .topics
            .get_key_value(topic)
            .map_or_else(|| Arc::from(topic), |(name, _)| name.clone());
        ProducerBatch {
            topic,
            partition,
            created_ms: now_ms,
            deadline_ms: now_ms.saturating_add(settings.delivery_timeout_ms),
            retry_at_ms: 0,
            sent_as_oldest: false,
            attempts: 0,
            last_error: None,
            reserved_bytes: 0,
            pending: Vec::new(),
            content: Content::Open(builder),
        }
    }

    fn queue_mut(&mut self, topic: &str, partition: i32) -> &mut PartitionQueue<C> {
        let index = usize::try_from(partition).unwrap_or(0);
        if !self.topics.contains_key(topic) {
            self.topics.insert(Arc::from(topic), Vec::new());
        }
        let queues = self
            .topics
            .get_mut(topic)
            .expect("the topic's queues exist or were inserted just above");
        if queues.len() <= index {
            queues.resize_with(index + 1, PartitionQueue::default);
        }
        &mut queues[index]
    }

    fn close_if_full(&mut self, topic: &str, partition: i32) -> bool {
        let batch_size = self.settings.batch_size;
        let queue = self.queue_mut(topic, partition);
        let full = queue
            .open
            .as_ref()
            .is_some_and(|batch| batch.size_bytes() >= batch_size);
        full && self.close_open(topic, partition)
    }

    /// Moves the open batch to the send queue; whether there was one.
    fn close_open(&mut self, topic: &str, partition: i32) -> bool {
        let queue = self.queue_mut(topic, partition);
        match queue.open.take() {
            Some(batch) => {
                queue.closed.push_back(batch);
                true
            }
            None => false,
        }
    }

    /// Starts or ends a flush: while flushing, every open batch is ready
    /// without waiting for `linger.ms`.
    pub fn set_flushing(&mut self, flushing: bool) {
        self.flushing = flushing;
    }

    /// The partitions with a batch to send at `now_ms`, and when the next
    /// lingering or backing-off batch becomes ready.
    pub fn ready(&self, now_ms: u64) -> Readiness {
        let mut readiness = Readiness::default();
        let mut note = |at: u64| {
            readiness.next_check_ms = Some(readiness.next_check_ms.map_or(at, |next| next.min(at)));
        };
        let mut ready = Vec::new();
        for (topic, queues) in &self.topics {
            for (index, queue) in queues.iter().enumerate() {
                let at = match (queue.closed.front(), &queue.open) {
                    (Some(head), _) => Some(head.retry_at_ms),
                    (None, Some(open)) if self.flushing => Some(open.created_ms.min(now_ms)),
                    (None, Some(open)) => Some(open.created_ms + self.settings.linger_ms),
                    (None, None) => None,
                };
                match at {
                    Some(at) if at <= now_ms => ready.push((topic.clone(), index as i32)),
                    Some(at) => note(at),
                    None => {}
                }
            }
        }
        readiness.ready = ready;
        readiness
    }

    /// Takes the batch to send next for `topic`-`partition` if it is ready at `now_ms`.
    pub fn drain(&mut self, topic: &str, partition: i32, now_ms: u64) -> Option<ProducerBatch<C>> {
        self.drain_if(topic, partition, now_ms, |_| true)
    }

    /// Like [`Accumulator::drain`], but only when `admit` accepts the head
    /// batch, given its identity if it was sent before (`None` for a batch
    /// that never was): the idempotent sender's per-partition ordering gate.
    pub fn drain_if(
        &mut self,
        topic: &str,
        partition: i32,
        now_ms: u64,
        admit: impl FnOnce(Option<BatchIdentity>) -> bool,
    ) -> Option<ProducerBatch<C>> {
        let linger_ms = self.settings.linger_ms;
        let flushing = self.flushing;
        let queue = self.queue_mut(topic, partition);
        match queue.closed.front() {
            Some(head) if head.retry_at_ms <= now_ms => {
                if admit(head.built().map(|(_, identity)| identity)) {
                    queue.closed.pop_front()
                } else {
                    None
                }
            }
            Some(_) => None,
            None => {
                let lingered = queue
                    .open
                    .as_ref()
                    .is_some_and(|open| flushing || open.created_ms + linger_ms <= now_ms);
                if lingered && admit(None) {
                    queue.open.take()
                } else {
                    None
                }
            }
        }
    }

    /// Encodes `batch` (once; a retried batch keeps its bytes) with `identity`
    /// and returns its bytes; the builder goes back to the pool.
    ///
    /// # Errors
    /// [`ProducerError::Batch`] when compression fails.
    pub fn build(
        &mut self,
        batch: &mut ProducerBatch<C>,
        identity: BatchIdentity,
    ) -> Result<Bytes, ProducerError> {
        let builder = match &mut batch.content {
            Content::Built { bytes, .. } => return Ok(bytes.clone()),
            Content::Open(builder) => builder,
        };
        builder.set_producer(identity.producer_id, identity.producer_epoch);
        builder.set_base_sequence(identity.base_sequence);
        let built = builder.build();
        let spare = std::mem::replace(
            &mut batch.content,
            Content::Built {
                bytes: Bytes::new(),
                identity,
            },
        );
        if let Content::Open(builder) = spare {
            self.spare_builders.push(builder);
        }
        let bytes = built?;
        batch.content = Content::Built {
            bytes: bytes.clone(),
            identity,
        };
        Ok(bytes)
    }

    /// Puts a batch that must be sent again back at the head of its queue,
    /// ordered by sequence among other retries, ready at `retry_at_ms`.
    pub fn reenqueue(&mut self, mut batch: ProducerBatch<C>, retry_at_ms: u64) {
        batch.retry_at_ms = retry_at_ms;
        let sequence = batch.built().map(|(_, identity)| identity.base_sequence);
        let topic = batch.topic.clone();
        let queue = self.queue_mut(&topic, batch.partition);
        let position = queue
            .closed
            .iter()
            .position(|queued| match (queued.built(), sequence) {
                (Some((_, queued_identity)), Some(sequence)) => {
                    queued_identity.base_sequence > sequence
                }
                (Some(_), None) => false,
                (None, _) => true,
            })
            .unwrap_or(queue.closed.len());
        queue.closed.insert(position, batch);
    }

    /// Removes every queued batch whose delivery deadline passed.
    pub fn expire(&mut self, now_ms: u64) -> Vec<ProducerBatch<C>> {
        let mut expired = Vec::new();
        for queues in self.topics.values_mut() {
            for queue in queues.iter_mut() {
                if queue.open.as_ref().is_some_and(|b| b.deadline_ms <= now_ms)
                    && let Some(batch) = queue.open.take()
                {
                    expired.push(batch);
                }
                // Called on every sender wake-up with up to `buffer.memory`
                // of batches queued: look before moving anything.
                if queue.closed.iter().any(|batch| batch.deadline_ms <= now_ms) {
                    let (keep, gone): (VecDeque<_>, VecDeque<_>) = queue
                        .closed
                        .drain(..)
                        .partition(|batch| batch.deadline_ms > now_ms);
                    queue.closed = keep;
                    expired.extend(gone);
                }
            }
        }
        expired
    }

    /// Removes every queued batch (the producer is shutting down).
    pub fn drain_all(&mut self) -> Vec<ProducerBatch<C>> {
        let mut all = Vec::new();
        for queues in self.topics.values_mut() {
            for queue in queues.iter_mut() {
                all.extend(queue.closed.drain(..));
                all.extend(queue.open.take());
            }
        }
        all
    }

    /// Whether any batch is queued.
    pub fn has_queued(&self) -> bool {
        self.topics
            .values()
            .flatten()
            .any(|queue| queue.open.is_some() || !queue.closed.is_empty())
    }

    /// Returns an unsent batch's builder to the pool.
    fn recycle(&mut self, batch: ProducerBatch<C>) {
        if let Content::Open(mut builder) = batch.content {
            builder.reset();
            self.spare_builders.push(builder);
        }
    }
}

fn try_append<C>(batch: &mut ProducerBatch<C>, record: RecordRef<'_>) -> bool {
    match &mut batch.content {
        Content::Open(builder) => {
            builder.append(record.timestamp, record.key, record.value, record.headers)
        }
        Content::Built { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AccumulatorSettings {
        AccumulatorSettings {
            batch_size: 1_024,
            linger_ms: 10,
            delivery_timeout_ms: 1_000,
            compression: Compression::None,
            compression_level: None,
        }
    }

    fn record(value: &[u8]) -> RecordRef<'_> {
        RecordRef {
            timestamp: 1,
            key: None,
            value: Some(value),
            headers: &[],
        }
    }

    fn append(accumulator: &mut Accumulator<u32>, partition: i32, id: u32, value: &[u8], now: u64) {
        let appended = accumulator.append("t", partition, record(value), id, value.len(), || now);
        assert!(appended.is_ok(), "record {id} appended");
    }

    fn ready_partitions(accumulator: &Accumulator<u32>, now: u64) -> Vec<i32> {
        let mut ready: Vec<i32> = accumulator
            .ready(now)
            .ready
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        ready.sort_unstable();
        ready
    }

    #[test]
    fn a_new_batch_waits_for_linger() {
        let mut accumulator = Accumulator::new(settings());
        append(&mut accumulator, 0, 1, b"a", 100);
        assert!(ready_partitions(&accumulator, 105).is_empty());
        assert_eq!(accumulator.ready(105).next_check_ms, Some(110));
        assert_eq!(ready_partitions(&accumulator, 110), vec![0]);
    }

    #[test]
    fn records_share_a_batch_until_batch_size() {
        let mut accumulator = Accumulator::new(settings());
        for id in 0..5 {
            append(&mut accumulator, 0, id, &[0; 100], 0);
        }
        let batch = accumulator.drain("t", 0, 10).expect("lingered batch");
        assert_eq!(batch.record_count(), 5);
        assert_eq!(
            batch
                .pending
                .iter()
                .map(|p| p.completion)
                .collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4]
        );
    }

    #[test]
    fn a_full_batch_is_ready_without_linger() {
        let mut accumulator = Accumulator::new(settings());
        for id in 0..12 {
            append(&mut accumulator, 0, id, &[0; 100], 0);
        }
        assert_eq!(ready_partitions(&accumulator, 0), vec![0]);
        let full = accumulator.drain("t", 0, 0).expect("full batch");
        assert!(full.size_bytes() >= 1_024 - 120 && full.record_count() < 12);
    }

    #[test]
    fn a_record_larger_than_batch_size_gets_its_own_batch() {
        let mut accumulator = Accumulator::new(settings());
        append(&mut accumulator, 0, 1, &[0; 4_000], 0);
        let batch = accumulator
            .drain("t", 0, 0)
            .expect("oversized batch is full at once");
        assert_eq!(batch.record_count(), 1);
    }

    #[test]
    fn flushing_makes_open_batches_ready_at_once() {
        let mut accumulator = Accumulator::new(settings());
        append(&mut accumulator, 3, 1, b"a", 0);
        accumulator.set_flushing(true);
        assert_eq!(ready_partitions(&accumulator, 0), vec![3]);
    }

    #[test]
    fn partitions_batch_independently() {
        let mut accumulator = Accumulator::new(settings());
        append(&mut accumulator, 0, 1, b"a", 0);
        append(&mut accumulator, 1, 2, b"b", 5);
        assert_eq!(ready_partitions(&accumulator, 10), vec![0]);
        assert_eq!(ready_partitions(&accumulator, 15), vec![0, 1]);
    }

    #[test]
    fn retried_batches_wait_for_backoff_and_keep_sequence_order() {
        let mut accumulator = Accumulator::new(settings());
        let mut built = Vec::new();
        for (id, sequence) in [(1, 0), (2, 5)] {
            append(&mut accumulator, 0, id, b"a", 0);
            let mut batch = accumulator.drain("t", 0, 10).expect("lingered");
            let identity = BatchIdentity {
                producer_id: 9,
                producer_epoch: 0,
                base_sequence: sequence,
            };
            assert!(accumulator.build(&mut batch, identity).is_ok());
            built.push(batch);
        }
        append(&mut accumulator, 0, 3, b"new", 10);
        let second = built.pop().expect("two batches");
        let first = built.pop().expect("two batches");
        accumulator.reenqueue(second, 50);
        accumulator.reenqueue(first, 50);
        assert!(
            accumulator.drain("t", 0, 40).is_none(),
            "backoff holds the partition"
        );
        let order: Vec<u32> = (0..3)
            .filter_map(|_| accumulator.drain("t", 0, 60))
            .map(|batch| batch.pending[0].completion)
            .collect();
        assert_eq!(order, vec![1, 2, 3]);
    }

    #[test]
    fn a_refused_head_batch_stays_at_the_head() {
        let mut accumulator = Accumulator::new(settings());
        append(&mut accumulator, 0, 1, b"a", 0);
        assert!(accumulator.drain_if("t", 0, 10, |_| false).is_none());
        let batch = accumulator.drain_if("t", 0, 10, |head| head.is_none());
        assert_eq!(batch.map(|b| b.pending[0].completion), Some(1));
    }

    #[test]
    fn a_built_batch_keeps_its_bytes_across_retries() {
        let mut accumulator = Accumulator::new(settings());
        append(&mut accumulator, 0, 1, b"a", 0);
        let mut batch = accumulator.drain("t", 0, 10).expect("lingered");
        let identity = BatchIdentity {
            producer_id: 4,
            producer_epoch: 1,
            base_sequence: 7,
        };
        let first = accumulator.build(&mut batch, identity).ok();
        let again = accumulator.build(&mut batch, BatchIdentity::NONE).ok();
        assert!(first.is_some());
        assert_eq!(first, again);
        assert_eq!(batch.built().map(|(_, id)| id), Some(identity));
    }

    #[test]
    fn expired_batches_are_removed() {
        let mut accumulator = Accumulator::new(settings());
        append(&mut accumulator, 0, 1, b"a", 0);
        append(&mut accumulator, 1, 2, b"b", 500);
        let expired = accumulator.expire(1_000);
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].partition, 0);
        assert!(accumulator.has_queued());
    }
}

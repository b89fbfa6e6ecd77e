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
use sluice_protocol::{
    BatchBuilder, BatchError, Compression, Header, HeaderRef, Record, RecordBatchView,
};

use crate::batch::{BatchIdentity, Content, Pending, ProducerBatch};
use crate::error::ProducerError;
use crate::sequence::wrapping_sequence;

/// The accumulator's limits (from [`crate::ProducerConfig`]).
#[derive(Debug, Clone, Copy)]
pub struct AccumulatorSettings {
    /// `batch.size`: a batch this big is ready to send.
    pub batch_size: usize,
    /// `batch.max.size`: how big a ready batch may grow while an older
    /// batch of its partition still waits to be sent (at least `batch_size`).
    pub batch_max_size: usize,
    /// `linger.ms`.
    pub linger_ms: u64,
    /// `delivery.timeout.ms`.
    pub delivery_timeout_ms: u64,
    /// `compression.type`.
    pub compression: Compression,
    /// The codec level, if set.
    pub compression_level: Option<i32>,
}

impl AccumulatorSettings {
    /// Whether `batch` reached `batch.size` (as its expected size on the
    /// wire): ready to send (an open batch past it is one growing behind an
    /// older batch of its partition).
    fn is_full<C>(&self, batch: &ProducerBatch<C>) -> bool {
        batch.size_bytes() >= batch.full_bytes
    }

    /// Uncompressed bytes a new batch holds before it counts as full: those
    /// expected to compress to `batch.size` at `ratio`, never more than
    /// `batch.max.size`.
    fn full_bytes(&self, ratio: f32) -> usize {
        if self.compression == Compression::None {
            return self.batch_size;
        }
        let expected = (self.batch_size as f64 / f64::from(ratio.clamp(0.01, 1.0))) as usize;
        expected.clamp(self.batch_size, self.batch_max_size.max(self.batch_size))
    }
}

/// How the estimate of a partition's compression ratio (compressed bytes over
/// uncompressed) follows what its built batches show: as the Java client does,
/// it improves in small steps and worsens at once, so that data turning less
/// compressible soon stops making batches much larger than `batch.size`.
const RATIO_IMPROVING_STEP: f32 = 0.005;
const RATIO_WORSENING_STEP: f32 = 0.05;

fn next_ratio(estimate: f32, observed: f32) -> f32 {
    if observed > estimate {
        (estimate + RATIO_WORSENING_STEP).max(observed).min(1.0)
    } else {
        (estimate - RATIO_IMPROVING_STEP).max(observed)
    }
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
    /// Estimated compressed size over uncompressed size of this partition's
    /// batches (1 until a compressed batch was built).
    compression_ratio: f32,
}

impl<C> Default for PartitionQueue<C> {
    fn default() -> Self {
        PartitionQueue {
            open: None,
            closed: VecDeque::new(),
            compression_ratio: 1.0,
        }
    }
}

type TopicQueues<C> = (Arc<str>, Vec<PartitionQueue<C>>);

/// Where a topic's queues are in the accumulator: looked up by name once,
/// then used for every record of a run without hashing the name again.
/// Valid for the accumulator's lifetime (a topic, once seen, stays).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicSlot(usize);

impl TopicSlot {
    /// A dense index from 0: the topic's place among those seen so far.
    pub fn index(self) -> usize {
        self.0
    }
}

/// Per-partition batch queues.
#[derive(Debug)]
pub struct Accumulator<C> {
    settings: AccumulatorSettings,
    /// By slot: the name batches share, and the queues by partition.
    topics: Vec<TopicQueues<C>>,
    /// Each topic's slot, by name.
    slots: hashbrown::HashMap<String, usize, foldhash::fast::RandomState>,
    /// Builders of sent batches, kept so a steady producer allocates none.
    spare_builders: Vec<BatchBuilder>,
    flushing: bool,
}

impl<C> Accumulator<C> {
    /// An empty accumulator.
    pub fn new(settings: AccumulatorSettings) -> Self {
        Accumulator {
            settings,
            topics: Vec::new(),
            slots: hashbrown::HashMap::default(),
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
        let slot = self.topic_slot(topic);
        self.append_in(slot, partition, record, completion, reserved_bytes, now_ms)
    }

    /// [`Accumulator::append`] to the topic in `slot` (from
    /// [`Accumulator::topic_slot`]).
    ///
    /// # Errors
    /// As [`Accumulator::append`].
    pub fn append_in(
        &mut self,
        slot: TopicSlot,
        partition: i32,
        record: RecordRef<'_>,
        completion: C,
        reserved_bytes: usize,
        now_ms: impl FnOnce() -> u64,
    ) -> Result<bool, (ProducerError, C)> {
        let settings = self.settings;
        let queue = self.queue_at(slot, partition);
        // While an older batch of the partition waits to be sent (every
        // request slot is taken), the open one may grow past `batch.size`
        // up to `batch.max.size`: a backlog then leaves in fewer, larger
        // requests instead of queueing `batch.size` pieces (KIP-782).
        let backlog = !queue.closed.is_empty();
        let limit = |batch: &ProducerBatch<C>| {
            if backlog {
                settings.batch_max_size.max(batch.full_bytes)
            } else {
                batch.full_bytes
            }
        };
        if let Some(batch) = queue.open.as_mut()
            && try_append(batch, record, limit(batch))
        {
            batch.pending.push(Pending {
                completion,
                timestamp: record.timestamp,
            });
            batch.reserved_bytes += reserved_bytes;
            // The common case: close a full batch without looking the queue up again.
            if batch.size_bytes() < limit(batch) {
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
            let queue = self.queue_at(slot, partition);
            queue
                .open
                .as_ref()
                .or(queue.closed.back())
                .map_or(0, ProducerBatch::record_count)
        };
        self.close_open(slot, partition);
        // The clock is read only here: most records join an open batch.
        let mut batch = self.new_batch(slot, partition, now_ms(), settings);
        batch.pending.reserve_exact(records_hint);
        let full_bytes = batch.full_bytes;
        if !try_append(&mut batch, record, full_bytes) {
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
        self.queue_at(slot, partition).open = Some(batch);
        self.close_if_full(slot, partition);
        Ok(true)
    }

    fn new_batch(
        &mut self,
        slot: TopicSlot,
        partition: i32,
        now_ms: u64,
        settings: AccumulatorSettings,
    ) -> ProducerBatch<C> {
        let builder = self.spare_builders.pop().unwrap_or_else(|| {
            BatchBuilder::new(settings.compression, settings.batch_size)
                .with_compression_level(settings.compression_level)
        });
        let full_bytes = settings.full_bytes(self.queue_at(slot, partition).compression_ratio);
        let topic = self.topics[slot.0].0.clone();
        ProducerBatch {
            topic,
            partition,
            full_bytes,
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

    /// The slot of `topic`, which is added (with no queues) when new.
    pub fn topic_slot(&mut self, topic: &str) -> TopicSlot {
        // One lookup: `entry_ref` copies the name only when it inserts.
        let topics = &mut self.topics;
        let index = *self.slots.entry_ref(topic).or_insert_with(|| {
            topics.push((Arc::from(topic), Vec::new()));
            topics.len() - 1
        });
        TopicSlot(index)
    }

    fn queue_mut(&mut self, topic: &str, partition: i32) -> &mut PartitionQueue<C> {
        let slot = self.topic_slot(topic);
        self.queue_at(slot, partition)
    }

    fn queue_at(&mut self, slot: TopicSlot, partition: i32) -> &mut PartitionQueue<C> {
        let index = usize::try_from(partition).unwrap_or(0);
        let queues = &mut self.topics[slot.0].1;
        if queues.len() <= index {
            queues.resize_with(index + 1, PartitionQueue::default);
        }
        &mut queues[index]
    }

    fn close_if_full(&mut self, slot: TopicSlot, partition: i32) -> bool {
        let settings = self.settings;
        let queue = self.queue_at(slot, partition);
        let full = queue
            .open
            .as_ref()
            .is_some_and(|batch| settings.is_full(batch));
        full && self.close_open(slot, partition)
    }

    /// Moves the open batch to the send queue; whether there was one.
    fn close_open(&mut self, slot: TopicSlot, partition: i32) -> bool {
        let queue = self.queue_at(slot, partition);
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
                    (None, Some(open)) if self.flushing || self.settings.is_full(open) => {
                        Some(open.created_ms.min(now_ms))
                    }
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
        let settings = self.settings;
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
                let lingered = queue.open.as_ref().is_some_and(|open| {
                    flushing
                        || open.created_ms + settings.linger_ms <= now_ms
                        || settings.is_full(open)
                });
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
        let uncompressed = builder.estimated_size();
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
        if self.settings.compression != Compression::None && uncompressed > 0 {
            let observed = bytes.len() as f32 / uncompressed as f32;
            let queue = self.queue_mut(&batch.topic, batch.partition);
            queue.compression_ratio = next_ratio(queue.compression_ratio, observed);
        }
        batch.content = Content::Built {
            bytes: bytes.clone(),
            identity,
        };
        Ok(bytes)
    }

    /// Splits a built batch the broker refused as too large
    /// (MESSAGE_TOO_LARGE) into built batches of at most half its size and
    /// at most `batch.size`, in record order, ready to be
    /// [`reenqueue`](Self::reenqueue)d. An idempotent batch's pieces keep its
    /// producer id and epoch and take its sequence numbers in turn, so the
    /// broker still sees one unbroken run of sequences. Each record keeps its
    /// waiter, timestamp, key, value and headers; the `buffer.memory` bytes
    /// are shared out by record count.
    ///
    /// # Errors
    /// [`ProducerError::Batch`] when the batch's bytes cannot be read back or
    /// a piece cannot be encoded; the batch is handed back with it (whole).
    pub fn split(
        &mut self,
        mut batch: ProducerBatch<C>,
    ) -> Result<Vec<ProducerBatch<C>>, SplitError<C>> {
        let Some((bytes, identity)) = batch.built().map(|(bytes, id)| (bytes.clone(), id)) else {
            return Ok(vec![batch]);
        };
        // The estimate made this batch too large: start the partition's
        // next batches from `batch.size` again, as the Java client does.
        self.queue_mut(&batch.topic, batch.partition)
            .compression_ratio = 1.0;
        let records = match read_back(bytes.clone(), batch.record_count()) {
            Ok(records) => records,
            Err(error) => {
                return Err(SplitError {
                    error,
                    batch: Box::new(batch),
                });
            }
        };
        let limit = (bytes.len() / 2).clamp(1, self.settings.batch_size);
        let mut builders: Vec<BatchBuilder> = Vec::new();
        for record in &records {
            let headers: Vec<Header> = record.headers.iter().collect();
            let Some(headers) = header_refs(&headers) else {
                let error = BatchError::InvalidRecord {
                    index: u32::try_from(record.offset_delta).unwrap_or(u32::MAX),
                    reason: "header key is not UTF-8",
                };
                return Err(SplitError {
                    error: error.into(),
                    batch: Box::new(batch),
                });
            };
            let append = |builder: &mut BatchBuilder| {
                builder.append(
                    record.timestamp,
                    record.key.as_deref(),
                    record.value.as_deref(),
                    &headers,
                )
            };
            if !builders.last_mut().is_some_and(append) {
                let mut builder = BatchBuilder::new(self.settings.compression, limit)
                    .with_compression_level(self.settings.compression_level);
                // The first record of a batch always fits.
                append(&mut builder);
                builders.push(builder);
            }
        }
        // Encode every piece before taking the batch apart, so a failure
        // hands it back whole.
        let mut base_sequence = identity.base_sequence;
        let mut encoded = Vec::with_capacity(builders.len());
        for mut builder in builders {
            let count = builder.record_count();
            let piece_identity = BatchIdentity {
                base_sequence,
                ..identity
            };
            if identity.base_sequence >= 0 {
                base_sequence = wrapping_sequence(base_sequence, count);
            }
            builder.set_producer(identity.producer_id, identity.producer_epoch);
            builder.set_base_sequence(piece_identity.base_sequence);
            match builder.build() {
                Ok(bytes) => encoded.push((bytes, piece_identity, count)),
                Err(error) => {
                    return Err(SplitError {
                        error: error.into(),
                        batch: Box::new(batch),
                    });
                }
            }
        }
        let total_records = batch.pending.len().max(1);
        let mut reserved_left = batch.reserved_bytes;
        let mut waiters = std::mem::take(&mut batch.pending).into_iter();
        let last = encoded.len().saturating_sub(1);
        let pieces = encoded
            .into_iter()
            .enumerate()
            .map(|(index, (bytes, identity, count))| {
                let reserved = if index == last {
                    reserved_left
                } else {
                    batch.reserved_bytes * count / total_records
                };
                reserved_left -= reserved;
                ProducerBatch {
                    topic: batch.topic.clone(),
                    partition: batch.partition,
                    full_bytes: batch.full_bytes,
                    created_ms: batch.created_ms,
                    deadline_ms: batch.deadline_ms,
                    retry_at_ms: batch.retry_at_ms,
                    sent_as_oldest: false,
                    attempts: batch.attempts,
                    last_error: batch.last_error.clone(),
                    reserved_bytes: reserved,
                    pending: waiters.by_ref().take(count).collect(),
                    content: Content::Built { bytes, identity },
                }
            })
            .collect();
        Ok(pieces)
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
        for (_, queues) in &mut self.topics {
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
        for (_, queues) in &mut self.topics {
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
            .iter()
            .flat_map(|(_, queues)| queues)
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

/// A batch that could not be split, with the reason; its waiters are all
/// still in it.
#[derive(Debug)]
pub struct SplitError<C> {
    /// Why.
    pub error: ProducerError,
    /// The batch, whole (boxed: this is the rare path).
    pub batch: Box<ProducerBatch<C>>,
}

/// Reads a built batch's records back (decompressing them), checking that
/// there are as many as it has waiters.
fn read_back(bytes: Bytes, expected: usize) -> Result<Vec<Record>, ProducerError> {
    let records = RecordBatchView::parse(bytes)?
        .records(usize::MAX)?
        .collect::<Result<Vec<Record>, _>>()?;
    if records.len() == expected {
        Ok(records)
    } else {
        Err(BatchError::RecordCountMismatch {
            declared: i32::try_from(expected).unwrap_or(i32::MAX),
            reason: "the batch has another number of waiters",
        }
        .into())
    }
}

/// A record's headers as the builder takes them; `None` if a key is not
/// UTF-8 (the builder only ever wrote `&str` keys).
fn header_refs(headers: &[Header]) -> Option<Vec<HeaderRef<'_>>> {
    headers
        .iter()
        .map(|header| {
            Some((
                std::str::from_utf8(&header.key).ok()?,
                header.value.as_deref(),
            ))
        })
        .collect()
}

/// Appends `record` unless that takes the batch past `limit` bytes (the
/// first record of a batch always fits).
fn try_append<C>(batch: &mut ProducerBatch<C>, record: RecordRef<'_>, limit: usize) -> bool {
    match &mut batch.content {
        Content::Open(builder) => {
            builder.set_max_batch_bytes(limit);
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
            batch_max_size: 1_024,
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

    /// Appends `batches` batches' worth of compressible 100-byte records to
    /// partition 0, draining (and building) each as soon as it is full;
    /// returns the uncompressed size of each batch.
    fn compressed_batch_sizes(accumulator: &mut Accumulator<u32>, batches: usize) -> Vec<usize> {
        let value = [b'x'; 100];
        let mut sizes = Vec::new();
        let mut id = 0;
        while sizes.len() < batches {
            append(accumulator, 0, id, &value, 0);
            id += 1;
            if let Some(mut batch) = accumulator.drain("t", 0, 0) {
                sizes.push(batch.size_bytes());
                assert!(accumulator.build(&mut batch, BatchIdentity::NONE).is_ok());
            }
        }
        sizes
    }

    #[test]
    fn compressed_batches_fill_to_what_compresses_to_batch_size() {
        let settings = AccumulatorSettings {
            batch_max_size: 8_192,
            compression: Compression::Lz4,
            ..settings()
        };
        let mut accumulator = Accumulator::new(settings);
        let sizes = compressed_batch_sizes(&mut accumulator, 400);
        // The first batch knows no ratio yet: full at batch.size.
        assert!((1_024 - 120..1_024 + 120).contains(&sizes[0]), "{sizes:?}");
        // The estimate improves step by step until batches reach batch.max.size.
        assert!(sizes.windows(2).all(|w| w[1] + 120 >= w[0]), "{sizes:?}");
        let last = sizes[sizes.len() - 1];
        assert!((8_192 - 120..=8_192).contains(&last), "{sizes:?}");

        // A batch split after MESSAGE_TOO_LARGE starts the estimate over.
        append(&mut accumulator, 0, 9_999, &[b'x'; 100], 0);
        let mut batch = accumulator.drain("t", 0, 10).expect("lingered batch");
        assert!(accumulator.build(&mut batch, BatchIdentity::NONE).is_ok());
        assert!(accumulator.split(batch).is_ok());
        let after = compressed_batch_sizes(&mut accumulator, 1);
        assert!(after[0] <= 1_024, "{after:?}");
    }

    #[test]
    fn uncompressed_batches_stay_at_batch_size() {
        let settings = AccumulatorSettings {
            batch_max_size: 8_192,
            ..settings()
        };
        let mut accumulator = Accumulator::new(settings);
        let sizes = compressed_batch_sizes(&mut accumulator, 50);
        assert!(sizes.iter().all(|size| *size <= 1_024), "{sizes:?}");
    }

    fn growing_settings() -> AccumulatorSettings {
        AccumulatorSettings {
            batch_max_size: 4_096,
            ..settings()
        }
    }

    /// Appends 100-byte records `ids` to partition 0 at time 0.
    fn append_records(accumulator: &mut Accumulator<u32>, ids: std::ops::Range<u32>) {
        for id in ids {
            append(accumulator, 0, id, &[0; 100], 0);
        }
    }

    #[test]
    fn a_full_batch_grows_while_an_older_one_waits_to_be_sent() {
        let mut accumulator = Accumulator::new(growing_settings());
        // The first batch fills and waits (every request slot is taken).
        append_records(&mut accumulator, 0..12);
        // The next 30 records (over 3 KiB) join one batch, not three.
        append_records(&mut accumulator, 12..42);
        let first = accumulator.drain("t", 0, 0).expect("the full first batch");
        assert!(first.size_bytes() <= 1_024 && first.record_count() < 12);
        let grown = accumulator
            .drain("t", 0, 0)
            .expect("a batch past batch.size is ready without lingering");
        assert!(grown.size_bytes() > 3 * 1_024 && grown.size_bytes() <= 4_096);
        assert_eq!(
            grown.pending.first().map(|p| p.completion),
            Some(first.pending.last().map_or(0, |p| p.completion) + 1)
        );
        assert_eq!(grown.pending.last().map(|p| p.completion), Some(41));
    }

    #[test]
    fn a_growing_batch_stops_at_batch_max_size() {
        let mut accumulator = Accumulator::new(growing_settings());
        append_records(&mut accumulator, 0..100);
        let sizes: Vec<usize> = std::iter::from_fn(|| accumulator.drain("t", 0, 100))
            .map(|batch| batch.size_bytes())
            .collect();
        assert!(sizes[0] <= 1_024, "the first batch closed at batch.size");
        assert!(sizes.iter().all(|size| *size <= 4_096), "{sizes:?}");
        assert!(
            sizes.len() <= 5,
            "~10 KiB left in batches of up to 4 KiB: {sizes:?}"
        );
    }

    #[test]
    fn without_a_backlog_a_full_batch_closes_at_batch_size() {
        let mut accumulator = Accumulator::new(growing_settings());
        append_records(&mut accumulator, 0..12);
        let first = accumulator.drain("t", 0, 0).expect("full batch");
        // Sent at once: the next batch has nothing to wait behind.
        append_records(&mut accumulator, 12..24);
        let second = accumulator.drain("t", 0, 0).expect("full batch");
        assert!(first.size_bytes() <= 1_024 && second.size_bytes() <= 1_024);
    }

    #[test]
    fn a_split_batch_keeps_its_records_waiters_and_sequences_in_order() {
        let mut accumulator = Accumulator::new(growing_settings());
        let value = |id: u32| format!("{id:04}").repeat(25);
        for id in 0..30 {
            let value = value(id);
            append(&mut accumulator, 0, id, value.as_bytes(), 0);
        }
        // Grown past batch.size: the first batch is the only one drained.
        let mut batch = accumulator.drain("t", 0, 100).expect("a batch");
        let identity = BatchIdentity {
            producer_id: 3,
            producer_epoch: 1,
            base_sequence: 40,
        };
        let size = accumulator
            .build(&mut batch, identity)
            .map(|b| b.len())
            .unwrap_or(0);
        let records = batch.record_count();
        assert!(records > 2);
        let pieces = accumulator
            .split(batch)
            .map_err(|e| e.error)
            .expect("split");
        assert!(pieces.len() >= 2);
        let mut sequence = 40;
        let mut waiters = Vec::new();
        let mut values = Vec::new();
        for piece in &pieces {
            let (bytes, piece_identity) = piece.built().expect("pieces are built");
            assert!(bytes.len() <= size / 2 + 120, "{} of {size}", bytes.len());
            assert_eq!(
                (piece_identity.producer_id, piece_identity.producer_epoch),
                (3, 1)
            );
            assert_eq!(piece_identity.base_sequence, sequence);
            let view = RecordBatchView::parse(bytes.clone()).expect("a batch");
            assert_eq!(view.base_sequence(), sequence);
            sequence += piece.record_count() as i32;
            waiters.extend(piece.pending.iter().map(|p| p.completion));
            for record in view.records(usize::MAX).expect("records") {
                let record = record.expect("a record");
                values
                    .push(String::from_utf8_lossy(&record.value.unwrap_or_default()).into_owned());
            }
        }
        assert_eq!(waiters, (0..records as u32).collect::<Vec<_>>());
        assert_eq!(values, (0..records as u32).map(value).collect::<Vec<_>>());
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

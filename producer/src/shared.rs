//! State shared by the producer handle (callers appending records) and its
//! sender task: the accumulator and partitioner under one short lock, the
//! `buffer.memory` budget, and the counters `flush` waits on.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use sluice_client::Client;
use tokio::sync::{Notify, Semaphore, oneshot};

use crate::accumulator::Accumulator;
use crate::batch::ProducerBatch;
use crate::config::ProducerConfig;
use crate::error::{ProducerError, Result};
use crate::partitioner::Partitioner;
use crate::record::{DeliveryCallback, ProducerRecord, RecordMetadata};

/// How a record's outcome reaches its caller.
pub(crate) enum Completion {
    /// `send_and_forget`: failures are logged, nothing else.
    Forget,
    /// `send`/`enqueue`: a channel per record.
    Channel(oneshot::Sender<Result<RecordMetadata>>),
    /// `send_with_callback`: a shared callback and the caller's token; no
    /// allocation per record.
    Callback(Arc<dyn DeliveryCallback>, u64),
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Completion::Forget => f.write_str("Forget"),
            Completion::Channel(_) => f.write_str("Channel"),
            Completion::Callback(_, token) => write!(f, "Callback({token})"),
        }
    }
}

/// A record that waits for its topic's metadata or buffer room, queued in
/// send order behind the topic's other waiting records.
#[derive(Debug)]
pub(crate) struct Waiting {
    pub(crate) record: ProducerRecord,
    pub(crate) completion: Completion,
    /// Learns whether the record was appended, or why not (its completion
    /// is then dropped unused).
    pub(crate) appended: oneshot::Sender<Result<()>>,
    /// `max.block.ms` after the record was sent.
    pub(crate) deadline: Instant,
}

/// What the lock protects. No `.await` happens while it is held.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) accumulator: Accumulator<Completion>,
    pub(crate) partitioner: Partitioner,
    /// Records appended and not yet completed (queued or in flight).
    pub(crate) unfinished_records: usize,
    /// Callers inside `flush`.
    pub(crate) flushers: usize,
    /// Each topic's partition count as read from the client's metadata
    /// cache: the cache's lock and lookup are taken once per topic and
    /// metadata update, not per record.
    pub(crate) known_partitions:
        hashbrown::HashMap<String, KnownPartitions, foldhash::fast::RandomState>,
}

/// A topic's partition count as of a metadata update.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KnownPartitions {
    /// [`Client::metadata_updates`] when the count was read.
    pub(crate) metadata_updates: u64,
    pub(crate) partition_count: usize,
}

impl State {
    /// `topic`'s partition count if it was read at `metadata_updates`.
    pub(crate) fn known_partition_count(
        &self,
        topic: &str,
        metadata_updates: u64,
    ) -> Option<usize> {
        self.known_partitions
            .get(topic)
            .filter(|known| known.metadata_updates == metadata_updates)
            .map(|known| known.partition_count)
    }

    /// Remembers `topic`'s partition count as read at `metadata_updates`.
    pub(crate) fn remember_partition_count(
        &mut self,
        topic: &str,
        metadata_updates: u64,
        partition_count: usize,
    ) {
        let known = KnownPartitions {
            metadata_updates,
            partition_count,
        };
        // The name is copied only the first time the topic is seen.
        *self.known_partitions.entry_ref(topic).or_insert(known) = known;
    }
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) client: Client,
    pub(crate) config: ProducerConfig,
    pub(crate) state: Mutex<State>,
    /// Wakes the sender: a batch filled or started, a flush, shutdown.
    pub(crate) wake: Notify,
    /// Wakes `flush` callers when `unfinished_records` reaches zero.
    pub(crate) idle: Notify,
    /// `buffer.memory`, in bytes.
    pub(crate) buffer: Semaphore,
    /// Set by `close` or when the last handle is dropped.
    pub(crate) closing: AtomicBool,
    /// Records waiting for metadata or buffer room (in `waiting`); while
    /// any wait, new records look for their topic's queue there so they
    /// keep their call order. The fast path reads only this counter.
    pub(crate) waiting_appends: AtomicUsize,
    /// Per topic, the records waiting to be appended, in send order. A
    /// topic has an entry while its drain task runs; the task appends the
    /// front record once metadata and buffer room are there, then the next.
    pub(crate) waiting:
        Mutex<hashbrown::HashMap<String, VecDeque<Waiting>, foldhash::fast::RandomState>>,
    /// Where the drain tasks run (the runtime the producer was made in).
    pub(crate) runtime: tokio::runtime::Handle,
    started: Instant,
}

impl Shared {
    pub(crate) fn new(
        client: Client,
        config: ProducerConfig,
        state: State,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Shared {
            buffer: Semaphore::new(config.buffer_memory),
            client,
            config,
            state: Mutex::new(state),
            wake: Notify::new(),
            idle: Notify::new(),
            closing: AtomicBool::new(false),
            waiting_appends: AtomicUsize::new(0),
            waiting: Mutex::new(hashbrown::HashMap::default()),
            runtime,
            started: Instant::now(),
        }
    }

    /// The waiting queues. Taken before the state lock, never under it.
    pub(crate) fn lock_waiting(
        &self,
    ) -> MutexGuard<'_, hashbrown::HashMap<String, VecDeque<Waiting>, foldhash::fast::RandomState>>
    {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned state is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Milliseconds on the producer's monotonic clock (the accumulator's time).
    pub(crate) fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Completes every record of `batch` with `outcome(index)` and releases
    /// its buffer bytes.
    pub(crate) fn finish_batch(
        &self,
        batch: ProducerBatch<Completion>,
        outcome: impl Fn(usize, i64) -> Result<RecordMetadata>,
    ) {
        let records = batch.record_count();
        let mut forgotten_failures = 0usize;
        let mut last_failure = None;
        let mut pending = batch.pending.into_iter().enumerate().peekable();
        while let Some((index, record)) = pending.next() {
            match record.completion {
                Completion::Channel(sender) => {
                    // The caller may have stopped waiting; that is fine.
                    let _ = sender.send(outcome(index, record.timestamp));
                }
                Completion::Callback(callback, token) => {
                    // The run of following records with the same callback
                    // goes to it in one call.
                    let first = std::iter::once((token, outcome(index, record.timestamp)));
                    let same_callback = std::iter::from_fn(|| {
                        let (index, next) = pending.next_if(|(_, next)| {
                            matches!(&next.completion, Completion::Callback(other, _) if Arc::ptr_eq(other, &callback))
                        })?;
                        let Completion::Callback(_, token) = next.completion else {
                            unreachable!("next_if admitted only callback completions");
                        };
                        Some((token, outcome(index, next.timestamp)))
                    });
                    let mut run = first.chain(same_callback);
                    callback.on_deliveries(&mut run);
                    for (token, result) in run {
                        callback.on_delivery(token, result);
                    }
                }
                Completion::Forget => {
                    if let Err(error) = outcome(index, record.timestamp) {
                        forgotten_failures += 1;
                        last_failure = Some(error);
                    }
                }
            }
        }
        if let Some(error) = last_failure {
            tracing::warn!(topic = %batch.topic, partition = batch.partition, records = forgotten_failures, %error, "fire-and-forget records failed");
        }
        self.buffer.add_permits(batch.reserved_bytes);
        let mut state = self.lock();
        state.unfinished_records = state.unfinished_records.saturating_sub(records);
        if state.unfinished_records == 0 {
            self.idle.notify_waiters();
        }
    }

    /// Fails every record of `batch` with `error`.
    pub(crate) fn fail_batch(&self, batch: ProducerBatch<Completion>, error: &ProducerError) {
        self.finish_batch(batch, |_, _| Err(error.clone()));
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use sluice_protocol::Compression;

    use super::*;
    use crate::accumulator::AccumulatorSettings;

    fn state() -> State {
        State {
            accumulator: Accumulator::new(AccumulatorSettings {
                batch_size: 1_024,
                batch_max_size: 1_024,
                linger_ms: 0,
                delivery_timeout_ms: 1_000,
                compression: Compression::None,
                compression_level: None,
            }),
            partitioner: Partitioner::new(1_024, false, StdRng::seed_from_u64(1)),
            unfinished_records: 0,
            flushers: 0,
            known_partitions: hashbrown::HashMap::default(),
        }
    }

    #[test]
    fn partition_counts_hold_per_topic_until_metadata_changes() {
        let mut state = state();
        assert_eq!(state.known_partition_count("a", 1), None);
        state.remember_partition_count("a", 1, 3);
        state.remember_partition_count("b", 1, 5);
        // Alternating topics keep both counts.
        assert_eq!(state.known_partition_count("a", 1), Some(3));
        assert_eq!(state.known_partition_count("b", 1), Some(5));
        // After a metadata update both must be read again.
        assert_eq!(state.known_partition_count("a", 2), None);
        state.remember_partition_count("a", 2, 6);
        assert_eq!(state.known_partition_count("a", 2), Some(6));
        assert_eq!(state.known_partition_count("b", 2), None);
    }
}

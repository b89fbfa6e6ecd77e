//! The public producer handle: appends records (waiting for `buffer.memory`
//! and topic metadata at most `max.block.ms`), hands back delivery futures,
//! flushes and closes.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::SeedableRng;
use rand::rngs::StdRng;
use sluice_client::Client;
use sluice_protocol::HeaderRef;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::accumulator::{Accumulator, AccumulatorSettings, RecordRef, TopicSlot};
use crate::config::ProducerConfig;
use crate::error::{ProducerError, Result, SendAllError};
use crate::partitioner::Partitioner;
use crate::record::{DeliveryCallback, ProducerRecord, RecordMetadata};
use crate::sender::Sender;
use crate::shared::{Completion, Shared, State, Waiting};

/// Sends records to a Kafka-compatible cluster. Cheap to clone; all clones
/// share one accumulator and one sender task. When the last clone is
/// dropped without [`Producer::close`], queued records are still sent in the
/// background (bounded by `delivery.timeout.ms`) while the runtime lives.
#[derive(Debug, Clone)]
pub struct Producer {
    shared: Arc<Shared>,
    lifetime: Arc<Lifetime>,
}

/// Owns the sender task; tells it to finish up when the last handle goes.
#[derive(Debug)]
struct Lifetime {
    shared: Arc<Shared>,
    sender: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Lifetime {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::Release);
        self.shared.wake.notify_one();
    }
}

/// Resolves to where a record was written, once its batch is acknowledged.
#[derive(Debug)]
pub struct DeliveryFuture {
    receiver: oneshot::Receiver<Result<RecordMetadata>>,
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.receiver)
            .poll(cx)
            .map(|result| result.unwrap_or(Err(ProducerError::Closed)))
    }
}

impl Producer {
    /// Connects to the cluster and starts the sender task.
    ///
    /// # Errors
    /// [`ProducerError::Config`] for settings that cannot work; the
    /// client's bootstrap errors.
    pub async fn connect(config: ProducerConfig) -> Result<Producer> {
        config.validate()?;
        let client = Client::connect(config.client.clone()).await?;
        Producer::with_client(client, config, StdRng::from_os_rng())
    }

    /// A producer over an existing client, with the partitioner's RNG injected.
    ///
    /// # Errors
    /// [`ProducerError::Config`] for settings that cannot work.
    pub fn with_client(client: Client, config: ProducerConfig, rng: StdRng) -> Result<Producer> {
        config.validate()?;
        let settings = AccumulatorSettings {
            batch_size: config.batch_size,
            batch_max_size: config.batch_growth_limit(),
            linger_ms: config.linger_ms,
            delivery_timeout_ms: config.delivery_timeout_ms,
            compression: config.compression()?,
            compression_level: config.compression_level(),
        };
        let state = State {
            accumulator: Accumulator::new(settings),
            partitioner: Partitioner::new(config.batch_size, config.partitioner_ignore_keys, rng),
            unfinished_records: 0,
            flushers: 0,
            known_partitions: hashbrown::HashMap::default(),
        };
        let runtime = tokio::runtime::Handle::current();
        let shared = Arc::new(Shared::new(client, config, state, runtime));
        let sender = tokio::spawn(Sender::new(shared.clone()).run());
        Ok(Producer {
            lifetime: Arc::new(Lifetime {
                shared: shared.clone(),
                sender: std::sync::Mutex::new(Some(sender)),
            }),
            shared,
        })
    }

    /// The client this producer routes through.
    pub fn client(&self) -> &Client {
        &self.shared.client
    }

    /// Sends `record` and resolves when it is acknowledged (or failed).
    ///
    /// The record is appended when `send` is called if its topic's metadata
    /// is cached and `buffer.memory` has room; otherwise it takes its place
    /// in its topic's queue of waiting records when `send` is called and is
    /// appended in the background once metadata and room arrive (at most
    /// `max.block.ms`), whether or not the future is polled. Later sends to
    /// the topic queue behind it, so records sent one after another keep
    /// their order.
    ///
    /// # Errors
    /// As [`Producer::enqueue`], then the delivery error.
    pub fn send(
        &self,
        record: ProducerRecord,
    ) -> impl Future<Output = Result<RecordMetadata>> + Send + 'static {
        let (sender, receiver) = oneshot::channel();
        let queued = match self.try_append_now(&record, Completion::Channel(sender)) {
            Ok(None) => Ok(None),
            Ok(Some(completion)) => self.append_or_queue(Cow::Owned(record), completion),
            Err(error) => Err(error),
        };
        async move {
            if let Some(appended) = queued? {
                appended.await.unwrap_or(Err(ProducerError::Closed))?;
            }
            DeliveryFuture { receiver }.await
        }
    }

    /// Appends `record` to its partition's batch and returns a future for
    /// its delivery. Waits only for metadata and buffer room; records
    /// enqueued one after another keep their order.
    ///
    /// # Errors
    /// [`ProducerError::Closed`], [`ProducerError::RecordTooLarge`],
    /// [`ProducerError::TopicNotFound`], [`ProducerError::UnknownPartition`],
    /// [`ProducerError::BufferExhausted`].
    pub async fn enqueue(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        let (sender, receiver) = oneshot::channel();
        self.append(&record, Completion::Channel(sender)).await?;
        Ok(DeliveryFuture { receiver })
    }

    /// Appends `record` without a way to learn its outcome (failures are
    /// logged). The cheapest path: no per-record channel.
    ///
    /// # Errors
    /// As [`Producer::enqueue`].
    pub async fn send_and_forget(&self, record: &ProducerRecord) -> Result<()> {
        self.append(record, Completion::Forget).await
    }

    /// Appends `record`; when its batch completes, `callback` learns the
    /// outcome with `token` (see [`DeliveryCallback`]). Like
    /// [`Producer::send_and_forget`] this allocates nothing per record, and
    /// like [`Producer::send`] every outcome is reported: the path for
    /// high-rate senders that still count acknowledgements (benchmarks,
    /// pipelines committing upstream offsets).
    ///
    /// # Errors
    /// As [`Producer::enqueue`]; the callback is not called for a record
    /// that was not appended.
    pub async fn send_with_callback(
        &self,
        record: &ProducerRecord,
        callback: &Arc<dyn DeliveryCallback>,
        token: u64,
    ) -> Result<()> {
        self.append(record, Completion::Callback(callback.clone(), token))
            .await
    }

    /// Appends `records` in order, each reported to `callback` with its
    /// token, as [`Producer::send_with_callback`] would one by one, but
    /// taking the producer's lock and reading the clock once for every run
    /// of records that can be appended at once: the path for senders that
    /// have many records in hand (librdkafka's `rd_kafka_produce_batch`
    /// plays the same part). Records without a timestamp get the time of
    /// the call. A record that must wait for metadata or buffer room waits
    /// (at most `max.block.ms`) as a single send does, and the records
    /// after it wait behind it. The iterator is advanced under the lock:
    /// keep it cheap (a slice's iterator, a map over one).
    ///
    /// Returns how many records were appended (all of them).
    ///
    /// # Errors
    /// The first record that cannot be appended stops the call, with the
    /// count of those appended before it; see [`SendAllError`].
    pub async fn send_all_with_callback<'r>(
        &self,
        records: impl IntoIterator<Item = (&'r ProducerRecord, u64)>,
        callback: &Arc<dyn DeliveryCallback>,
    ) -> std::result::Result<usize, SendAllError> {
        let mut records = records.into_iter();
        let mut appended = 0;
        loop {
            let waiting = self
                .append_run(&mut records, callback, &mut appended)
                .map_err(|error| SendAllError { appended, error })?;
            let Some((record, token)) = waiting else {
                return Ok(appended);
            };
            self.append(record, Completion::Callback(callback.clone(), token))
                .await
                .map_err(|error| SendAllError { appended, error })?;
            appended += 1;
        }
    }

    /// Appends from `records` under one turn of the lock until they run
    /// out (`None`), one must wait for metadata or buffer room (handed
    /// back, not appended), or one is refused (the error).
    fn append_run<'r>(
        &self,
        records: &mut impl Iterator<Item = (&'r ProducerRecord, u64)>,
        callback: &Arc<dyn DeliveryCallback>,
        appended: &mut usize,
    ) -> Result<Option<(&'r ProducerRecord, u64)>> {
        if self.shared.waiting_appends.load(Ordering::Acquire) > 0 {
            // Earlier appends are waiting: these queue behind them.
            return Ok(records.next());
        }
        let metadata_updates = self.shared.client.metadata_updates();
        let now_ms = wall_clock_ms();
        let mut state = self.shared.lock();
        let mut wake = false;
        // The last topic's partition count (the metadata generation is
        // fixed for the run) and accumulator slot: consecutive records
        // mostly share a topic, and often the very string.
        let mut last_topic: Option<(&'r str, usize, TopicSlot)> = None;
        let outcome = loop {
            let Some((record, token)) = records.next() else {
                break Ok(None);
            };
            let size = match self.check_record(record) {
                Ok(size) => size,
                Err(error) => break Err(error),
            };
            let topic = record.topic.as_str();
            let resolved = match last_topic {
                Some((last, count, slot)) if std::ptr::eq(last, topic) || last == topic => {
                    Some((count, slot))
                }
                _ => state
                    .known_partition_count(topic, metadata_updates)
                    .map(|count| (count, state.accumulator.topic_slot(topic))),
            };
            if let Some((count, slot)) = resolved {
                last_topic = Some((topic, count, slot));
            }
            let known = resolved.filter(|(count, _)| !beyond_partitions(record.partition, *count));
            let Some((partition_count, slot)) = known else {
                break Ok(Some((record, token)));
            };
            if let Err(error) = self.check_partition(record, partition_count) {
                break Err(error);
            }
            if !self.try_reserve_now(size) {
                break Ok(Some((record, token)));
            }
            let timestamp = record.timestamp.unwrap_or(now_ms);
            let completion = Completion::Callback(callback.clone(), token);
            match self.append_locked(
                &mut state,
                TopicPlace {
                    slot,
                    partition_count,
                },
                record,
                timestamp,
                size,
                completion,
            ) {
                Ok(more) => {
                    wake |= more;
                    *appended += 1;
                }
                Err(error) => {
                    self.shared.buffer.add_permits(size);
                    break Err(error);
                }
            }
        };
        drop(state);
        if wake {
            self.shared.wake.notify_one();
        }
        outcome
    }

    /// Appends `record` now or queues it (copied) behind its topic's
    /// waiting records, and returns once it is appended.
    async fn append(&self, record: &ProducerRecord, completion: Completion) -> Result<()> {
        if let Some(completion) = self.try_append_now(record, completion)?
            && let Some(appended) = self.append_or_queue(Cow::Borrowed(record), completion)?
        {
            appended.await.unwrap_or(Err(ProducerError::Closed))?;
        }
        Ok(())
    }

    /// The slow path: appends `record` now if its topic has no waiting
    /// records and nothing needs waiting for; otherwise queues it (copied
    /// if borrowed) at the back of its topic's waiting records, starting
    /// the topic's drain task if none runs, and hands back what learns
    /// when it is appended.
    fn append_or_queue(
        &self,
        record: Cow<'_, ProducerRecord>,
        completion: Completion,
    ) -> Result<Option<oneshot::Receiver<Result<()>>>> {
        let mut queues = self.shared.lock_waiting();
        let completion = match queues.get_mut(record.topic.as_str()) {
            Some(_) => completion,
            None => match self.append_if_ready(&record, completion)? {
                None => return Ok(None),
                Some(completion) => completion,
            },
        };
        let (appended, receiver) = oneshot::channel();
        let waiting = Waiting {
            deadline: Instant::now() + self.shared.config.max_block(),
            record: record.into_owned(),
            completion,
            appended,
        };
        self.shared.waiting_appends.fetch_add(1, Ordering::AcqRel);
        match queues.get_mut(waiting.record.topic.as_str()) {
            Some(queue) => queue.push_back(waiting),
            None => {
                let topic = waiting.record.topic.clone();
                queues.insert(topic.clone(), VecDeque::from([waiting]));
                let producer = self.clone();
                self.shared.runtime.spawn(producer.drain(topic));
            }
        }
        Ok(Some(receiver))
    }

    /// Appends `topic`'s waiting records in their order, each once its
    /// metadata and buffer room are there (or fails it at its deadline),
    /// until the queue is empty; then removes the queue.
    async fn drain(self, topic: String) {
        loop {
            let next = {
                let mut queues = self.shared.lock_waiting();
                let next = queues.get_mut(topic.as_str()).and_then(VecDeque::pop_front);
                if next.is_none() {
                    queues.remove(topic.as_str());
                }
                next
            };
            let Some(waiting) = next else {
                return;
            };
            let outcome = self
                .append_waiting(&waiting.record, waiting.completion, waiting.deadline)
                .await;
            if let Err(error) = &outcome {
                tracing::debug!(%topic, %error, "waiting record not appended");
            }
            // The caller may have stopped waiting; the record's fate stands.
            let _ = waiting.appended.send(outcome);
            if self.shared.waiting_appends.fetch_sub(1, Ordering::AcqRel) == 1 {
                let state = self.shared.lock();
                if state.unfinished_records == 0 {
                    self.shared.idle.notify_waiters();
                }
            }
        }
    }

    /// Appends at once when nothing needs waiting for; hands the completion
    /// back when metadata or buffer room must be awaited, or records wait
    /// already (the caller then queues it in order).
    fn try_append_now(
        &self,
        record: &ProducerRecord,
        completion: Completion,
    ) -> Result<Option<Completion>> {
        if self.shared.waiting_appends.load(Ordering::Acquire) > 0 {
            self.check_record(record)?;
            return Ok(Some(completion));
        }
        self.append_if_ready(record, completion)
    }

    /// Appends at once when metadata is cached and buffer room free; hands
    /// the completion back otherwise.
    fn append_if_ready(
        &self,
        record: &ProducerRecord,
        completion: Completion,
    ) -> Result<Option<Completion>> {
        let size = self.check_record(record)?;
        let metadata_updates = self.shared.client.metadata_updates();
        // Read before the lock, which the sender and other callers share.
        let timestamp = record.timestamp.unwrap_or_else(wall_clock_ms);
        let mut state = self.shared.lock();
        let partition_count = match state.known_partition_count(&record.topic, metadata_updates) {
            Some(count) => count,
            None => {
                // The client's metadata lock is never taken under the state's.
                drop(state);
                let Some(count) = self.cached_partition_count(&record.topic) else {
                    return Ok(Some(completion));
                };
                state = self.shared.lock();
                state.remember_partition_count(&record.topic, metadata_updates, count);
                count
            }
        };
        if beyond_partitions(record.partition, partition_count) {
            // Perhaps the topic grew: wait for metadata that has it.
            return Ok(Some(completion));
        }
        self.check_partition(record, partition_count)?;
        if !self.try_reserve_now(size) {
            return Ok(Some(completion));
        }
        let place = TopicPlace::of(&mut state, &record.topic, partition_count);
        let wake = self.append_locked(&mut state, place, record, timestamp, size, completion);
        drop(state);
        self.finish_append(wake, size)?;
        Ok(None)
    }

    /// Takes `size` bytes of `buffer.memory` if they are free now (returned
    /// by `finish_batch` when the record completes).
    fn try_reserve_now(&self, size: usize) -> bool {
        let Ok(permits) = u32::try_from(size) else {
            return false;
        };
        match self.shared.buffer.try_acquire_many(permits) {
            Ok(permit) => {
                permit.forget();
                true
            }
            Err(_) => false,
        }
    }

    /// Waits (at most `max.block.ms`) for metadata and buffer room, then appends.
    async fn append_waiting(
        &self,
        record: &ProducerRecord,
        completion: Completion,
        deadline: Instant,
    ) -> Result<()> {
        let size = self.check_record(record)?;
        let partition_count = self
            .partition_count(&record.topic, record.partition, deadline)
            .await?;
        self.check_partition(record, partition_count)?;
        self.reserve(size, deadline).await?;
        self.append_reserved(record, size, partition_count, completion)
    }

    /// The record's buffer size, once it is known to be acceptable at all.
    fn check_record(&self, record: &ProducerRecord) -> Result<usize> {
        if self.shared.is_closing() {
            return Err(ProducerError::Closed);
        }
        let config = &self.shared.config;
        let size = record.estimated_size();
        let max = config.max_request_size.min(config.buffer_memory);
        if size > max {
            return Err(ProducerError::RecordTooLarge { size, max });
        }
        Ok(size)
    }

    fn check_partition(&self, record: &ProducerRecord, partition_count: usize) -> Result<()> {
        match record.partition {
            Some(partition) if partition < 0 || partition as usize >= partition_count => {
                Err(ProducerError::UnknownPartition {
                    topic: record.topic.clone(),
                    partition,
                    partition_count,
                })
            }
            _ => Ok(()),
        }
    }

    /// Appends a record whose `size` bytes of buffer are already reserved.
    fn append_reserved(
        &self,
        record: &ProducerRecord,
        size: usize,
        partition_count: usize,
        completion: Completion,
    ) -> Result<()> {
        let timestamp = record.timestamp.unwrap_or_else(wall_clock_ms);
        let wake = {
            let mut state = self.shared.lock();
            let place = TopicPlace::of(&mut state, &record.topic, partition_count);
            self.append_locked(&mut state, place, record, timestamp, size, completion)
        };
        self.finish_append(wake, size)
    }

    /// Appends under the state lock, with the create time read before it;
    /// whether the sender should look again, or why the record was refused.
    fn append_locked(
        &self,
        state: &mut State,
        topic: TopicPlace,
        record: &ProducerRecord,
        timestamp: i64,
        size: usize,
        completion: Completion,
    ) -> std::result::Result<bool, ProducerError> {
        let headers: Vec<HeaderRef<'_>> = record
            .headers
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_deref()))
            .collect();
        let partition = state.partitioner.partition(
            topic.slot.index(),
            record.partition,
            record.key.as_deref(),
            size,
            topic.partition_count as i32,
        );
        let entry = RecordRef {
            timestamp,
            key: record.key.as_deref(),
            value: record.value.as_deref(),
            headers: &headers,
        };
        let appended =
            state
                .accumulator
                .append_in(topic.slot, partition, entry, completion, size, || {
                    self.shared.now_ms()
                });
        match appended {
            Ok(wake) => {
                state.unfinished_records += 1;
                Ok(wake)
            }
            Err((error, _completion)) => Err(error),
        }
    }

    /// After an append, outside the lock: wakes the sender, or gives a
    /// refused record's buffer back.
    fn finish_append(
        &self,
        appended: std::result::Result<bool, ProducerError>,
        size: usize,
    ) -> Result<()> {
        match appended {
            Ok(wake) => {
                if wake {
                    self.shared.wake.notify_one();
                }
                Ok(())
            }
            Err(error) => {
                self.shared.buffer.add_permits(size);
                Err(error)
            }
        }
    }

    fn cached_partition_count(&self, topic: &str) -> Option<usize> {
        self.shared.client.with_metadata(|cache| {
            cache
                .topic(topic)
                .map(|t| t.partitions.len())
                .filter(|count| *count > 0)
        })
    }

    /// Takes `bytes` from `buffer.memory`, waiting until `deadline`.
    async fn reserve(&self, bytes: usize, deadline: Instant) -> Result<()> {
        let exhausted = || ProducerError::BufferExhausted {
            bytes,
            timeout: self.shared.config.max_block(),
        };
        let permits = u32::try_from(bytes).map_err(|_| exhausted())?;
        let acquire = self.shared.buffer.acquire_many(permits);
        match tokio::time::timeout_at(deadline.into(), acquire).await {
            Ok(Ok(permit)) => {
                // Returned by `finish_batch` when the record completes.
                permit.forget();
                Ok(())
            }
            Ok(Err(_)) => Err(ProducerError::Closed),
            Err(_) => Err(exhausted()),
        }
    }

    /// The topic's partition count, refreshing metadata until `deadline`
    /// while the topic is unknown or lacks the record's explicit `partition`
    /// (partitions added since the last refresh), as the Java client waits.
    async fn partition_count(
        &self,
        topic: &str,
        partition: Option<i32>,
        deadline: Instant,
    ) -> Result<usize> {
        let client = &self.shared.client;
        let known = || self.cached_partition_count(topic);
        if let Some(count) = known().filter(|count| !beyond_partitions(partition, *count)) {
            return Ok(count);
        }
        let backoff = Duration::from_millis(self.shared.config.client.retry_backoff_ms.max(1));
        let topics = [topic.to_owned()];
        loop {
            let refresh = client.refresh_metadata(Some(&topics));
            if let Ok(Err(error)) = tokio::time::timeout_at(deadline.into(), refresh).await {
                tracing::debug!(%topic, %error, "metadata refresh failed");
            }
            let count = known();
            if let Some(count) = count.filter(|count| !beyond_partitions(partition, *count)) {
                return Ok(count);
            }
            if Instant::now() + backoff >= deadline {
                // A known topic without the partition: `check_partition` says so.
                return count.ok_or_else(|| ProducerError::TopicNotFound {
                    topic: topic.to_owned(),
                    timeout: self.shared.config.max_block(),
                });
            }
            tokio::time::sleep(backoff).await;
        }
    }

    /// Sends every buffered record now (ignoring `linger.ms`) and waits
    /// until each has been acknowledged or failed, records still waiting
    /// for metadata or buffer room included.
    pub async fn flush(&self) {
        {
            let mut state = self.shared.lock();
            state.flushers += 1;
            state.accumulator.set_flushing(true);
        }
        self.shared.wake.notify_one();
        loop {
            let idle = self.shared.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.shared.lock().unfinished_records == 0
                && self.shared.waiting_appends.load(Ordering::Acquire) == 0
            {
                break;
            }
            idle.await;
        }
        let mut state = self.shared.lock();
        state.flushers -= 1;
        if state.flushers == 0 {
            state.accumulator.set_flushing(false);
        }
    }

    /// Flushes, then stops the sender. Later sends fail with
    /// [`ProducerError::Closed`]; other clones are closed too.
    pub async fn close(&self) {
        self.flush().await;
        self.shared.closing.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        let sender = self
            .lifetime
            .sender
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(sender) = sender
            && let Err(error) = sender.await
        {
            tracing::warn!(%error, "producer sender task ended abnormally");
        }
    }
}

/// Where a record's topic is: its accumulator slot and partition count.
#[derive(Debug, Clone, Copy)]
struct TopicPlace {
    slot: TopicSlot,
    partition_count: usize,
}

impl TopicPlace {
    /// `topic`'s place, its slot looked up (or made) in the accumulator.
    fn of(state: &mut State, topic: &str, partition_count: usize) -> TopicPlace {
        TopicPlace {
            slot: state.accumulator.topic_slot(topic),
            partition_count,
        }
    }
}

/// Whether the record names a partition past the topic's known
/// `partition_count`, one that later metadata may have. (A negative one
/// never exists: `check_partition` refuses it without waiting.)
fn beyond_partitions(partition: Option<i32>, partition_count: usize) -> bool {
    partition
        .and_then(|partition| usize::try_from(partition).ok())
        .is_some_and(|partition| partition >= partition_count)
}

fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

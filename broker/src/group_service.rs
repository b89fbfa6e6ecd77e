//! The async shell around the sans-IO group coordinator.
//!
//! Each group request gets a [`RequestToken`] and a oneshot channel, then the
//! coordinator is called under a short std lock. Its [`Outcome`] is carried
//! out before the lock is released: every [`Persist`] is appended as one
//! batch to its `__consumer_offsets` partition and the append result is fed
//! back with `persisted`, and every response is sent to the channel of its
//! token (a JoinGroup may be answered by another member's request or by a
//! tick). A ticker task drives session and rebalance timeouts. At startup the
//! offsets partitions are replayed into the coordinator.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use sluice_protocol::{BatchBuilder, Compression, ErrorCode, RecordBatches};
use tokio::sync::oneshot;
use tracing::warn;

use crate::broker::{Broker, CONSUMER_OFFSETS_TOPIC, now_ms};
use crate::group::{
    GroupConfig, GroupCoordinator, Outcome, Persist, Reply, RequestToken, append_error_to_client,
};
use crate::validation::ValidatedBatch;

/// How often session and rebalance timers are checked.
pub const TICK_INTERVAL: Duration = Duration::from_millis(100);

/// Bytes read per step while replaying `__consumer_offsets` at startup.
const REPLAY_READ_BYTES: usize = 1 << 20;

/// Largest decompressed batch accepted while replaying offsets records.
const REPLAY_MAX_DECOMPRESSED_BYTES: usize = 64 << 20;

#[derive(Debug)]
struct Inner {
    coordinator: GroupCoordinator,
    next_token: u64,
    waiters: HashMap<RequestToken, oneshot::Sender<Reply>>,
}

/// The group coordinator of this node, shared by all connections.
#[derive(Debug)]
pub struct GroupService {
    inner: Mutex<Inner>,
}

impl GroupService {
    /// A coordinator configured from the broker's `group.*` and `offsets.*` settings.
    pub fn new(config: &crate::config::BrokerConfig) -> Self {
        let group_config = GroupConfig {
            group_min_session_timeout_ms: config.group_min_session_timeout_ms,
            group_max_session_timeout_ms: config.group_max_session_timeout_ms,
            group_initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms,
            offsets_topic_num_partitions: config.offsets_topic_num_partitions,
            ..GroupConfig::default()
        };
        Self {
            inner: Mutex::new(Inner {
                coordinator: GroupCoordinator::new(group_config),
                next_token: 0,
                waiters: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The coordinator's methods leave it consistent before returning.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Calls `f` on the coordinator with a fresh token, carries out the
    /// outcome, and waits for the reply to this request.
    ///
    /// # Errors
    /// COORDINATOR_NOT_AVAILABLE when the coordinator dropped the request
    /// (shutdown).
    pub async fn call(
        &self,
        broker: &Broker,
        f: impl FnOnce(&mut GroupCoordinator, RequestToken, i64) -> Outcome,
    ) -> Result<Reply, ErrorCode> {
        let receiver = {
            let mut inner = self.lock();
            let token = RequestToken(inner.next_token);
            inner.next_token += 1;
            let (sender, receiver) = oneshot::channel();
            inner.waiters.insert(token, sender);
            let outcome = f(&mut inner.coordinator, token, now_ms());
            carry_out(&mut inner, broker, outcome);
            receiver
        };
        receiver
            .await
            .map_err(|_| ErrorCode::CoordinatorNotAvailable)
    }

    /// Expires sessions and rebalance phases.
    pub fn tick(&self, broker: &Broker) {
        let mut inner = self.lock();
        let outcome = inner.coordinator.tick(now_ms());
        carry_out(&mut inner, broker, outcome);
    }

    /// Removes every group's committed offsets on `topics`, just deleted,
    /// appending the tombstones before it returns.
    pub fn delete_offsets_of_topics(&self, broker: &Broker, topics: &[String]) {
        let mut inner = self.lock();
        let outcome = inner.coordinator.delete_offsets_of_topics(topics);
        carry_out(&mut inner, broker, outcome);
    }

    /// Replays every `__consumer_offsets` partition into the coordinator.
    pub fn load(&self, broker: &Broker) {
        let mut inner = self.lock();
        let partitions = broker
            .topic(CONSUMER_OFFSETS_TOPIC)
            .map_or(0, |t| t.partitions);
        for index in 0..partitions {
            let Some(partition) = broker.partition(CONSUMER_OFFSETS_TOPIC, index) else {
                continue;
            };
            let mut offset = 0;
            loop {
                let Ok(read) = partition.read(offset, REPLAY_READ_BYTES) else {
                    offset = partition
                        .with_state(|s| Ok(s.log.log_start_offset()))
                        .unwrap_or(offset);
                    if partition.read(offset, REPLAY_READ_BYTES).is_err() {
                        break;
                    }
                    continue;
                };
                let next = replay(&mut inner.coordinator, read.records);
                if next <= offset {
                    break;
                }
                offset = next;
            }
        }
        inner.coordinator.finish_loading(now_ms());
    }
}

/// Replays the records of `records` and returns the offset after the last batch.
fn replay(coordinator: &mut GroupCoordinator, records: Bytes) -> i64 {
    let mut next = -1;
    let now = now_ms();
    for batch in RecordBatches::new(records) {
        let Ok(batch) = batch else { break };
        next = batch.next_offset();
        let Ok(iter) = batch.records(REPLAY_MAX_DECOMPRESSED_BYTES) else {
            continue;
        };
        for record in iter.flatten() {
            let Some(key) = record.key else { continue };
            if let Err(error) = coordinator.load_record(&key, record.value.as_deref(), now) {
                warn!(%error, "skipping undecodable __consumer_offsets record");
            }
        }
    }
    next
}

fn carry_out(inner: &mut Inner, broker: &Broker, outcome: Outcome) {
    let mut pending = vec![outcome];
    while let Some(outcome) = pending.pop() {
        for persist in outcome.persists {
            let id = persist.id;
            let result = append(broker, &persist);
            pending.push(inner.coordinator.persisted(id, result, now_ms()));
        }
        for response in outcome.responses {
            if let Some(waiter) = inner.waiters.remove(&response.token) {
                // The client may have gone; nothing to do then.
                let _ = waiter.send(response.reply);
            }
        }
    }
}

fn append(broker: &Broker, persist: &Persist) -> Result<(), ErrorCode> {
    if persist.records.is_empty() {
        return Ok(());
    }
    let partition = broker
        .partition(CONSUMER_OFFSETS_TOPIC, persist.partition)
        .ok_or_else(|| append_error_to_client(ErrorCode::UnknownTopicOrPartition))?;
    let now = now_ms();
    let mut builder = BatchBuilder::new(Compression::None, usize::MAX);
    for record in &persist.records {
        if !builder.append(now, Some(&record.key), record.value.as_deref(), &[]) {
            return Err(append_error_to_client(ErrorCode::MessageTooLarge));
        }
    }
    let batch = builder
        .build()
        .map_err(|_| append_error_to_client(ErrorCode::UnknownServerError))?;
    let validated = [ValidatedBatch {
        offset_count: persist.records.len() as i64,
        sequence: None,
        max_timestamp: now,
        // Every record carries `now`: the first holds the max.
        max_timestamp_offset_delta: 0,
    }];
    partition
        .append(&batch, &validated, now)
        .map(|_| ())
        .map_err(append_error_to_client)
}

/// Runs [`GroupService::tick`] every [`TICK_INTERVAL`] until the broker
/// closes, even when it closed before this task first ran.
pub async fn run_ticker(broker: Arc<Broker>) {
    let mut interval = tokio::time::interval(TICK_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut closing = broker.subscribe_closing();
    loop {
        tokio::select! {
            _ = interval.tick() => broker.groups().tick(&broker),
            // By value, not by change: see `maintenance::run_maintenance`.
            _ = closing.wait_for(|closing| *closing) => return,
        }
    }
}

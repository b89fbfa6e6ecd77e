//! The workload's actors, each a tokio task that records what it does: a
//! producer sending numbered records, a group member consuming and
//! committing, and the final group-less read of every partition.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_consumer::{
    AutoOffsetReset, Consumer, ConsumerConfig, RebalanceListener, TopicPartition,
};
use sluice_producer::{Acks, Producer, ProducerConfig, ProducerRecord};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::error::VerifyError;
use crate::event::{Event, RecordValue};
use crate::recorder::{Recorder, now_ms};
use crate::workload::WorkloadConfig;

/// Sends a producer keeps unacknowledged at most, so a slow cluster slows
/// the producer instead of growing its memory.
const MAX_SENDS_IN_FLIGHT: usize = 1_000;
/// How long one `poll` of a group member or of the final read waits.
const POLL_TIMEOUT: Duration = Duration::from_millis(200);
/// How long to wait between looks at a new topic's metadata.
const TOPIC_READY_RETRY: Duration = Duration::from_millis(100);
/// The members' session timeout: a member that dies is replaced within it.
const SESSION_TIMEOUT_MS: u64 = 10_000;
/// The members' heartbeat interval.
const HEARTBEAT_INTERVAL_MS: u64 = 1_000;
/// The members' `max.poll.interval.ms`, also the rebalance timeout: bounds
/// how long a join can wait for a member that does not come back.
const MAX_POLL_INTERVAL_MS: u64 = 20_000;

/// What every actor gets: its number, the run's settings, the history and
/// its stop signal.
pub(crate) struct Actor {
    id: u32,
    config: Arc<WorkloadConfig>,
    recorder: Recorder,
    stop: watch::Receiver<bool>,
}

impl Actor {
    pub(crate) fn new(
        id: u32,
        config: Arc<WorkloadConfig>,
        recorder: Recorder,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Actor {
            id,
            config,
            recorder,
            stop,
        }
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }
}

/// Sends `p<id>-s<seq>` with seq 0, 1, 2, ... to partition `seq mod
/// partitions` at the configured rate until stopped, then waits for every
/// outcome.
pub(crate) async fn produce(mut actor: Actor) -> Result<(), VerifyError> {
    let config = &actor.config;
    let mut producer_config = ProducerConfig::new(config.bootstrap_servers.clone());
    producer_config.client = config.client_config(&format!("producer-{}", actor.id));
    producer_config.acks = config.acks;
    producer_config.enable_idempotence = config.acks == Acks::All;
    let producer = Producer::connect(producer_config).await?;
    topic_ready(&producer, config).await?;
    let period = Duration::from_secs(1) / config.records_per_second;
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut in_flight = JoinSet::new();
    let partitions = u64::try_from(config.partitions).unwrap_or(1).max(1);
    let mut seq: u64 = 0;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = actor.stop.changed() => {}
        }
        if actor.stopped() {
            break;
        }
        while in_flight.len() >= MAX_SENDS_IN_FLIGHT {
            in_flight.join_next().await;
        }
        let partition = i32::try_from(seq % partitions).unwrap_or(0);
        let value = RecordValue {
            producer: actor.id,
            seq,
        };
        actor.recorder.record(Event::Send {
            ts_ms: now_ms(),
            producer: actor.id,
            seq,
            partition,
        });
        let record =
            ProducerRecord::new(config.topic.clone(), value.to_string()).with_partition(partition);
        let delivery = producer.send(record);
        let recorder = actor.recorder.clone();
        let producer_id = actor.id;
        in_flight.spawn(async move {
            let event = match delivery.await {
                Ok(written) => Event::Ack {
                    ts_ms: now_ms(),
                    producer: producer_id,
                    seq: value.seq,
                    partition: written.partition,
                    offset: written.offset,
                },
                Err(error) => Event::SendFailed {
                    ts_ms: now_ms(),
                    producer: producer_id,
                    seq: value.seq,
                    error: error.to_string(),
                },
            };
            recorder.record(event);
        });
        seq += 1;
    }
    while in_flight.join_next().await.is_some() {}
    producer.close().await;
    Ok(())
}

/// Waits until the producer's metadata has a leader for every partition of
/// the just-created topic (Kafka spreads a new topic to its brokers
/// asynchronously), so the run exercises the cluster rather than the
/// producer's start-up path. Known issue: sluice-producer can reorder
/// records whose sends all wait for a topic's first metadata; waiting here
/// keeps that start-up issue out of a verdict about the cluster.
async fn topic_ready(producer: &Producer, config: &WorkloadConfig) -> Result<(), VerifyError> {
    let client = producer.client();
    let deadline = Instant::now() + Duration::from_millis(config.default_api_timeout_ms);
    let topics = [config.topic.clone()];
    loop {
        let refreshed = client.refresh_metadata(Some(&topics)).await;
        let ready = refreshed.is_ok()
            && client.cached_topic(&config.topic).is_some_and(|topic| {
                usize::try_from(config.partitions).is_ok_and(|n| topic.partitions.len() == n)
                    && topic.partitions.iter().all(|p| p.leader_id.is_some())
            });
        if ready {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(VerifyError::Task(format!(
                "topic {} has no leader for every partition after {} ms",
                config.topic, config.default_api_timeout_ms
            )));
        }
        tokio::time::sleep(TOPIC_READY_RETRY).await;
    }
}

/// Records a member's assignments and revocations.
struct MembershipRecorder {
    consumer: u32,
    recorder: Recorder,
}

impl MembershipRecorder {
    fn indexes(partitions: &[TopicPartition]) -> Vec<i32> {
        partitions.iter().map(|tp| tp.partition).collect()
    }
}

impl RebalanceListener for MembershipRecorder {
    fn on_partitions_revoked(&mut self, partitions: &[TopicPartition]) {
        self.recorder.record(Event::Revoked {
            ts_ms: now_ms(),
            consumer: self.consumer,
            partitions: Self::indexes(partitions),
        });
    }

    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]) {
        self.recorder.record(Event::Assigned {
            ts_ms: now_ms(),
            consumer: self.consumer,
            partitions: Self::indexes(partitions),
        });
    }
}

/// A group member: polls, records what it got, commits the positions after
/// it, and leaves the group when stopped.
pub(crate) async fn consume(actor: Actor) -> Result<(), VerifyError> {
    let config = &actor.config;
    let mut consumer_config = ConsumerConfig::new(
        config.bootstrap_servers.clone(),
        Some(config.group_id.as_str()),
    );
    consumer_config.client = config.client_config(&format!("consumer-{}", actor.id));
    consumer_config.auto_offset_reset = AutoOffsetReset::Earliest;
    consumer_config.enable_auto_commit = false;
    consumer_config.session_timeout_ms = SESSION_TIMEOUT_MS;
    consumer_config.heartbeat_interval_ms = HEARTBEAT_INTERVAL_MS;
    consumer_config.max_poll_interval_ms = MAX_POLL_INTERVAL_MS;
    consumer_config.partition_assignment_strategy = vec!["range".to_owned()];
    let mut consumer = Consumer::connect(consumer_config).await?;
    consumer.set_rebalance_listener(MembershipRecorder {
        consumer: actor.id,
        recorder: actor.recorder.clone(),
    });
    consumer.subscribe(&[config.topic.as_str()])?;
    while !actor.stopped() {
        match consumer.poll(POLL_TIMEOUT).await {
            Ok(records) if !records.is_empty() => {
                let mut next: BTreeMap<TopicPartition, i64> = BTreeMap::new();
                for record in records {
                    actor.recorder.record(Event::Consumed {
                        ts_ms: now_ms(),
                        consumer: actor.id,
                        partition: record.partition.partition,
                        offset: record.offset,
                        value: text(record.value.as_deref()),
                    });
                    next.insert(record.partition, record.offset + 1);
                }
                commit(&consumer, &actor, next).await;
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(consumer = actor.id, %error, "poll failed");
                tokio::time::sleep(POLL_TIMEOUT).await;
            }
        }
    }
    consumer.close().await;
    Ok(())
}

/// Commits `next` and records it once the coordinator accepted it (a
/// refused commit, e.g. during a rebalance, is the at-least-once window).
async fn commit(consumer: &Consumer, actor: &Actor, next: BTreeMap<TopicPartition, i64>) {
    let generation = consumer.generation().unwrap_or(-1);
    let offsets: Vec<(TopicPartition, i64)> = next.into_iter().collect();
    match consumer.commit_offsets_sync(&offsets).await {
        Ok(()) => {
            for (partition, offset) in offsets {
                actor.recorder.record(Event::Committed {
                    ts_ms: now_ms(),
                    consumer: actor.id,
                    generation,
                    partition: partition.partition,
                    offset,
                });
            }
        }
        Err(error) => tracing::debug!(consumer = actor.id, %error, "commit refused"),
    }
}

/// A record value as text (values are ASCII when the workload wrote them).
fn text(value: Option<&[u8]>) -> String {
    value.map_or_else(String::new, |bytes| {
        String::from_utf8_lossy(bytes).into_owned()
    })
}

/// Reads every partition from the run's start offsets to its log end, with
/// no group, recording each record: the ground truth of what the log holds.
pub(crate) async fn final_read(
    config: &WorkloadConfig,
    recorder: &Recorder,
    start_offsets: &[i64],
) -> Result<(), VerifyError> {
    let mut consumer_config = ConsumerConfig::new(config.bootstrap_servers.clone(), None);
    consumer_config.client = config.client_config("final-read");
    consumer_config.auto_offset_reset = AutoOffsetReset::Earliest;
    let mut consumer = Consumer::connect(consumer_config).await?;
    let outcome = read_to_end(&mut consumer, config, recorder, start_offsets).await;
    consumer.close().await;
    outcome
}

async fn read_to_end(
    consumer: &mut Consumer,
    config: &WorkloadConfig,
    recorder: &Recorder,
    start_offsets: &[i64],
) -> Result<(), VerifyError> {
    let partitions = config.topic_partitions();
    consumer.assign(&partitions);
    let mut next: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    for (partition, start) in partitions.iter().zip(start_offsets) {
        consumer.seek(partition, *start)?;
        next.insert(partition.clone(), *start);
    }
    let ends = consumer.end_offsets(&partitions).await?;
    let deadline = Instant::now() + config.drain_timeout;
    loop {
        let done = partitions.iter().all(|partition| {
            let end = ends.get(partition).copied().unwrap_or(0);
            next.get(partition).is_some_and(|read| *read >= end)
                || consumer.position(partition).is_some_and(|at| at >= end)
        });
        if done {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(VerifyError::Task(format!(
                "the final read did not reach the log end within {:?}",
                config.drain_timeout
            )));
        }
        for record in consumer.poll(POLL_TIMEOUT).await? {
            recorder.record(Event::FinalRead {
                ts_ms: now_ms(),
                partition: record.partition.partition,
                offset: record.offset,
                value: text(record.value.as_deref()),
            });
            next.insert(record.partition, record.offset + 1);
        }
    }
}

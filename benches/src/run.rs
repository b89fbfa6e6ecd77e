//! One benchmark run: topic setup, the actors of the chosen mode, the
//! deadline, the progress callback and the summary.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_client::{Admin, ClientConfig, NewTopic, OffsetSpec};
use sluice_consumer::{AutoOffsetReset, Consumer, ConsumerConfig, TopicPartition};
use sluice_producer::{Acks, Producer, ProducerConfig};
use sluice_protocol::ErrorCode;
use tokio::task::JoinHandle;

use crate::actors::consumer::ConsumeTarget;
use crate::actors::producer::ProducerPlan;
use crate::actors::thread::{self, Running, Starting};
use crate::actors::{SharedRecorder, consumer, producer};
use crate::error::{BenchError, Result};
use crate::payload::Payload;
use crate::recorder::{Progress, Recorder};
use crate::settings::{AckMode, BenchSettings, Mode};
use crate::summary::Summary;

/// How often the progress callback is called.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(500);
/// Length of one time-series interval.
const SERIES_INTERVAL: Duration = Duration::from_secs(1);
/// How long a created topic may take to have a leader for every partition.
const TOPIC_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// In `e2e`, how long consumers may take to receive the last records after
/// the producers finished; records still missing then count as errors.
const E2E_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// The `e2e` rate when `--throughput` is not given: latency is measured at a
/// fixed, moderate load, not at saturation.
const DEFAULT_E2E_RECORDS_PER_SEC: u64 = 1_000;
/// Seed of generated payloads, fixed so runs send the same bytes.
const PAYLOAD_SEED: u64 = 0x5_1ce;
/// `client.id` of every benchmark connection, to tell them apart in logs.
const CLIENT_ID: &str = "sluice-bench";

/// Runs the benchmark `settings` describe, calling `on_progress` about
/// twice a second, and returns its summary.
///
/// # Errors
/// Invalid settings, an unreachable cluster, a topic that cannot be
/// created, actors that cannot connect, or a consumer that fails.
pub async fn run(
    settings: BenchSettings,
    mut on_progress: impl FnMut(&Progress),
) -> Result<Summary> {
    settings.validate()?;
    let admin = Admin::connect(client_config(&settings)).await?;
    let partitions = ensure_topic(&admin, &settings).await?;
    // The summary states the topic as it is, which differs from the flag
    // when the topic already existed.
    let mut settings = settings;
    settings.partitions = i32::try_from(partitions.len()).unwrap_or(i32::MAX);
    let payload = Arc::new(match &settings.payload_file {
        Some(path) => Payload::from_file(path)?,
        None => Payload::generated(settings.payload, settings.record_size, PAYLOAD_SEED),
    });
    let summary = match settings.mode {
        Mode::Produce => run_produce(settings, payload, &mut on_progress).await,
        Mode::Consume => run_consume(settings, &admin, &partitions, &mut on_progress).await,
        Mode::E2e => run_e2e(settings, payload, &admin, &partitions, &mut on_progress).await,
    };
    admin.client().close();
    summary
}

async fn run_produce(
    settings: BenchSettings,
    payload: Arc<Payload>,
    on_progress: &mut impl FnMut(&Progress),
) -> Result<Summary> {
    let mut producers = spawn_producers(&settings)?;
    thread::all_connected(&mut producers).await?;
    let recorder = SharedRecorder::new(Recorder::new(SERIES_INTERVAL), Instant::now());
    let running = start_producers(&settings, producers, payload, false, &recorder);
    let _sent = drive(thread::join_all(running), &recorder, on_progress).await?;
    let elapsed = recorder.started().elapsed();
    Ok(recorder.into_inner().finish(elapsed, settings))
}

async fn run_consume(
    settings: BenchSettings,
    admin: &Admin,
    partitions: &[i32],
    on_progress: &mut impl FnMut(&Progress),
) -> Result<Summary> {
    let records = match (settings.records, settings.duration_ms) {
        (Some(records), _) => Some(records),
        (None, Some(_)) => None,
        (None, None) => Some(records_in_topic(admin, &settings.topic, partitions).await?),
    };
    let mut consumers = spawn_consumers(&settings, partitions, None, false)?;
    thread::all_connected(&mut consumers).await?;
    let target = Arc::new(ConsumeTarget::new(records));
    let recorder = SharedRecorder::new(Recorder::new(SERIES_INTERVAL), Instant::now());
    let stopper = stop_at_deadline(&target, settings.duration());
    let running = start_consumers(consumers, &target, &recorder);
    let outcome = drive(thread::join_all(running), &recorder, on_progress).await;
    stopper.abort();
    outcome?;
    let elapsed = recorder.started().elapsed();
    Ok(recorder.into_inner().finish(elapsed, settings))
}

async fn run_e2e(
    mut settings: BenchSettings,
    payload: Arc<Payload>,
    admin: &Admin,
    partitions: &[i32],
    on_progress: &mut impl FnMut(&Progress),
) -> Result<Summary> {
    settings.throughput = Some(settings.throughput.unwrap_or(DEFAULT_E2E_RECORDS_PER_SEC));
    // Consumers start at the current end so they see exactly what this run sends.
    let ends = log_end_offsets(admin, &settings.topic, partitions).await?;
    let mut consumers = spawn_consumers(&settings, partitions, Some(ends), true)?;
    thread::all_connected(&mut consumers).await?;
    let mut producers = spawn_producers(&settings)?;
    thread::all_connected(&mut producers).await?;
    let started = Instant::now();
    let received = SharedRecorder::new(Recorder::new(SERIES_INTERVAL), started);
    let acknowledged = SharedRecorder::new(Recorder::new(SERIES_INTERVAL), started);
    let target = Arc::new(ConsumeTarget::new(None));
    let consumers = start_consumers(consumers, &target, &received);
    let producers = start_producers(&settings, producers, payload, true, &acknowledged);
    drive(thread::join_all(producers), &received, on_progress).await?;
    let acknowledged = acknowledged.into_inner();
    let expected = acknowledged.records();
    target.set_target(expected);
    let stopper = stop_at_deadline(&target, Some(E2E_DRAIN_TIMEOUT));
    let outcome = drive(thread::join_all(consumers), &received, on_progress).await;
    stopper.abort();
    outcome?;
    let missing = expected.saturating_sub(target.consumed());
    if missing > 0 {
        tracing::warn!(
            missing,
            "acknowledged records not received before the drain timeout"
        );
    }
    let elapsed = started.elapsed();
    let acknowledged = acknowledged.finish(elapsed, settings.clone());
    let mut recorder = received.into_inner();
    recorder.record_errors(acknowledged.errors + missing);
    let mut summary = recorder.finish(elapsed, settings);
    summary.ack_latency = acknowledged.latency;
    Ok(summary)
}

/// Awaits `work`, reporting progress from `recorder` meanwhile.
async fn drive<T>(
    work: impl Future<Output = T>,
    recorder: &SharedRecorder,
    on_progress: &mut impl FnMut(&Progress),
) -> T {
    tokio::pin!(work);
    let mut ticker = tokio::time::interval(PROGRESS_INTERVAL);
    ticker.tick().await;
    loop {
        tokio::select! {
            output = &mut work => return output,
            _ = ticker.tick() => {
                let progress = recorder.lock().progress(recorder.started().elapsed());
                on_progress(&progress);
            }
        }
    }
}

/// Stops the consumers after `limit`, if there is one.
fn stop_at_deadline(target: &Arc<ConsumeTarget>, limit: Option<Duration>) -> JoinHandle<()> {
    let target = Arc::clone(target);
    tokio::spawn(async move {
        if let Some(limit) = limit {
            tokio::time::sleep(limit).await;
            target.stop();
        }
    })
}

fn client_config(settings: &BenchSettings) -> ClientConfig {
    let mut config = ClientConfig::new(settings.bootstrap_servers.clone());
    config.client_id = CLIENT_ID.to_owned();
    config.default_api_timeout_ms = settings.api_timeout_ms;
    config.request_timeout_ms = config.request_timeout_ms.min(settings.api_timeout_ms);
    config
}

/// Creates the topic with `--partitions` unless it exists, and waits until
/// every partition has a leader; returns the partition indexes.
async fn ensure_topic(admin: &Admin, settings: &BenchSettings) -> Result<Vec<i32>> {
    let topic = &settings.topic;
    let created = admin
        .create_topics(
            &[NewTopic::new(topic.clone(), settings.partitions, -1)],
            false,
        )
        .await?;
    for outcome in created {
        if let Some(error) = outcome.error
            && error.code != ErrorCode::TopicAlreadyExists
        {
            return Err(BenchError::TopicCreation {
                topic: topic.clone(),
                reason: error.message.unwrap_or_else(|| format!("{:?}", error.code)),
            });
        }
    }
    let deadline = Instant::now() + TOPIC_READY_TIMEOUT;
    loop {
        let topics = admin.describe_topics(std::slice::from_ref(topic)).await?;
        let ready = topics.iter().find(|t| &t.name == topic).filter(|t| {
            t.error == ErrorCode::None
                && !t.partitions.is_empty()
                && t.partitions.iter().all(|p| p.leader_id.is_some())
        });
        if let Some(ready) = ready {
            return Ok(ready.partitions.iter().map(|p| p.partition).collect());
        }
        if Instant::now() >= deadline {
            return Err(BenchError::TopicCreation {
                topic: topic.clone(),
                reason: format!("no leader for every partition within {TOPIC_READY_TIMEOUT:?}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn log_end_offsets(admin: &Admin, topic: &str, partitions: &[i32]) -> Result<Vec<i64>> {
    offsets(admin, topic, partitions, OffsetSpec::Latest).await
}

async fn offsets(
    admin: &Admin,
    topic: &str,
    partitions: &[i32],
    spec: OffsetSpec,
) -> Result<Vec<i64>> {
    let keys: Vec<(String, i32)> = partitions.iter().map(|p| (topic.to_owned(), *p)).collect();
    let listed = admin.list_offsets(&keys, spec).await?;
    partitions
        .iter()
        .map(|partition| {
            let found = listed.iter().find(|o| o.partition == *partition);
            match found {
                Some(offset) if offset.error.is_none() => Ok(offset.offset),
                Some(offset) => Err(BenchError::Client(sluice_client::ClientError::from(
                    offset
                        .error
                        .clone()
                        .expect("the arm above took every offset without error"),
                ))),
                None => Err(BenchError::Settings(format!(
                    "no offset listed for {topic}-{partition}"
                ))),
            }
        })
        .collect()
}

/// What the topic holds now: the sum of log end minus log start offsets.
async fn records_in_topic(admin: &Admin, topic: &str, partitions: &[i32]) -> Result<u64> {
    let starts = offsets(admin, topic, partitions, OffsetSpec::Earliest).await?;
    let ends = offsets(admin, topic, partitions, OffsetSpec::Latest).await?;
    Ok(starts
        .iter()
        .zip(&ends)
        .map(|(start, end)| u64::try_from(end - start).unwrap_or(0))
        .sum())
}

fn producer_config(settings: &BenchSettings) -> ProducerConfig {
    let mut config = ProducerConfig::new(settings.bootstrap_servers.clone());
    config.client = client_config(settings);
    config.acks = match settings.acks {
        AckMode::None => Acks::None,
        AckMode::Leader => Acks::Leader,
        AckMode::All => Acks::All,
    };
    config.enable_idempotence = settings.acks == AckMode::All;
    config.compression_type = settings.compression.clone();
    config.batch_size = settings.batch_size;
    config.batch_max_size = settings.batch_max_size;
    config.linger_ms = settings.linger_ms;
    config.max_request_size = config.max_request_size.max(settings.batch_size);
    config
}

/// What a producer actor is started with.
type ProducerStart = (ProducerPlan, SharedRecorder);

/// One connecting producer actor per `--producers`, each on its own thread.
fn spawn_producers(settings: &BenchSettings) -> Result<Vec<Starting<ProducerStart, u64>>> {
    (0..settings.producers)
        .map(|index| {
            let config = producer_config(settings);
            let topic = settings.topic.clone();
            thread::spawn(
                format!("bench-producer-{index}"),
                move || async move {
                    let producer = Producer::connect(config).await?;
                    producer.client().ensure_topic(&topic).await?;
                    Ok(producer)
                },
                |producer, (plan, recorder): ProducerStart| async move {
                    Ok(producer::run(producer, plan, recorder).await)
                },
            )
        })
        .collect()
}

/// Starts the connected producers, each with its share of the records and
/// the rate; returns what each sent.
fn start_producers(
    settings: &BenchSettings,
    producers: Vec<Starting<ProducerStart, u64>>,
    payload: Arc<Payload>,
    stamp: bool,
    recorder: &SharedRecorder,
) -> Vec<Running<u64>> {
    let count = producers.len() as u64;
    let deadline = settings.duration().map(|limit| recorder.started() + limit);
    producers
        .into_iter()
        .enumerate()
        .map(|(index, producer)| {
            let plan = ProducerPlan {
                topic: settings.topic.clone(),
                records: settings
                    .records
                    .map(|total| share(total, count, index as u64)),
                deadline,
                records_per_sec: settings.throughput.map(|total| total as f64 / count as f64),
                payload: Arc::clone(&payload),
                stamp,
            };
            producer.start((plan, recorder.clone()))
        })
        .collect()
}

/// Actor `index`'s part of `total` split over `count` actors.
fn share(total: u64, count: u64, index: u64) -> u64 {
    total / count + u64::from(index < total % count)
}

/// What a consumer actor is started with.
type ConsumerStart = (Arc<ConsumeTarget>, SharedRecorder);

/// One connecting consumer actor per `--consumers`, each on its own thread:
/// by assignment (partitions dealt round-robin, starting at `start_offsets`
/// or the earliest offset) or, with `--group`, subscribed.
/// `stamped`: values carry their send time (e2e).
fn spawn_consumers(
    settings: &BenchSettings,
    partitions: &[i32],
    start_offsets: Option<Vec<i64>>,
    stamped: bool,
) -> Result<Vec<Starting<ConsumerStart, ()>>> {
    let group = settings.group.clone().filter(|_| start_offsets.is_none());
    (0..settings.consumers)
        .map(|index| {
            let mut config =
                ConsumerConfig::new(settings.bootstrap_servers.clone(), group.as_deref());
            config.client = client_config(settings);
            config.auto_offset_reset = AutoOffsetReset::Earliest;
            let topic = settings.topic.clone();
            let subscribe = group.is_some();
            // This consumer's partitions, with their positions in `partitions`.
            let mine: Vec<(TopicPartition, usize)> = partitions
                .iter()
                .enumerate()
                .filter(|(position, _)| position % settings.consumers == index)
                .map(|(position, p)| (TopicPartition::new(topic.as_str(), *p), position))
                .collect();
            let start_offsets = start_offsets.clone();
            thread::spawn(
                format!("bench-consumer-{index}"),
                move || async move {
                    let mut consumer = Consumer::connect(config).await?;
                    if subscribe {
                        consumer.subscribe(&[topic.as_str()])?;
                        return Ok(consumer);
                    }
                    let assigned: Vec<TopicPartition> =
                        mine.iter().map(|(tp, _)| tp.clone()).collect();
                    consumer.assign(&assigned);
                    if let Some(offsets) = &start_offsets {
                        for (partition, position) in &mine {
                            consumer.seek(partition, offsets[*position])?;
                        }
                    }
                    Ok(consumer)
                },
                move |consumer, (target, recorder): ConsumerStart| async move {
                    consumer::run(consumer, stamped, &target, recorder).await
                },
            )
        })
        .collect()
}

/// Starts the connected consumers.
fn start_consumers(
    consumers: Vec<Starting<ConsumerStart, ()>>,
    target: &Arc<ConsumeTarget>,
    recorder: &SharedRecorder,
) -> Vec<Running<()>> {
    consumers
        .into_iter()
        .map(|consumer| consumer.start((Arc::clone(target), recorder.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn records_are_shared_evenly_with_the_remainder_first() {
        let shares: Vec<u64> = (0..3).map(|index| share(10, 3, index)).collect();
        assert_eq!(shares, [4, 3, 3]);
    }
}

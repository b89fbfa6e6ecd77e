//! Shared fixtures of the integration tests: the test broker, topic
//! creation and a minimal producer built from `BatchBuilder` and a Produce
//! request.
//!
//! The broker is `sluice_client::testing`'s, one per test binary
//! ([`TestBroker::shared_bootstrap`]): Apache Kafka with
//! `SLUICE_TEST_BROKER=kafka`, otherwise the Sluice binary, or the broker at
//! `SLUICE_TEST_BOOTSTRAP`. The tests share it through unique topic and group
//! names; it is killed when the test process exits.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use sluice_client::testing::TestBroker;
use sluice_client::{Admin, Client, ClientConfig, NewTopic};
use sluice_consumer::ConsumerConfig;
use sluice_protocol::{BatchBuilder, Compression};

static TOPIC_COUNTER: AtomicU32 = AtomicU32::new(0);

/// The bootstrap address of the test broker, started on first use.
pub async fn bootstrap() -> anyhow::Result<String> {
    Ok(TestBroker::shared_bootstrap().await?)
}

/// A topic name unique to this test process.
pub fn unique_topic(prefix: &str) -> String {
    let n = TOPIC_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// Creates `topic` with `partitions` partitions and waits until it has leaders.
pub async fn create_topic(topic: &str, partitions: i32) -> anyhow::Result<Client> {
    let client = Client::connect(ClientConfig::new(bootstrap().await?)).await?;
    let admin = Admin::new(client.clone());
    admin
        .create_topics(&[NewTopic::new(topic, partitions, 1)], false)
        .await?;
    let started = Instant::now();
    loop {
        client.invalidate_metadata();
        let ready = client.ensure_topic(topic).await.is_ok()
            && (0..partitions).all(|p| client.with_metadata(|c| c.leader_for(topic, p).is_ok()));
        if ready {
            return Ok(client);
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("topic {topic} has no leaders after 30s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Writes `values` to `topic`-`partition` as one batch compressed with `compression`.
pub async fn produce(
    client: &Client,
    topic: &str,
    partition: i32,
    values: &[String],
    compression: Compression,
) -> anyhow::Result<()> {
    let mut builder = BatchBuilder::new(compression, 16 * 1024 * 1024);
    for value in values {
        if !builder.append(1_700_000_000_000, Some(b"k"), Some(value.as_bytes()), &[]) {
            bail!("batch full");
        }
    }
    let records: Bytes = builder.build()?;
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records)),
                ]),
        ]);
    let response = client.send_to_leader(topic, partition, &request).await?;
    for topic in response.responses {
        for p in topic.partition_responses {
            if p.error_code != 0 {
                bail!("produce failed with error code {}", p.error_code);
            }
        }
    }
    Ok(())
}

/// A consumer config for the test broker with short group timers.
pub async fn consumer_config(group: Option<&str>) -> anyhow::Result<ConsumerConfig> {
    let mut config = ConsumerConfig::new(bootstrap().await?, group);
    config.auto_offset_reset = sluice_consumer::AutoOffsetReset::Earliest;
    config.session_timeout_ms = 10_000;
    config.heartbeat_interval_ms = 300;
    config.max_poll_interval_ms = 20_000;
    config.fetch_max_wait_ms = 100;
    config.client.default_api_timeout_ms = 30_000;
    Ok(config)
}

/// Runs `test` under a time bound so a hung broker fails the test instead of the run.
/// Logs go to the test output when `RUST_LOG` asks for them.
pub async fn bounded<F: std::future::Future<Output = anyhow::Result<()>>>(
    limit: Duration,
    test: F,
) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    tokio::time::timeout(limit, test)
        .await
        .context("test timed out")?
}

/// Each member's latest assignment, by member index.
pub type Assignments = std::sync::Arc<
    std::sync::Mutex<std::collections::BTreeMap<usize, Vec<sluice_consumer::TopicPartition>>>,
>;

/// Polls `consumer` on its own task (as an application would, so one
/// member's rebalance never waits for another's poll) until `stop`, recording
/// its assignment after each poll; returns the consumer.
pub fn keep_polling(
    index: usize,
    mut consumer: sluice_consumer::Consumer,
    assignments: Assignments,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<anyhow::Result<sluice_consumer::Consumer>> {
    tokio::spawn(async move {
        while !*stop.borrow() {
            consumer.poll(Duration::from_millis(100)).await?;
            let assignment = consumer.assignment();
            assignments
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .insert(index, assignment);
        }
        Ok(consumer)
    })
}

/// Waits until `settled` holds for the recorded assignments.
pub async fn wait_until(
    assignments: &Assignments,
    settled: impl Fn(&std::collections::BTreeMap<usize, Vec<sluice_consumer::TopicPartition>>) -> bool,
) {
    loop {
        if assignments.lock().map(|a| settled(&a)).unwrap_or(false) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

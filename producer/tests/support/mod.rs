//! Shared fixtures for the producer's integration tests: a broker, topics,
//! and reading a partition back with Fetch.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use sluice_client::testing::TestBroker;
use sluice_client::{Admin, Client, ClientConfig, NewTopic};
use sluice_producer::ProducerConfig;
use sluice_protocol::{Record, RecordBatchView, RecordBatches};

/// Upper bound on any single test step that waits for the broker.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A unique topic name for one test.
pub fn topic_name(test: &str) -> String {
    format!("{test}-{}", std::process::id())
}

/// Client settings with short timeouts for tests.
pub fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new(bootstrap);
    config.request_timeout_ms = 10_000;
    config.default_api_timeout_ms = 30_000;
    config.retry_backoff_ms = 50;
    config.retry_backoff_max_ms = 500;
    config
}

/// Producer settings with short timeouts for tests.
pub fn producer_config(bootstrap: &str) -> ProducerConfig {
    ProducerConfig {
        client: client_config(bootstrap),
        max_block_ms: 20_000,
        delivery_timeout_ms: 60_000,
        ..ProducerConfig::default()
    }
}

/// Creates `topic` with `partitions` partitions and waits until every
/// partition has a leader.
pub async fn create_topic(
    broker: &TestBroker,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<Client> {
    create_topic_with(broker, NewTopic::new(topic, partitions, 1)).await
}

/// Creates `new` (its configs included) and waits until every partition
/// has a leader.
pub async fn create_topic_with(broker: &TestBroker, new: NewTopic) -> anyhow::Result<Client> {
    let (topic, partitions) = (new.name.clone(), new.partitions);
    let topic = topic.as_str();
    let admin = Admin::connect(client_config(&broker.bootstrap())).await?;
    let created = admin.create_topics(&[new], false).await?;
    if let Some(error) = created.first().and_then(|t| t.error.clone()) {
        bail!("create topic {topic}: {error:?}");
    }
    let client = admin.client().clone();
    let started = Instant::now();
    loop {
        client.refresh_metadata(Some(&[topic.to_owned()])).await?;
        let led = client.with_metadata(|cache| {
            cache.topic(topic).is_some_and(|t| {
                t.partitions.len() == partitions as usize
                    && t.partitions.iter().all(|p| p.leader_id.is_some())
            })
        });
        if led {
            return Ok(client);
        }
        if started.elapsed() > STEP_TIMEOUT {
            bail!("topic {topic} has no leaders after {STEP_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every record of `topic`-`partition` from offset 0 up to `expected`
/// records (or what is there after the step timeout), with batch details.
pub async fn read_partition(
    client: &Client,
    topic: &str,
    partition: i32,
    expected: usize,
) -> anyhow::Result<Vec<Fetched>> {
    let mut fetched = Vec::new();
    let mut offset = 0_i64;
    let started = Instant::now();
    while fetched.len() < expected && started.elapsed() < STEP_TIMEOUT {
        let request = fetch_request(topic, partition, offset);
        let response = client.send_to_leader(topic, partition, &request).await?;
        let data = response
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == partition)
            .context("partition in fetch response")?;
        if data.error_code != 0 {
            bail!("fetch error {}", data.error_code);
        }
        let Some(records) = data.records.clone() else {
            continue;
        };
        for batch in RecordBatches::new(records) {
            let batch: RecordBatchView = batch?;
            batch.verify_crc()?;
            for record in batch.records(64 * 1024 * 1024)? {
                let record = record?;
                if record.offset >= offset {
                    offset = record.offset + 1;
                    fetched.push(Fetched {
                        compression: batch.compression(),
                        producer_id: batch.producer_id(),
                        record,
                    });
                }
            }
        }
    }
    Ok(fetched)
}

/// A record read back, with what its batch said.
#[derive(Debug)]
pub struct Fetched {
    /// The batch's codec.
    pub compression: sluice_protocol::Compression,
    /// The batch's producer id.
    pub producer_id: i64,
    /// The record.
    pub record: Record,
}

fn fetch_request(topic: &str, partition: i32, offset: i64) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(200)
        .with_min_bytes(1)
        .with_max_bytes(16 * 1024 * 1024)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(partition)
                        .with_fetch_offset(offset)
                        .with_current_leader_epoch(-1)
                        .with_log_start_offset(-1)
                        .with_partition_max_bytes(8 * 1024 * 1024),
                ]),
        ])
}

//! Records sent one after another keep their order in every partition even
//! when they are sent before the producer knows their topic's metadata
//! (`SLUICE_TEST_BROKER=kafka` for Apache Kafka, otherwise the Sluice
//! binary). A freshly connected producer has no topic metadata, so the
//! first records sent to a topic all wait for it.

mod support;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use sluice_client::testing::TestBroker;
use sluice_producer::{
    DeliveryCallback, Producer, ProducerError, ProducerRecord, RecordMetadata, Result,
};
use support::{
    STEP_TIMEOUT, create_topic, init_tracing, producer_config, read_partition, topic_name,
};

const PARTITIONS: i32 = 4;

/// A keyed record whose value is its send index.
fn record(topic: &str, index: usize) -> ProducerRecord {
    ProducerRecord::new(topic, index.to_string()).with_key(format!("key-{}", index % 7))
}

/// Asserts that in every partition the send indexes of the records, read
/// back in offset order, increase, and that all `count` records are there.
async fn assert_each_partition_in_send_order(
    client: &sluice_client::Client,
    topic: &str,
    delivered: &[(usize, RecordMetadata)],
    count: usize,
) -> anyhow::Result<()> {
    let mut per_partition: BTreeMap<i32, Vec<(i64, usize)>> = BTreeMap::new();
    for (index, metadata) in delivered {
        per_partition
            .entry(metadata.partition)
            .or_default()
            .push((metadata.offset, *index));
    }
    let mut total = 0;
    for (partition, mut written) in per_partition {
        written.sort_unstable();
        let indexes: Vec<usize> = written.iter().map(|(_, index)| *index).collect();
        assert!(
            indexes.is_sorted(),
            "partition {partition}: acknowledged offsets follow send order: {indexes:?}"
        );
        let fetched = read_partition(client, topic, partition, written.len()).await?;
        let stored: Vec<usize> = fetched
            .iter()
            .map(|f| {
                let value = f.record.value.as_deref().unwrap_or_default();
                std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(usize::MAX)
            })
            .collect();
        assert_eq!(
            stored, indexes,
            "partition {partition}: stored in send order"
        );
        total += written.len();
    }
    assert_eq!(total, count, "every record delivered once");
    Ok(())
}

/// Awaits `futures` last first: a future's record must have been placed
/// when it was sent, not when it is first polled.
async fn await_in_reverse<F>(futures: Vec<(usize, F)>) -> Result<Vec<(usize, RecordMetadata)>>
where
    F: Future<Output = Result<RecordMetadata>>,
{
    let mut delivered = Vec::new();
    for (index, future) in futures.into_iter().rev() {
        delivered.push((index, future.await?));
    }
    Ok(delivered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_sent_before_metadata_is_known_land_in_send_order() -> anyhow::Result<()> {
    init_tracing();
    let broker = TestBroker::start().await?;
    let topic = topic_name("order-unknown-metadata");
    let client = create_topic(&broker, &topic, PARTITIONS).await?;
    let producer = Producer::connect(producer_config(&broker.bootstrap())).await?;
    const COUNT: usize = 400;
    let sends: Vec<_> = (0..COUNT)
        .map(|index| (index, producer.send(record(&topic, index))))
        .collect();
    let delivered = tokio::time::timeout(STEP_TIMEOUT, await_in_reverse(sends)).await??;
    assert_each_partition_in_send_order(&client, &topic, &delivered, COUNT).await?;
    producer.close().await;
    Ok(())
}

/// Collects each token's delivery.
#[derive(Default)]
struct Collect {
    delivered: Mutex<Vec<(usize, Result<RecordMetadata>)>>,
}

impl DeliveryCallback for Collect {
    fn on_delivery(&self, token: u64, outcome: Result<RecordMetadata>) {
        if let Ok(mut delivered) = self.delivered.lock() {
            delivered.push((token as usize, outcome));
        }
    }
}

/// Single sends whose futures are not polled yet, then a slice through
/// `send_all_with_callback`, then single sends again, then
/// `send_with_callback` one by one: all in one topic whose metadata the
/// producer does not have, and all in send order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_of_every_kind_mixed_keep_send_order_while_metadata_is_unknown() -> anyhow::Result<()>
{
    init_tracing();
    let broker = TestBroker::start().await?;
    let topic = topic_name("order-mixed");
    let client = create_topic(&broker, &topic, PARTITIONS).await?;
    let producer = Producer::connect(producer_config(&broker.bootstrap())).await?;
    let collect = Arc::new(Collect::default());
    let callback: Arc<dyn DeliveryCallback> = collect.clone();
    let mut sends = Vec::new();
    for index in 0..50 {
        sends.push((index, producer.send(record(&topic, index))));
    }
    let slice: Vec<(ProducerRecord, u64)> = (50..150)
        .map(|index| (record(&topic, index), index as u64))
        .collect();
    let appended = tokio::time::timeout(
        STEP_TIMEOUT,
        producer.send_all_with_callback(slice.iter().map(|(r, t)| (r, *t)), &callback),
    )
    .await??;
    assert_eq!(appended, 100);
    for index in 150..200 {
        sends.push((index, producer.send(record(&topic, index))));
    }
    for index in 200..250 {
        producer
            .send_with_callback(&record(&topic, index), &callback, index as u64)
            .await?;
    }
    let mut delivered = tokio::time::timeout(STEP_TIMEOUT, await_in_reverse(sends)).await??;
    tokio::time::timeout(STEP_TIMEOUT, producer.flush()).await?;
    let called = std::mem::take(&mut *collect.delivered.lock().expect("lock"));
    for (index, outcome) in called {
        delivered.push((index, outcome?));
    }
    assert_each_partition_in_send_order(&client, &topic, &delivered, 250).await?;
    producer.close().await;
    Ok(())
}

/// Records waiting for a topic that never appears each fail with
/// `TopicNotFound` after `max.block.ms`, and records sent after them to
/// another topic are still delivered in send order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_records_of_a_missing_topic_each_fail_and_other_topics_deliver()
-> anyhow::Result<()> {
    init_tracing();
    let broker = TestBroker::start().await?;
    let topic = topic_name("order-present");
    let client = create_topic(&broker, &topic, PARTITIONS).await?;
    let mut config = producer_config(&broker.bootstrap());
    config.max_block_ms = 3_000;
    let producer = Producer::connect(config).await?;
    let missing: Vec<_> = (0..5)
        .map(|i| producer.send(ProducerRecord::new("no-such-topic-order", i.to_string())))
        .collect();
    let sends: Vec<_> = (0..100)
        .map(|index| (index, producer.send(record(&topic, index))))
        .collect();
    let delivered = tokio::time::timeout(STEP_TIMEOUT, await_in_reverse(sends)).await??;
    assert_each_partition_in_send_order(&client, &topic, &delivered, 100).await?;
    for send in missing {
        let result = tokio::time::timeout(STEP_TIMEOUT, send).await?;
        assert!(
            matches!(result, Err(ProducerError::TopicNotFound { .. })),
            "{result:?}"
        );
    }
    producer.close().await;
    Ok(())
}

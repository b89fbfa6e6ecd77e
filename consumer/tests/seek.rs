//! Positions from the log against a real broker (`SLUICE_TEST_BROKER=kafka`
//! for Apache Kafka, otherwise the Sluice binary): `seek_to_beginning`,
//! `seek_to_end`, `beginning_offsets`/`end_offsets` and `offsets_for_times`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::bail;
use sluice_client::testing::TestBroker;
use sluice_client::{Admin, ClientConfig, NewTopic};
use sluice_consumer::{
    AutoOffsetReset, Consumer, ConsumerConfig, ConsumerError, ConsumerRecord, TopicPartition,
};
use sluice_producer::{Producer, ProducerConfig, ProducerRecord};

/// Upper bound on any single step that waits for the broker.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new(bootstrap);
    config.request_timeout_ms = 10_000;
    config.default_api_timeout_ms = 30_000;
    config.retry_backoff_ms = 50;
    config.retry_backoff_max_ms = 500;
    config
}

/// A consumer without a group that starts at the log start.
async fn consumer(broker: &TestBroker) -> anyhow::Result<Consumer> {
    let mut config = ConsumerConfig::new(broker.bootstrap(), None);
    config.client = client_config(&broker.bootstrap());
    config.auto_offset_reset = AutoOffsetReset::Earliest;
    Ok(Consumer::connect(config).await?)
}

/// Creates `topic` and waits until every partition has a leader.
async fn create_topic(broker: &TestBroker, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let admin = Admin::connect(client_config(&broker.bootstrap())).await?;
    let created = admin
        .create_topics(&[NewTopic::new(topic, partitions, 1)], false)
        .await?;
    if let Some(error) = created.first().and_then(|t| t.error.clone()) {
        bail!("create topic {topic}: {error:?}");
    }
    let client = admin.client();
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
            return Ok(());
        }
        if started.elapsed() > STEP_TIMEOUT {
            bail!("topic {topic} has no leaders after {STEP_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Writes `(value, timestamp_ms)` records to `topic`-`partition`, in order.
async fn produce(
    broker: &TestBroker,
    topic: &str,
    partition: i32,
    records: &[(&str, Option<i64>)],
) -> anyhow::Result<()> {
    let config = ProducerConfig {
        client: client_config(&broker.bootstrap()),
        max_block_ms: 20_000,
        delivery_timeout_ms: 60_000,
        ..ProducerConfig::new(broker.bootstrap())
    };
    let producer = Producer::connect(config).await?;
    for (value, timestamp_ms) in records {
        let mut record = ProducerRecord::new(topic, value.to_string()).with_partition(partition);
        record.timestamp = *timestamp_ms;
        tokio::time::timeout(STEP_TIMEOUT, producer.send(record)).await??;
    }
    producer.close().await;
    Ok(())
}

/// Polls until `count` records arrived (bounded by [`STEP_TIMEOUT`]).
async fn poll_records(
    consumer: &mut Consumer,
    count: usize,
) -> anyhow::Result<Vec<ConsumerRecord>> {
    let started = Instant::now();
    let mut records = Vec::new();
    while records.len() < count {
        if started.elapsed() > STEP_TIMEOUT {
            bail!(
                "got {} of {count} records in {STEP_TIMEOUT:?}",
                records.len()
            );
        }
        records.extend(consumer.poll(Duration::from_millis(500)).await?);
    }
    Ok(records)
}

fn offsets(records: &[ConsumerRecord]) -> Vec<i64> {
    records.iter().map(|r| r.offset).collect()
}

fn topic_name(test: &str) -> String {
    format!("seek-{test}-{}", std::process::id())
}

fn values(count: usize) -> Vec<(&'static str, Option<i64>)> {
    vec![("v", None); count]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seek_to_beginning_rereads_the_partition_from_its_log_start() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    let topic = topic_name("beginning");
    create_topic(&broker, &topic, 1).await?;
    produce(&broker, &topic, 0, &values(4)).await?;
    let tp = TopicPartition::new(topic.as_str(), 0);
    let mut consumer = consumer(&broker).await?;
    consumer.assign(std::slice::from_ref(&tp));
    assert_eq!(
        offsets(&poll_records(&mut consumer, 4).await?),
        [0, 1, 2, 3]
    );

    consumer.seek_to_beginning(std::slice::from_ref(&tp))?;
    assert_eq!(consumer.position(&tp), None, "the seek is resolved by poll");
    let again = poll_records(&mut consumer, 4).await?;
    assert_eq!(offsets(&again), [0, 1, 2, 3]);
    consumer.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seek_to_end_skips_what_was_written_before_it() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    let topic = topic_name("end");
    create_topic(&broker, &topic, 1).await?;
    produce(&broker, &topic, 0, &values(3)).await?;
    let tp = TopicPartition::new(topic.as_str(), 0);
    let mut consumer = consumer(&broker).await?;
    consumer.assign(std::slice::from_ref(&tp));
    consumer.seek_to_end(&[])?;
    // Polls resolve the seek (a ListOffsets round trip); none may return a
    // record written before it.
    let started = Instant::now();
    while consumer.position(&tp).is_none() {
        assert!(
            started.elapsed() < STEP_TIMEOUT,
            "the seek is never resolved"
        );
        let before = consumer.poll(Duration::from_millis(100)).await?;
        assert!(before.is_empty(), "nothing after the end yet: {before:?}");
    }
    assert_eq!(consumer.position(&tp), Some(3));

    produce(&broker, &topic, 0, &[("after", None)]).await?;
    let after = poll_records(&mut consumer, 1).await?;
    assert_eq!(offsets(&after), [3]);
    assert_eq!(after[0].value.as_deref(), Some(&b"after"[..]));
    consumer.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeking_an_unassigned_partition_to_a_log_bound_is_refused() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    let mut consumer = consumer(&broker).await?;
    let assigned = TopicPartition::new("assigned", 0);
    let other = TopicPartition::new("other", 0);
    consumer.assign(std::slice::from_ref(&assigned));
    consumer.seek(&assigned, 7)?;
    let refused = consumer.seek_to_beginning(&[assigned.clone(), other.clone()]);
    assert!(
        matches!(&refused, Err(ConsumerError::NotAssigned(tp)) if *tp == other),
        "{refused:?}"
    );
    assert_eq!(
        consumer.position(&assigned),
        Some(7),
        "a refused seek moves nothing"
    );
    consumer.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beginning_and_end_offsets_are_each_partitions_log_bounds() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    let topic = topic_name("bounds");
    create_topic(&broker, &topic, 2).await?;
    produce(&broker, &topic, 0, &values(3)).await?;
    let partitions = [
        TopicPartition::new(topic.as_str(), 0),
        TopicPartition::new(topic.as_str(), 1),
    ];
    let consumer = consumer(&broker).await?;
    let beginning = consumer.beginning_offsets(&partitions).await?;
    let end = consumer.end_offsets(&partitions).await?;
    let expected = |first: i64, second: i64| {
        BTreeMap::from([
            (partitions[0].clone(), first),
            (partitions[1].clone(), second),
        ])
    };
    assert_eq!(beginning, expected(0, 0));
    assert_eq!(end, expected(3, 0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_for_times_finds_the_first_record_at_or_after_each_time() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    let topic = topic_name("times");
    create_topic(&broker, &topic, 2).await?;
    // An hour ago, so no retention or timestamp-skew setting interferes.
    let now_ms = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?;
    let base = now_ms - 3_600_000;
    let timed = [
        ("a", Some(base)),
        ("b", Some(base + 1_000)),
        ("c", Some(base + 2_000)),
    ];
    produce(&broker, &topic, 0, &timed).await?;
    produce(&broker, &topic, 1, &timed[..1]).await?;
    let p0 = TopicPartition::new(topic.as_str(), 0);
    let p1 = TopicPartition::new(topic.as_str(), 1);
    let consumer = consumer(&broker).await?;
    let asked = [
        (p0.clone(), base - 1),
        (p0.clone(), base + 500),
        (p0.clone(), base + 2_000),
        (p0.clone(), base + 5_000),
        (p1.clone(), base + 500),
        (p1.clone(), base),
    ];
    let found = consumer.offsets_for_times(&asked).await?;
    assert_eq!(
        found,
        [
            (p0.clone(), Some((0, base))),
            (p0.clone(), Some((1, base + 1_000))),
            (p0.clone(), Some((2, base + 2_000))),
            (p0, None),
            (p1.clone(), None),
            (p1, Some((0, base))),
        ]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_for_times_rejects_a_negative_timestamp() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    let consumer = consumer(&broker).await?;
    let tp = TopicPartition::new("any", 0);
    let refused = consumer.offsets_for_times(&[(tp, -2)]).await;
    assert!(
        matches!(
            refused,
            Err(ConsumerError::NegativeTimestamp {
                timestamp_ms: -2,
                ..
            })
        ),
        "{refused:?}"
    );
    Ok(())
}

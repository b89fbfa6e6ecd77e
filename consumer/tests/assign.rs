//! Manual assignment against a real broker: reading from the start, seeking,
//! pausing, offset resets, commits, and every compression codec.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{bounded, consumer_config, create_topic, produce, unique_topic};
use sluice_consumer::{AutoOffsetReset, Consumer, ConsumerError, ConsumerRecord, TopicPartition};
use sluice_protocol::Compression;

const LIMIT: Duration = Duration::from_secs(120);

fn values(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}-{i}")).collect()
}

fn text(record: &ConsumerRecord) -> String {
    record
        .value
        .as_ref()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

/// Polls until `count` records arrived (or the test's bound fires).
async fn poll_n(consumer: &mut Consumer, count: usize) -> anyhow::Result<Vec<ConsumerRecord>> {
    let mut records = Vec::new();
    while records.len() < count {
        records.extend(consumer.poll(Duration::from_millis(500)).await?);
    }
    Ok(records)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assigned_partition_is_read_in_order_from_the_earliest_offset() -> anyhow::Result<()> {
    bounded(LIMIT, async {
        let topic = unique_topic("assign");
        let client = create_topic(&topic, 1).await?;
        produce(&client, &topic, 0, &values("v", 10), Compression::None).await?;
        let mut consumer = Consumer::connect(consumer_config(None).await?).await?;
        consumer.assign(&[TopicPartition::new(topic.as_str(), 0)]);
        let records = poll_n(&mut consumer, 10).await?;
        assert_eq!(
            records.iter().map(|r| r.offset).collect::<Vec<_>>(),
            (0..10).collect::<Vec<_>>()
        );
        assert_eq!(text(&records[3]), "v-3");
        consumer.close().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seek_rereads_from_the_given_offset() -> anyhow::Result<()> {
    bounded(LIMIT, async {
        let topic = unique_topic("seek");
        let client = create_topic(&topic, 1).await?;
        produce(&client, &topic, 0, &values("v", 10), Compression::None).await?;
        let tp = TopicPartition::new(topic.as_str(), 0);
        let mut consumer = Consumer::connect(consumer_config(None).await?).await?;
        consumer.assign(std::slice::from_ref(&tp));
        poll_n(&mut consumer, 10).await?;
        consumer.seek(&tp, 6)?;
        let again = poll_n(&mut consumer, 4).await?;
        assert_eq!(
            again.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![6, 7, 8, 9]
        );
        consumer.close().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_is_decompressed() -> anyhow::Result<()> {
    bounded(LIMIT, async {
        let codecs = [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ];
        let topic = unique_topic("codecs");
        let client = create_topic(&topic, 1).await?;
        for codec in codecs {
            produce(
                &client,
                &topic,
                0,
                &values(&format!("{codec:?}"), 50),
                codec,
            )
            .await?;
        }
        let mut consumer = Consumer::connect(consumer_config(None).await?).await?;
        consumer.assign(&[TopicPartition::new(topic.as_str(), 0)]);
        let records = poll_n(&mut consumer, 250).await?;
        let expected: Vec<String> = codecs
            .iter()
            .flat_map(|c| values(&format!("{c:?}"), 50))
            .collect();
        assert_eq!(records.iter().map(text).collect::<Vec<_>>(), expected);
        consumer.close().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_reset_skips_records_written_before() -> anyhow::Result<()> {
    bounded(LIMIT, async {
        let topic = unique_topic("latest");
        let client = create_topic(&topic, 1).await?;
        produce(&client, &topic, 0, &values("old", 5), Compression::None).await?;
        let mut config = consumer_config(None).await?;
        config.auto_offset_reset = AutoOffsetReset::Latest;
        let tp = TopicPartition::new(topic.as_str(), 0);
        let mut consumer = Consumer::connect(config).await?;
        consumer.assign(std::slice::from_ref(&tp));
        assert!(consumer.poll(Duration::from_millis(300)).await?.is_empty());
        assert_eq!(consumer.position(&tp), Some(5));
        produce(&client, &topic, 0, &values("new", 2), Compression::None).await?;
        let records = poll_n(&mut consumer, 2).await?;
        assert_eq!(
            records.iter().map(text).collect::<Vec<_>>(),
            values("new", 2)
        );
        consumer.close().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_none_without_a_committed_offset_is_an_error() -> anyhow::Result<()> {
    bounded(LIMIT, async {
        let topic = unique_topic("none");
        create_topic(&topic, 1).await?;
        let mut config = consumer_config(Some(&unique_topic("group-none"))).await?;
        config.auto_offset_reset = AutoOffsetReset::None;
        let mut consumer = Consumer::connect(config).await?;
        consumer.assign(&[TopicPartition::new(topic.as_str(), 0)]);
        let result = consumer.poll(Duration::from_millis(300)).await;
        assert!(
            matches!(result, Err(ConsumerError::NoOffset(_))),
            "{result:?}"
        );
        consumer.close().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_partition_returns_nothing_until_resumed() -> anyhow::Result<()> {
    bounded(LIMIT, async {
        let topic = unique_topic("pause");
        let client = create_topic(&topic, 2).await?;
        produce(&client, &topic, 0, &values("a", 3), Compression::None).await?;
        produce(&client, &topic, 1, &values("b", 3), Compression::None).await?;
        let (p0, p1) = (
            TopicPartition::new(topic.as_str(), 0),
            TopicPartition::new(topic.as_str(), 1),
        );
        let mut consumer = Consumer::connect(consumer_config(None).await?).await?;
        consumer.assign(&[p0.clone(), p1.clone()]);
        consumer.pause(std::slice::from_ref(&p1))?;
        let first = poll_n(&mut consumer, 3).await?;
        assert!(consumer.poll(Duration::from_millis(300)).await?.is_empty());
        assert!(first.iter().all(|r| r.partition == p0));
        consumer.resume(std::slice::from_ref(&p1))?;
        let second = poll_n(&mut consumer, 3).await?;
        assert!(second.iter().all(|r| r.partition == p1));
        consumer.close().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_are_where_the_next_consumer_starts() -> anyhow::Result<()> {
    bounded(LIMIT, async {
        let topic = unique_topic("commit");
        let group = unique_topic("group-commit");
        let client = create_topic(&topic, 1).await?;
        produce(&client, &topic, 0, &values("v", 10), Compression::None).await?;
        let tp = TopicPartition::new(topic.as_str(), 0);
        let mut config = consumer_config(Some(&group)).await?;
        config.enable_auto_commit = false;
        let mut first = Consumer::connect(config.clone()).await?;
        first.assign(std::slice::from_ref(&tp));
        poll_n(&mut first, 10).await?;
        first.commit_offsets_sync(&[(tp.clone(), 4)]).await?;
        first.close().await;
        let mut second = Consumer::connect(config).await?;
        second.assign(std::slice::from_ref(&tp));
        assert_eq!(
            second
                .committed(std::slice::from_ref(&tp))
                .await?
                .get(&tp)
                .copied()
                .flatten(),
            Some(4)
        );
        let records = poll_n(&mut second, 6).await?;
        let offsets: BTreeSet<i64> = records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, (4..10).collect());
        second.close().await;
        Ok(())
    })
    .await
}

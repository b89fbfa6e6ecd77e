//! Measures consumption throughput: reads every partition of a topic from
//! the beginning (no group) and prints records/s and MB/s with the settings used.
//!
//! ```text
//! cargo run --release -p sluice-consumer --example consume_bench -- 127.0.0.1:9092 my-topic 1000000
//! ```
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use sluice_client::{Client, ClientConfig};
use sluice_consumer::{AutoOffsetReset, Consumer, ConsumerConfig, TopicPartition};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9092".to_owned());
    let topic = args.next().unwrap_or_else(|| "bench".to_owned());
    let wanted: usize = args.next().map_or(Ok(1_000_000), |n| n.parse())?;

    let client = Client::connect(ClientConfig::new(bootstrap.clone())).await?;
    client.ensure_topic(&topic).await?;
    let partitions: Vec<TopicPartition> = client
        .cached_topic(&topic)
        .map(|t| {
            t.partitions
                .iter()
                .map(|p| TopicPartition::new(topic.as_str(), p.partition))
                .collect()
        })
        .unwrap_or_default();
    anyhow::ensure!(!partitions.is_empty(), "topic {topic} not found");

    let mut config = ConsumerConfig::new(bootstrap, None);
    config.auto_offset_reset = AutoOffsetReset::Earliest;
    config.max_poll_records = 10_000;
    config.max_partition_fetch_bytes = 8 * 1024 * 1024;
    let mut consumer = Consumer::connect(config.clone()).await?;
    consumer.assign(&partitions);

    let started = Instant::now();
    let (mut records, mut bytes) = (0usize, 0usize);
    while records < wanted {
        let batch = consumer.poll(Duration::from_secs(5)).await?;
        if batch.is_empty() {
            break;
        }
        records += batch.len();
        bytes += batch
            .iter()
            .map(|r| r.value.as_ref().map_or(0, |v| v.len()))
            .sum::<usize>();
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{records} records, {:.1} MB in {seconds:.2}s: {:.0} records/s, {:.1} MB/s \
         (partitions={}, max_poll_records={}, max_partition_fetch_bytes={})",
        bytes as f64 / 1e6,
        records as f64 / seconds,
        bytes as f64 / 1e6 / seconds,
        partitions.len(),
        config.max_poll_records,
        config.max_partition_fetch_bytes,
    );
    consumer.close().await;
    Ok(())
}

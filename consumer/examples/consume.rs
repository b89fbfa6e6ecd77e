//! Joins a consumer group and prints what it reads, committing after each batch.
//!
//! ```text
//! cargo run -p sluice-consumer --example consume -- 127.0.0.1:9092 my-group my-topic
//! ```
#![allow(clippy::print_stdout)]

use std::time::Duration;

use sluice_consumer::{AutoOffsetReset, Consumer, ConsumerConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9092".to_owned());
    let group = args.next().unwrap_or_else(|| "sluice-example".to_owned());
    let topic = args.next().unwrap_or_else(|| "events".to_owned());

    let mut config = ConsumerConfig::new(bootstrap, Some(&group));
    config.auto_offset_reset = AutoOffsetReset::Earliest;
    config.enable_auto_commit = false;
    let mut consumer = Consumer::connect(config).await?;
    consumer.subscribe(&[topic.as_str()])?;

    let mut idle_polls = 0;
    while idle_polls < 20 {
        let records = consumer.poll(Duration::from_millis(500)).await?;
        if records.is_empty() {
            idle_polls += 1;
            continue;
        }
        idle_polls = 0;
        for record in &records {
            let value = record.value.as_deref().map(String::from_utf8_lossy);
            println!(
                "{} @{}: {}",
                record.partition,
                record.offset,
                value.unwrap_or_default()
            );
        }
        consumer.commit_sync().await?;
    }
    consumer.close().await;
    Ok(())
}

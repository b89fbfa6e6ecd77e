//! Pushes fixed-size records as fast as the producer takes them and prints
//! the rate, with the settings used:
//!
//! ```sh
//! cargo run --release -p sluice-producer --example throughput -- 127.0.0.1:9092 bench 1000000 100 1 none
//! ```
//! Arguments: bootstrap, topic, record count, record bytes, acks (0, 1, all),
//! compression.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use anyhow::Context;
use sluice_producer::{Acks, Producer, ProducerConfig, ProducerRecord};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |index: usize, default: &str| {
        args.get(index)
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    };
    let bootstrap = arg(0, "127.0.0.1:9092");
    let topic = arg(1, "bench");
    let count: usize = arg(2, "1000000").parse().context("record count")?;
    let size: usize = arg(3, "100").parse().context("record bytes")?;
    let acks = match arg(4, "1").as_str() {
        "0" => Acks::None,
        "1" => Acks::Leader,
        _ => Acks::All,
    };
    let mut config = ProducerConfig::new(bootstrap);
    config.acks = acks;
    config.enable_idempotence = acks == Acks::All;
    config.compression_type = arg(5, "none");
    config.batch_size = 256 * 1024;
    config.linger_ms = 5;
    let producer = Producer::connect(config.clone()).await?;
    let record = ProducerRecord::new(&topic, vec![b'x'; size]);
    let started = Instant::now();
    for _ in 0..count {
        producer.send_and_forget(&record).await?;
    }
    producer.flush().await;
    let elapsed = started.elapsed();
    println!(
        "{count} records of {size} bytes, acks={:?}, compression={}, batch.size={}, linger.ms={}: {:.0} records/s, {:.1} MB/s",
        config.acks,
        config.compression_type,
        config.batch_size,
        config.linger_ms,
        count as f64 / elapsed.as_secs_f64(),
        (count * size) as f64 / elapsed.as_secs_f64() / 1e6
    );
    producer.close().await;
    Ok(())
}

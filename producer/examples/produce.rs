//! Sends a few keyed records with headers and prints where each landed:
//!
//! ```sh
//! cargo run -p sluice-producer --example produce -- 127.0.0.1:9092 events
//! ```
#![allow(clippy::print_stdout)]

use futures::future::try_join_all;
use sluice_producer::{Producer, ProducerConfig, ProducerRecord};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9092".to_owned());
    let topic = args.next().unwrap_or_else(|| "events".to_owned());

    let producer = Producer::connect(ProducerConfig::new(bootstrap)).await?;
    let sends = (0..10).map(|i| {
        producer.send(
            ProducerRecord::new(&topic, format!("hello {i}"))
                .with_key(format!("user-{}", i % 3))
                .with_header("source", Some("example".into())),
        )
    });
    for written in try_join_all(sends).await? {
        println!(
            "{}-{} @ {}",
            written.topic, written.partition, written.offset
        );
    }
    producer.close().await;
    Ok(())
}

//! The Sluice producer: sends records to a Kafka-compatible cluster (Sluice
//! or Apache Kafka) with batching, compression, retries and idempotence.
//!
//! # The map
//!
//! | module | concept |
//! |---|---|
//! | `config` | [`ProducerConfig`], [`Acks`]: Kafka's producer settings and defaults |
//! | `record` | [`ProducerRecord`] in, [`RecordMetadata`] out |
//! | `partitioner` | [`Partitioner`]: murmur2 as the Java client, sticky for null keys (sans-IO) |
//! | `batch`, `accumulator` | [`Accumulator`]: per-partition batches, `batch.size`, `linger.ms`, retry order (sans-IO) |
//! | `sequence` | [`SequenceTracker`] and [`decide`]: producer id, sequences, retry verdicts (sans-IO) |
//! | `shared`, `sender` | the tokio shell: one sender task, bounded in-flight Produce requests per broker |
//! | `producer` | [`Producer`]: `send`, `enqueue`, `send_and_forget`, `flush`, `close` |
//!
//! # Guarantees
//!
//! - With `enable.idempotence` (the default, with `acks=all`) a record is
//!   written once even when requests are retried after lost connections,
//!   and records keep their order within a partition.
//! - Every record completes: acknowledged, or failed with a
//!   [`ProducerError`] within `delivery.timeout.ms`.
//! - `send` waits at most `max.block.ms` for metadata and `buffer.memory` room.
//! - Keyed records land on the partition the Java client would choose.
//!
//! # Quick start
//!
//! ```no_run
//! use sluice_producer::{Producer, ProducerConfig, ProducerRecord};
//!
//! # async fn run() -> sluice_producer::Result<()> {
//! let producer = Producer::connect(ProducerConfig::new("127.0.0.1:9092")).await?;
//! let written = producer
//!     .send(ProducerRecord::new("events", "hello").with_key("user-1"))
//!     .await?;
//! println!("written to {}-{} at offset {}", written.topic, written.partition, written.offset);
//! producer.close().await;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod accumulator;
mod batch;
mod config;
mod error;
mod partitioner;
mod producer;
mod record;
mod sender;
mod sequence;
mod shared;

pub use accumulator::{
    Accumulator, AccumulatorSettings, Readiness, RecordRef, SplitError, TopicSlot,
};
pub use batch::{BatchIdentity, Pending, ProducerBatch};
pub use config::{Acks, ProducerConfig};
pub use error::{ProducerError, Result, SendAllError};
pub use partitioner::{Partitioner, murmur2, partition_for_key, to_positive};
pub use producer::{DeliveryFuture, Producer};
pub use record::{DeliveryCallback, ProducerRecord, RecordMetadata};
pub use sequence::{
    BatchContext, ProducerIdentity, SequenceTracker, Verdict, decide, wrapping_sequence,
};

//! The Sluice consumer: reads records from a Kafka-compatible cluster (Sluice
//! or Apache Kafka) as a member of a consumer group or from partitions it is
//! given, with the classic group protocol so Java and librdkafka consumers
//! can share a group with it.
//!
//! # The map
//!
//! | module | concept |
//! |---|---|
//! | `config` | [`ConsumerConfig`]: Kafka's consumer settings and defaults |
//! | `consumer` | [`Consumer`]: `subscribe`/`assign`, `poll`, `seek`, `pause`, commits; `consumer::rebalance` its side of a rebalance; `consumer::offsets` seeks to the log start/end and offset lookups (`offsets_for_times`) |
//! | `positions` | where each assigned partition is read next (sans-IO) |
//! | `fetch_buffer` | fetched batches drained into records (sans-IO) |
//! | `fetcher` | one Fetch per leader, on its own task (prefetch) |
//! | `membership` | member id, generation, heartbeat and poll timers (sans-IO) |
//! | `metadata_watch` | rebalancing when subscribed topics appear or grow (sans-IO) |
//! | `group`, `group_client` | join/sync/heartbeat/leave/commit I/O |
//! | [`assignor`] | `range`, `roundrobin`, `cooperative-sticky` (sans-IO) |
//! | `embedded` | the "consumer" protocol's subscription and assignment encodings |
//! | `listener` | [`RebalanceListener`] callbacks |
//!
//! # Guarantees
//!
//! - Records of a partition are returned in offset order, each once per
//!   position: a seek or a rebalance drops fetched data that no longer follows
//!   the position.
//! - Keys, values and headers are slices of the fetch response (or of the
//!   decompressed batch): no per-record copy. Every codec (gzip, snappy, lz4,
//!   zstd) is decompressed, with a size limit.
//! - Offsets committed (automatically, before a revocation, or by
//!   `commit_sync`) are the positions after records `poll` returned, so a
//!   record is redelivered after a rebalance only when it was returned but
//!   not committed (at-least-once).
//!
//! # Quick start
//!
//! ```no_run
//! use std::time::Duration;
//! use sluice_consumer::{AutoOffsetReset, Consumer, ConsumerConfig};
//!
//! # async fn run() -> sluice_consumer::Result<()> {
//! let mut config = ConsumerConfig::new("127.0.0.1:9092", Some("billing"));
//! config.auto_offset_reset = AutoOffsetReset::Earliest;
//! let mut consumer = Consumer::connect(config).await?;
//! consumer.subscribe(&["payments"])?;
//! for _ in 0..10 {
//!     for record in consumer.poll(Duration::from_secs(1)).await? {
//!         tracing::info!(partition = %record.partition, offset = record.offset, "got a record");
//!     }
//! }
//! consumer.close().await;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub mod assignor;
mod config;
mod consumer;
mod embedded;
mod error;
mod fetch_buffer;
mod fetcher;
mod group;
mod group_client;
mod listener;
mod membership;
mod metadata_watch;
mod partition;
mod positions;
mod record;

pub use config::{AutoOffsetReset, ConsumerConfig};
pub use consumer::Consumer;
pub use error::{ConsumerError, Result};
pub use listener::RebalanceListener;
pub use partition::TopicPartition;
pub use record::ConsumerRecord;
pub use sluice_protocol::{Header, RecordHeaders};

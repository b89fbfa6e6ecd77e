//! The Sluice broker: the server that speaks the Kafka protocol over
//! `sluice-storage` partition logs.
//!
//! The shape follows mini-redis: the frame codec (`sluice_protocol`) feeds a
//! [`connection`](crate::connection) task per client, which hands each request
//! to [`dispatch`](crate::dispatch), which calls one handler module per Kafka
//! API (`handlers/<api>.rs`). Shared state is one [`Broker`]: the topic
//! registry, the open partitions (log plus idempotent-producer state behind
//! one short std lock), and a watch channel that wakes long-polling fetches.
//!
//! Guarantees: requests on a connection are answered in order, with
//! pipelining; the bytes of unanswered requests are bounded across all
//! connections (`queued.max.request.bytes`) and connections by
//! `max.connections` and `max.connections.per.ip`; a bad request gets a
//! Kafka error code or closes only its own connection (with a rate-limited
//! log line), and never changes a log; the port opens only once the data
//! directory is loaded; SIGINT or SIGTERM (through
//! [`BrokerHandle::shutdown`]) drains connections, then flushes and closes
//! every log cleanly, whenever during start-up it arrives.
//!
//! ```no_run
//! # async fn example() -> Result<(), sluice_broker::BrokerError> {
//! let handle = sluice_broker::start(sluice_broker::BrokerConfig::default()).await?;
//! println!("listening on {}", handle.local_addr());
//! handle.shutdown().await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod broker;
mod config;
mod connection;
mod dispatch;
mod error;
pub mod group;
mod group_service;
pub mod handlers;
mod limits;
mod maintenance;
mod meta;
mod partition;
pub mod producer_state;
mod request_reader;
mod server;
mod topic_admin;
mod topics;
mod validation;

pub use broker::{
    Broker, CONSUMER_OFFSETS_TOPIC, RECORDED_TOPIC_CONFIGS, is_recorded_topic_config, now_ms,
};
pub use config::{
    BrokerConfig, ClusterConfigError, ConfigFileError, ControllerRole, parse_quorum_voters,
};
pub use dispatch::{RequestContext, RequestError, dispatch};
pub use error::BrokerError;
pub use group_service::GroupService;
pub use meta::{MetaError, NodeIdentity, load_or_create};
pub use partition::{AppendOutcome, Partition, PartitionState, ReadOutcome};
pub use server::{BrokerHandle, CLUSTER_METADATA_DIR, run, start};
pub use topic_admin::{
    CreationRefusal, MAX_PARTITIONS_PER_TOPIC, NoRoomForPartitions, TopicConfigEntry,
};
pub use topics::{RegistryError, TopicMeta, TopicRegistry, validate_topic_name};
pub use validation::{ValidatedBatch, validate_records};

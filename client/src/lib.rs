//! What Sluice's producer and consumer share: connections, bootstrap, the
//! metadata cache, request routing, retries, and the admin API.
//!
//! # The map
//!
//! | module | concept |
//! |---|---|
//! | `config` | [`ClientConfig`]: Kafka's client settings and defaults |
//! | `wire` | request headers and strict response decoding; framing is `sluice_protocol::FrameCodec` |
//! | `versions` | [`CLIENT_APIS`], the versions we encode, and ApiVersions negotiation |
//! | `connection` | [`Connection`]: one broker socket, pipelined, bounded, timed out |
//! | `metadata` | [`MetadataCache`]: brokers, topics, leaders (sans-IO) |
//! | `backoff`, `retry` | [`Backoff`] schedule and [`RetryAction`] decisions (sans-IO) |
//! | `client`, `routing` | [`Client`]: bootstrap, connection pool, `send_to_leader` / `send_to_coordinator` / `send_to_controller` / `send_to_any` |
//! | `admin` | [`Admin`]: topics, partitions, configs, groups, offsets |
//!
//! # Guarantees
//!
//! - Every request has a timeout (`request_timeout_ms`); a request that times
//!   out closes its connection, because responses are matched by order.
//! - Each API is sent at the highest version both the broker and this client
//!   support; when there is none the call fails with
//!   [`ClientError::UnsupportedVersion`] naming both ranges.
//! - Routed calls retry leadership, coordinator and transport errors with
//!   exponential backoff and jitter, refreshing metadata or the coordinator as
//!   the error calls for, and give up at `default_api_timeout_ms`.
//!
//! # Example
//!
//! ```no_run
//! use sluice_client::{Admin, ClientConfig, NewTopic, OffsetSpec};
//!
//! # async fn run() -> sluice_client::Result<()> {
//! let admin = Admin::connect(ClientConfig::new("127.0.0.1:9092")).await?;
//! admin.create_topics(&[NewTopic::new("events", 3, 1)], false).await?;
//! let ends = admin.list_offsets(&[("events".to_owned(), 0)], OffsetSpec::Latest).await?;
//! println!("log end of events-0: {}", ends[0].offset);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod admin;
mod backoff;
mod client;
mod config;
mod connection;
mod error;
mod metadata;
mod readiness;
mod retry;
mod routing;
mod versions;
mod wire;

#[cfg(feature = "testing")]
pub mod testing;

pub use admin::Admin;
pub use admin::plan::{PartitionOffsets, lag, reset_target};
pub use admin::quorum::{QuorumInfo, QuorumVoter};
pub use admin::types::{
    AlterConfigOp, ConfigEntry, ConfigSource, CreatedTopic, GroupDescription, GroupMember,
    GroupPartitionOffset, ListedGroup, ListedOffset, NewTopic, OffsetReset, OffsetSpec,
    ResetOffset, ResourceError, ResourceOutcome,
};
pub use backoff::Backoff;
pub use client::Client;
pub use config::ClientConfig;
pub use connection::Connection;
pub use error::{ClientError, ErrorChain, Result};
pub use metadata::{
    BrokerMetadata, ClusterMetadata, MetadataCache, MetadataScope, PartitionMetadata, TopicMetadata,
};
pub use readiness::{NotAnswering, wait_until_answering};
pub use retry::{ResponseErrors, RetryAction, action_for_code, action_for_codes, action_for_error};
pub use versions::{ApiVersionTable, BrokerApi, CLIENT_APIS, ClientApi, VersionMismatch};
pub use wire::WireError;

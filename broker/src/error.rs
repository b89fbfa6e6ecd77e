//! Errors that stop the broker from starting or shutting down cleanly.
//!
//! Request-level problems never become a [`BrokerError`]: they are answered
//! with a Kafka error code (see `sluice_protocol::ErrorCode`) or close one
//! connection.

use std::path::PathBuf;

use sluice_protocol::ErrorCode;
use sluice_storage::StorageError;

use crate::config::ClusterConfigError;
use crate::meta::MetaError;
use crate::topics::RegistryError;

/// Why the broker could not start, serve or shut down.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The storage layer failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The topic registry could not be read or written.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The identity file could not be used.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// Restoring topics at startup failed.
    #[error("restoring topics failed: {0}")]
    Startup(ErrorCode),
    /// A background task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
    /// The listener could not be bound.
    #[error("cannot listen on {address}")]
    Bind {
        /// The address.
        address: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The cluster settings are inconsistent.
    #[error(transparent)]
    Cluster(#[from] ClusterConfigError),
    /// The controller quorum could not start.
    #[error("cannot start the controller quorum")]
    Controller(#[source] sluice_controller::QuorumError),
}

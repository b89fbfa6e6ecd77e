//! What can go wrong: reading or writing a history ([`HistoryError`]) and
//! running the workload ([`VerifyError`]). Violations are not errors: they
//! are what the [`crate::Verdict`] reports.

use std::path::PathBuf;

/// A history file could not be written or read. The cause is the error's
/// `source()`, not repeated in its message.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// Creating, opening or writing the file failed.
    #[error("history file {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Reading failed at this line.
    #[error("cannot read history line {line}")]
    Read {
        /// The 1-based line number.
        line: u64,
        /// The cause.
        source: std::io::Error,
    },
    /// A line is longer than the reader accepts.
    #[error("history line {line} is longer than {max_bytes} bytes")]
    LineTooLong {
        /// The 1-based line number.
        line: u64,
        /// The bound.
        max_bytes: usize,
    },
    /// A line is not an event.
    #[error("history line {line} is not an event")]
    Malformed {
        /// The 1-based line number.
        line: u64,
        /// What the JSON parser said.
        source: serde_json::Error,
    },
}

/// The workload could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The settings make no sense (no producers, zero partitions, ...).
    #[error("invalid setting: {0}")]
    Config(String),
    /// The topic could not be created.
    #[error("cannot create topic {topic}: {reason}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// The broker's or the client's reason.
        reason: String,
    },
    /// The cluster could not be reached or answered with an error.
    #[error(transparent)]
    Client(#[from] sluice_client::ClientError),
    /// A producer could not start.
    #[error(transparent)]
    Producer(#[from] sluice_producer::ProducerError),
    /// A consumer failed.
    #[error(transparent)]
    Consumer(#[from] sluice_consumer::ConsumerError),
    /// The history could not be written.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// A workload task ended abnormally.
    #[error("a workload task failed: {0}")]
    Task(String),
}

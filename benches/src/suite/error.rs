//! What can stop the suite as a whole. A single workload that fails is not
//! one of these: it is recorded in the results and the suite goes on.

use std::path::PathBuf;

/// The suite could not run or write its outputs.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// The suite's settings cannot describe a run.
    #[error("invalid suite settings: {0}")]
    Settings(String),
    /// The scratch directory for brokers and the page-cache test.
    #[error("cannot create a scratch directory: {0}")]
    Scratch(std::io::Error),
    /// A broker process could not be started or never answered.
    #[error("broker {name}: {reason}")]
    Broker {
        /// `sluice`, `kafka` or the external target's name.
        name: String,
        /// What went wrong, with the tail of its log when there is one.
        reason: String,
    },
    /// One of Kafka's command-line tools failed or printed no result.
    #[error("{tool}: {reason}")]
    Tool {
        /// The tool's script name (`kafka-producer-perf-test`, ...).
        tool: String,
        /// What went wrong.
        reason: String,
    },
    /// A run of the benchmark engine failed.
    #[error(transparent)]
    Bench(#[from] crate::BenchError),
    /// An output file could not be written.
    #[error("cannot write {path}")]
    Output {
        /// The file being written.
        path: PathBuf,
        /// Why writing failed.
        source: std::io::Error,
    },
    /// A blocking measurement task panicked.
    #[error("measurement task failed")]
    Task(#[from] tokio::task::JoinError),
}

/// Results of the suite.
pub type SuiteResult<T> = std::result::Result<T, SuiteError>;

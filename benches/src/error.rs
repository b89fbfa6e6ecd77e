//! What can go wrong in a benchmark run, in the caller's terms.

use std::path::PathBuf;

/// A benchmark that could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The settings cannot describe a run (zero producers, empty payload, ...).
    #[error("invalid benchmark settings: {0}")]
    Settings(String),
    /// The payload file could not be read.
    #[error("cannot read payload file {path}")]
    PayloadFile {
        /// The file named by `--payload-file`.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The cluster refused or failed an admin call (topic creation, offsets).
    #[error(transparent)]
    Client(#[from] sluice_client::ClientError),
    /// The topic could not be created.
    #[error("cannot create topic {topic}: {reason}")]
    TopicCreation {
        /// The topic the run writes or reads.
        topic: String,
        /// The broker's error.
        reason: String,
    },
    /// A producer could not start.
    #[error(transparent)]
    Producer(#[from] sluice_producer::ProducerError),
    /// A consumer could not start or failed while reading.
    #[error(transparent)]
    Consumer(#[from] sluice_consumer::ConsumerError),
    /// The report or JSON summary could not be written.
    #[error("cannot write {path}")]
    Output {
        /// The file being written.
        path: PathBuf,
        /// Why writing failed.
        source: std::io::Error,
    },
    /// The plots could not be drawn.
    #[error("cannot draw the report: {0}")]
    Plot(String),
    /// An actor's thread could not be started.
    #[error("cannot start benchmark thread {name}")]
    ActorThread {
        /// The thread's name.
        name: String,
        /// Why the thread or its runtime could not be created.
        source: std::io::Error,
    },
    /// An actor's thread ended without an outcome (it panicked).
    #[error("benchmark actor {0} ended without a result")]
    ActorEnded(String),
}

/// Results of this crate.
pub type Result<T, E = BenchError> = std::result::Result<T, E>;

//! `sluice verify`'s engine: a workload that records a history against any
//! Kafka-compatible cluster (Sluice or Apache Kafka), and a checker that
//! judges a history.
//!
//! # The map
//!
//! | module | concept |
//! |---|---|
//! | `event` | [`Event`]: one line of a history; [`RecordValue`]: `p<producer>-s<seq>` |
//! | `history` | [`HistoryWriter`] (JSON lines) and [`HistoryReader`] (bounded lines, errors name the line) |
//! | `checker` | [`Checker`] (sans-IO): events in, a [`Verdict`] out, counts and examples per [`ViolationKind`] |
//! | `recorder` | [`Recorder`]: the one thread that writes the history and feeds the checker; [`Progress`] |
//! | `workload` | [`run`] (or [`run_until`] a stop signal) with a [`WorkloadConfig`]: topic, producers, group schedule, drain, final read |
//! | `actors` | the producer, group member and final-read tasks |
//! | `error` | [`HistoryError`], [`VerifyError`] |
//!
//! # What the verdict means
//!
//! - **lost**: acknowledged at (partition, offset), never read there;
//! - **duplicated**: one record read at two positions;
//! - **reordered**: one producer's records out of order within a partition;
//! - **phantom**: read, never sent;
//! - **offset regression**: a member reading backwards within one assignment;
//! - **commit regression**: a committed offset going backwards within a generation;
//! - **consumed before committed**: after a rebalance, a partition's new owner
//!   starting below its last committed offset (re-reading from the committed
//!   offset is the at-least-once window and is allowed).
//!
//! The final group-less read of every partition is the ground truth for
//! loss, duplication and order; the group's reads feed the group checks.
//! Records a topic held before the run (the [`Event::Begin`] offsets) are
//! not judged, so a topic can be reused.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use sluice_verify::{HistoryWriter, Progress, WorkloadConfig};
//!
//! # async fn go() -> Result<(), sluice_verify::VerifyError> {
//! let config = WorkloadConfig::new("127.0.0.1:9092");
//! let history = HistoryWriter::create(std::path::Path::new("history.jsonl"))?;
//! let verdict = sluice_verify::run(&config, history, Arc::new(Progress::default())).await?;
//! assert!(verdict.is_clean());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod actors;
mod checker;
mod error;
mod event;
mod history;
mod recorder;
mod workload;

pub use checker::{Checker, EXAMPLES_PER_KIND, Example, Verdict, ViolationKind, Violations, check};
pub use error::{HistoryError, VerifyError};
pub use event::{Event, NotARecordValue, RecordValue};
pub use history::{HistoryReader, HistoryWriter, MAX_HISTORY_LINE_BYTES};
pub use recorder::{Progress, ProgressSnapshot, Recorder, now_ms};
pub use workload::{WorkloadConfig, run, run_until};

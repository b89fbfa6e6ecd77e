//! Sluice's benchmark harness: the engine behind `sluice bench`, plus the
//! micro-benchmarks of the hot paths under `benches/benches/`.
//!
//! # The map
//!
//! | module | concept |
//! |---|---|
//! | `settings` | [`BenchSettings`]: every knob of a run, echoed in its summary |
//! | `payload` | [`Payload`]: compressible, random or file values; send-time stamps |
//! | `pacer` | [`Pacer`]: fixed-rate sending for latency runs (sans-IO) |
//! | `recorder` | [`Recorder`]: samples in, progress, time series and summary out (sans-IO) |
//! | `summary` | [`Summary`]: totals, HdrHistogram percentiles, series; text and JSON |
//! | `actors` | producer and consumer tasks that feed the recorder |
//! | `run` | [`run`]: topic setup, actors, deadline and progress for one mode |
//! | `report` | [`write_report`]: SVG or HTML plots of throughput and latency |
//! | [`suite`] | `sluice bench all`: the standard suite side by side with Kafka |
//!
//! # Measurements
//!
//! - `produce`: records acknowledged per second; latency is `send` to
//!   acknowledgement of each record.
//! - `consume`: records received per second; no latency.
//! - `e2e`: producers at a fixed rate, consumers reading along; latency is
//!   the send time stamped in the value to the time the consumer got it.
//!
//! # Example
//!
//! ```no_run
//! use sluice_benches::{AckMode, BenchSettings, Mode, PayloadKind, run};
//!
//! # async fn bench() -> sluice_benches::Result<()> {
//! let settings = BenchSettings {
//!     mode: Mode::Produce,
//!     bootstrap_servers: "127.0.0.1:9092".to_owned(),
//!     api_timeout_ms: 60_000,
//!     topic: "bench".to_owned(),
//!     partitions: 1,
//!     records: Some(1_000_000),
//!     duration_ms: None,
//!     record_size: 100,
//!     payload: PayloadKind::Random,
//!     payload_file: None,
//!     producers: 1,
//!     consumers: 1,
//!     group: None,
//!     acks: AckMode::Leader,
//!     compression: "none".to_owned(),
//!     batch_size: 262_144,
//!     batch_max_size: 262_144,
//!     linger_ms: 5,
//!     throughput: None,
//! };
//! let summary = run(settings, |progress| tracing::info!(records = progress.records)).await?;
//! println!("{summary}");
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod actors;
mod error;
mod pacer;
mod payload;
mod recorder;
mod report;
mod run;
mod settings;
pub mod suite;
mod summary;

pub use error::{BenchError, Result};
pub use pacer::Pacer;
pub use payload::{Payload, STAMP_BYTES, now_micros, read_stamp};
pub use recorder::{Progress, Recorder};
pub use report::{render_html, render_svg, write_report};
pub use run::run;
pub use settings::{AckMode, BenchSettings, Mode, PayloadKind};
pub use summary::{
    BYTES_PER_MB, LatencySummary, PercentilePoint, Summary, TimePoint, settings_line,
};

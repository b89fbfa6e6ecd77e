//! What a run reports: the totals, the latency distribution, the time series
//! and the exact settings, as one serialisable value (`--json`) with a
//! human-readable rendering.

use std::fmt;

use serde::Serialize;

use crate::settings::{BenchSettings, Mode};

/// Bytes in the MB of "MB/s": decimal, as network and disk figures are quoted.
pub const BYTES_PER_MB: f64 = 1_000_000.0;

/// The result of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The settings that produced these figures.
    pub settings: BenchSettings,
    /// Wall time of the measured part of the run, in seconds.
    pub elapsed_secs: f64,
    /// Records measured (acknowledged for `produce`, received otherwise).
    pub records: u64,
    /// Value and key bytes of those records.
    pub bytes: u64,
    /// Records that failed (send errors, or records never received in `e2e`).
    pub errors: u64,
    /// `records / elapsed_secs`.
    pub records_per_sec: f64,
    /// `bytes / elapsed_secs`, in MB (10^6 bytes) per second.
    pub mb_per_sec: f64,
    /// Latency distribution in microseconds; `None` when the mode measures none.
    pub latency: Option<LatencySummary>,
    /// `e2e` only: the same records' send-to-acknowledgement latency, which
    /// tells a slow produce path from slow delivery to the consumer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack_latency: Option<LatencySummary>,
    /// Throughput and latency per interval, for plots.
    pub time_series: Vec<TimePoint>,
}

/// A latency distribution, from an HdrHistogram with 3 significant digits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Samples recorded.
    pub count: u64,
    /// Mean, in microseconds.
    pub avg_us: f64,
    /// Smallest sample.
    pub min_us: u64,
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// 99.99th percentile.
    pub p9999_us: u64,
    /// Largest sample.
    pub max_us: u64,
    /// Latency at percentiles from 0 to 100, for distribution plots.
    pub percentiles: Vec<PercentilePoint>,
}

/// One point of a latency distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PercentilePoint {
    /// The percentile, 0 to 100.
    pub percentile: f64,
    /// Latency at that percentile, in microseconds.
    pub latency_us: u64,
}

/// One interval of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimePoint {
    /// Seconds from the start of the run to the end of this interval.
    pub elapsed_secs: f64,
    /// Records in this interval.
    pub records: u64,
    /// Records per second in this interval.
    pub records_per_sec: f64,
    /// MB per second in this interval.
    pub mb_per_sec: f64,
    /// 99th percentile latency of this interval, when it had samples.
    pub p99_us: Option<u64>,
}

impl Summary {
    /// The summary as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Every field is a number, string, bool, option or vector of those:
        // serialisation cannot fail.
        serde_json::to_string_pretty(self).expect("a Summary always serialises to JSON")
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        writeln!(
            f,
            "{} {}: {} records in {:.2} s: {:.0} records/s, {:.2} MB/s, {} errors",
            s.mode.as_str(),
            s.topic,
            self.records,
            self.elapsed_secs,
            self.records_per_sec,
            self.mb_per_sec,
            self.errors
        )?;
        if let Some(latency) = &self.latency {
            write_latency(f, "latency ms", latency)?;
        }
        if let Some(latency) = &self.ack_latency {
            write_latency(f, "of which send to ack, ms", latency)?;
        }
        write!(f, "settings: {}", settings_line(s))
    }
}

/// The settings as `key=value` pairs on one line: the run's, then the
/// producer's and the consumer's when the mode has them.
pub fn settings_line(s: &BenchSettings) -> String {
    let optional = |value: Option<u64>| value.map_or_else(|| "-".to_owned(), |v| v.to_string());
    let mut line = format!(
        "mode={} bootstrap={} topic={} partitions={} records={} duration.ms={}",
        s.mode.as_str(),
        s.bootstrap_servers,
        s.topic,
        s.partitions,
        optional(s.records),
        optional(s.duration_ms),
    );
    if s.mode != Mode::Consume {
        let payload = s.payload_file.as_ref().map_or_else(
            || {
                format!(
                    "record.size={} payload={}",
                    s.record_size,
                    s.payload.as_str()
                )
            },
            |path| format!("payload.file={}", path.display()),
        );
        line.push_str(&format!(
            " {payload} producers={} acks={} compression={} batch.size={} batch.max.size={} linger.ms={} throughput={}",
            s.producers,
            s.acks.as_str(),
            s.compression,
            s.batch_size,
            s.batch_max_size,
            s.linger_ms,
            optional(s.throughput),
        ));
    }
    if s.mode != Mode::Produce {
        line.push_str(&format!(
            " consumers={} group={}",
            s.consumers,
            s.group.as_deref().unwrap_or("-(assignment)"),
        ));
    }
    line
}

fn write_latency(f: &mut fmt::Formatter<'_>, label: &str, latency: &LatencySummary) -> fmt::Result {
    writeln!(
        f,
        "{label}: avg {:.3}, p50 {:.3}, p99 {:.3}, p99.9 {:.3}, p99.99 {:.3}, max {:.3}",
        latency.avg_us / 1000.0,
        millis(latency.p50_us),
        millis(latency.p99_us),
        millis(latency.p999_us),
        millis(latency.p9999_us),
        millis(latency.max_us)
    )
}

fn millis(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

//! The stats recorder (sans-IO): takes samples stamped with the time since
//! the run started and produces the live progress, the time series and the
//! final summary. Actors share one recorder; it never reads a clock.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::settings::BenchSettings;
use crate::summary::{BYTES_PER_MB, LatencySummary, PercentilePoint, Summary, TimePoint};

/// Largest latency the histograms hold: one hour in microseconds. Larger
/// samples are clamped to it rather than lost.
const MAX_LATENCY_US: u64 = 3_600_000_000;
/// Significant digits of every histogram (0.1% resolution).
const SIGNIFICANT_DIGITS: u8 = 3;
/// The percentiles listed for distribution plots.
const PLOT_PERCENTILES: &[f64] = &[
    0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 75.0, 80.0, 85.0, 90.0, 95.0, 97.5, 99.0, 99.5,
    99.9, 99.95, 99.99, 99.999, 100.0,
];

/// A snapshot for the live progress line.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Time since the start.
    pub elapsed: Duration,
    /// Records so far.
    pub records: u64,
    /// Errors so far.
    pub errors: u64,
    /// MB per second over the whole run so far.
    pub mb_per_sec: f64,
    /// Records per second over the whole run so far.
    pub records_per_sec: f64,
    /// 99th percentile latency of the current (or last complete) interval.
    pub current_p99_us: Option<u64>,
}

/// One interval being filled.
#[derive(Debug)]
struct Interval {
    index: u64,
    records: u64,
    bytes: u64,
    latency: Histogram<u64>,
}

/// Accumulates samples into totals, an overall latency histogram and one
/// [`TimePoint`] per interval.
#[derive(Debug)]
pub struct Recorder {
    interval: Duration,
    records: u64,
    bytes: u64,
    errors: u64,
    latency: Histogram<u64>,
    current: Interval,
    series: Vec<TimePoint>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid: 1 <= low, high >= 2 * low, 3 digits")
}

impl Recorder {
    /// A recorder whose time series has one point per `interval`.
    ///
    /// # Panics
    /// When `interval` is zero (a programming error).
    pub fn new(interval: Duration) -> Recorder {
        assert!(
            !interval.is_zero(),
            "the time-series interval must be positive"
        );
        Recorder {
            interval,
            records: 0,
            bytes: 0,
            errors: 0,
            latency: histogram(),
            current: Interval {
                index: 0,
                records: 0,
                bytes: 0,
                latency: histogram(),
            },
            series: Vec::new(),
        }
    }

    /// Counts one record of `bytes` measured `elapsed` after the start, with
    /// its latency when the mode measures one.
    pub fn record(&mut self, elapsed: Duration, bytes: u64, latency: Option<Duration>) {
        self.record_many(elapsed, 1, bytes, latency);
    }

    /// Counts `count` records of `bytes` each, all measured `elapsed` after
    /// the start with the same latency: one histogram update for a run of
    /// records sent together and acknowledged together.
    pub fn record_many(
        &mut self,
        elapsed: Duration,
        count: u64,
        bytes: u64,
        latency: Option<Duration>,
    ) {
        if count == 0 {
            return;
        }
        self.advance_to(elapsed);
        let total_bytes = bytes.saturating_mul(count);
        self.records += count;
        self.bytes += total_bytes;
        self.current.records += count;
        self.current.bytes += total_bytes;
        if let Some(latency) = latency {
            let micros = u64::try_from(latency.as_micros())
                .unwrap_or(u64::MAX)
                .max(1);
            self.latency.saturating_record_n(micros, count);
            self.current.latency.saturating_record_n(micros, count);
        }
    }

    /// Counts `count` failed records.
    pub fn record_errors(&mut self, count: u64) {
        self.errors += count;
    }

    /// The time-series interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Records counted so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The live view at `elapsed` after the start.
    pub fn progress(&mut self, elapsed: Duration) -> Progress {
        self.advance_to(elapsed);
        let current_p99_us = if self.current.latency.is_empty() {
            self.series.last().and_then(|point| point.p99_us)
        } else {
            Some(self.current.latency.value_at_quantile(0.99))
        };
        Progress {
            elapsed,
            records: self.records,
            errors: self.errors,
            records_per_sec: rate(self.records as f64, elapsed),
            mb_per_sec: rate(self.bytes as f64 / BYTES_PER_MB, elapsed),
            current_p99_us,
        }
    }

    /// The summary of a run that ended `elapsed` after the start. The last,
    /// partial interval becomes a point when it holds records, with its rate
    /// computed over its actual length.
    pub fn finish(mut self, elapsed: Duration, settings: BenchSettings) -> Summary {
        self.advance_to(elapsed);
        let started = self.interval.mul_f64(self.current.index as f64);
        let partial = elapsed.saturating_sub(started);
        if self.current.records > 0 && !partial.is_zero() {
            let point = self.point(elapsed, partial);
            self.series.push(point);
        }
        Summary {
            settings,
            elapsed_secs: elapsed.as_secs_f64(),
            records: self.records,
            bytes: self.bytes,
            errors: self.errors,
            records_per_sec: rate(self.records as f64, elapsed),
            mb_per_sec: rate(self.bytes as f64 / BYTES_PER_MB, elapsed),
            latency: latency_summary(&self.latency),
            ack_latency: None,
            time_series: self.series,
        }
    }

    /// Closes every interval that ended at or before `elapsed`.
    fn advance_to(&mut self, elapsed: Duration) {
        let index = (elapsed.as_nanos() / self.interval.as_nanos()) as u64;
        while self.current.index < index {
            let end = self.interval.mul_f64((self.current.index + 1) as f64);
            let point = self.point(end, self.interval);
            self.series.push(point);
            self.current.index += 1;
            self.current.records = 0;
            self.current.bytes = 0;
            self.current.latency.reset();
        }
    }

    fn point(&self, end: Duration, length: Duration) -> TimePoint {
        let latency = &self.current.latency;
        TimePoint {
            elapsed_secs: end.as_secs_f64(),
            records: self.current.records,
            records_per_sec: rate(self.current.records as f64, length),
            mb_per_sec: rate(self.current.bytes as f64 / BYTES_PER_MB, length),
            p99_us: (!latency.is_empty()).then(|| latency.value_at_quantile(0.99)),
        }
    }
}

/// `amount` per second over `elapsed`; zero for an empty span.
fn rate(amount: f64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { amount / secs } else { 0.0 }
}

fn latency_summary(histogram: &Histogram<u64>) -> Option<LatencySummary> {
    if histogram.is_empty() {
        return None;
    }
    let at = |percentile: f64| histogram.value_at_quantile(percentile / 100.0);
    Some(LatencySummary {
        count: histogram.len(),
        avg_us: histogram.mean(),
        min_us: histogram.min(),
        p50_us: at(50.0),
        p99_us: at(99.0),
        p999_us: at(99.9),
        p9999_us: at(99.99),
        max_us: histogram.max(),
        percentiles: PLOT_PERCENTILES
            .iter()
            .map(|percentile| PercentilePoint {
                percentile: *percentile,
                latency_us: at(*percentile),
            })
            .collect(),
    })
}

#[cfg(test)]
#[path = "recorder_tests.rs"]
mod tests;

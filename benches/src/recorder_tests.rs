//! The recorder as a specification: percentiles, rates, series, JSON shape.

use super::*;

fn settings() -> BenchSettings {
    crate::settings::example()
}

const SECOND: Duration = Duration::from_secs(1);

/// Within HdrHistogram's 3-significant-digit resolution.
fn close_to(actual: u64, expected: u64) -> bool {
    actual.abs_diff(expected) <= expected / 1000 + 1
}

#[test]
fn percentiles_of_one_to_ten_thousand_microseconds_are_the_ranks() {
    let mut recorder = Recorder::new(SECOND);
    for micros in 1..=10_000 {
        recorder.record(Duration::ZERO, 1, Some(Duration::from_micros(micros)));
    }
    let latency = recorder
        .finish(SECOND, settings())
        .latency
        .expect("latency samples were recorded");
    assert_eq!(latency.count, 10_000);
    assert_eq!(latency.min_us, 1);
    assert!(close_to(latency.p50_us, 5_000), "p50 {}", latency.p50_us);
    assert!(close_to(latency.p99_us, 9_900), "p99 {}", latency.p99_us);
    assert!(
        close_to(latency.p999_us, 9_990),
        "p99.9 {}",
        latency.p999_us
    );
    assert!(close_to(latency.max_us, 10_000), "max {}", latency.max_us);
    assert!(
        (latency.avg_us - 5_000.5).abs() < 10.0,
        "avg {}",
        latency.avg_us
    );
}

#[test]
fn a_single_slow_sample_shows_only_in_the_top_percentiles() {
    let mut recorder = Recorder::new(SECOND);
    for _ in 0..9_999 {
        recorder.record(Duration::ZERO, 1, Some(Duration::from_millis(1)));
    }
    recorder.record(Duration::ZERO, 1, Some(Duration::from_secs(2)));
    let latency = recorder
        .finish(SECOND, settings())
        .latency
        .expect("samples");
    assert!(close_to(latency.p99_us, 1_000));
    assert!(close_to(latency.p999_us, 1_000));
    assert!(close_to(latency.max_us, 2_000_000));
}

#[test]
fn rates_are_totals_over_elapsed_time() {
    let mut recorder = Recorder::new(SECOND);
    for _ in 0..4_000 {
        recorder.record(Duration::from_millis(500), 250, None);
    }
    let summary = recorder.finish(Duration::from_secs(2), settings());
    assert_eq!(summary.records, 4_000);
    assert_eq!(summary.bytes, 1_000_000);
    assert!((summary.records_per_sec - 2_000.0).abs() < 1e-9);
    assert!((summary.mb_per_sec - 0.5).abs() < 1e-9);
}

#[test]
fn a_run_recorded_at_once_counts_as_its_records_one_by_one() {
    let mut one_by_one = Recorder::new(SECOND);
    let mut at_once = Recorder::new(SECOND);
    for (count, micros) in [(700u64, 300u64), (299, 2_000), (1, 90_000)] {
        let latency = Some(Duration::from_micros(micros));
        for _ in 0..count {
            one_by_one.record(Duration::from_millis(10), 100, latency);
        }
        at_once.record_many(Duration::from_millis(10), count, 100, latency);
    }
    at_once.record_many(Duration::from_millis(10), 0, 100, Some(SECOND));
    let (one_by_one, at_once) = (
        one_by_one.finish(SECOND, settings()),
        at_once.finish(SECOND, settings()),
    );
    assert_eq!(at_once.records, 1_000);
    assert_eq!(at_once.bytes, 100_000);
    assert_eq!(at_once.latency, one_by_one.latency);
    assert_eq!(at_once.time_series, one_by_one.time_series);
}

#[test]
fn runs_without_latency_samples_report_no_latency() {
    let mut recorder = Recorder::new(SECOND);
    recorder.record(Duration::ZERO, 10, None);
    assert_eq!(recorder.finish(SECOND, settings()).latency, None);
}

#[test]
fn time_series_has_one_point_per_interval_including_idle_ones() {
    let mut recorder = Recorder::new(SECOND);
    recorder.record(Duration::from_millis(100), 1_000_000, None);
    recorder.record(Duration::from_millis(2_500), 1_000_000, None);
    let summary = recorder.finish(Duration::from_secs(3), settings());
    let records: Vec<u64> = summary.time_series.iter().map(|p| p.records).collect();
    assert_eq!(records, [1, 0, 1]);
    assert!((summary.time_series[0].mb_per_sec - 1.0).abs() < 1e-9);
    assert!((summary.time_series[2].elapsed_secs - 3.0).abs() < 1e-9);
}

#[test]
fn partial_last_interval_rate_uses_its_actual_length() {
    let mut recorder = Recorder::new(SECOND);
    for _ in 0..100 {
        recorder.record(Duration::from_millis(1_100), 1, None);
    }
    let summary = recorder.finish(Duration::from_millis(1_250), settings());
    let last = summary
        .time_series
        .last()
        .expect("a point for the partial interval");
    assert_eq!(last.records, 100);
    assert!(
        (last.records_per_sec - 400.0).abs() < 1e-6,
        "{}",
        last.records_per_sec
    );
}

#[test]
fn progress_reports_the_current_interval_p99() {
    let mut recorder = Recorder::new(SECOND);
    recorder.record(
        Duration::from_millis(100),
        1,
        Some(Duration::from_millis(50)),
    );
    recorder.record(
        Duration::from_millis(1_100),
        1,
        Some(Duration::from_millis(3)),
    );
    let progress = recorder.progress(Duration::from_millis(1_200));
    assert_eq!(progress.records, 2);
    assert!(close_to(
        progress.current_p99_us.expect("a sample this interval"),
        3_000
    ));
}

#[test]
fn errors_are_counted_apart_from_records() {
    let mut recorder = Recorder::new(SECOND);
    recorder.record_errors(3);
    let summary = recorder.finish(SECOND, settings());
    assert_eq!((summary.records, summary.errors), (0, 3));
}

#[test]
fn json_summary_has_totals_latency_series_and_settings() {
    let mut recorder = Recorder::new(SECOND);
    recorder.record(
        Duration::from_millis(10),
        100,
        Some(Duration::from_millis(2)),
    );
    let json: serde_json::Value =
        serde_json::from_str(&recorder.finish(SECOND, settings()).to_json())
            .expect("to_json writes valid JSON");
    assert_eq!(json["records"], 1);
    assert_eq!(json["bytes"], 100);
    assert_eq!(json["errors"], 0);
    assert!(json["records_per_sec"].is_number());
    assert!(json["mb_per_sec"].is_number());
    for field in [
        "avg_us", "p50_us", "p99_us", "p999_us", "p9999_us", "max_us",
    ] {
        assert!(json["latency"][field].is_number(), "latency.{field}");
    }
    assert_eq!(json["time_series"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["settings"]["mode"], "produce");
    assert_eq!(json["settings"]["acks"], "1");
    assert_eq!(json["settings"]["record_size"], 100);
}

//! The targets of issue 6, checked against the first broker's results:
//! each says what was wanted, what was measured and whether it held.

use serde::Serialize;

use super::results::{BrokerResults, SuiteResults};
use super::workloads::Workload;
use crate::summary::BYTES_PER_MB;

/// Peak producer rate wanted (100 B, 1 producer, acks=1).
pub const TARGET_PEAK_RECORDS_PER_SEC: f64 = 1_000_000.0;
/// How many times Kafka's rate the peak should be.
pub const TARGET_PEAK_VS_KAFKA: f64 = 2.0;
/// Share of the physical limit the 1 KiB run should reach.
pub const TARGET_1KIB_FRACTION_OF_LIMIT: f64 = 0.6;
/// Consumer rate wanted.
pub const TARGET_CONSUME_RECORDS_PER_SEC: f64 = 2_000_000.0;
/// End-to-end latency bounds at 50% of the peak, in microseconds.
pub const TARGET_E2E_P99_US: u64 = 5_000;
/// See [`TARGET_E2E_P99_US`].
pub const TARGET_E2E_P999_US: u64 = 20_000;
/// See [`TARGET_E2E_P99_US`].
pub const TARGET_E2E_MAX_US: u64 = 100_000;
/// Anonymous (page cache excluded) broker memory bound.
pub const TARGET_ANON_RSS_BYTES: u64 = 256 << 20;

/// Whether a target held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Measured and met.
    Pass,
    /// Measured and missed.
    Fail,
    /// Not measured in this run (no Kafka, a failed run, no pid).
    NotMeasured,
}

impl Verdict {
    fn of(met: bool) -> Verdict {
        if met { Verdict::Pass } else { Verdict::Fail }
    }

    /// `PASS`, `FAIL` or `not measured`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::NotMeasured => "not measured",
        }
    }
}

/// One target and how the run did against it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetCheck {
    /// What is wanted, in the words.
    pub target: String,
    /// The measured figure, or why there is none.
    pub measured: String,
    /// Whether it held.
    pub verdict: Verdict,
}

fn check(target: &str, measured: Option<(String, bool)>) -> TargetCheck {
    let (measured, verdict) = match measured {
        Some((text, met)) => (text, Verdict::of(met)),
        None => ("-".to_owned(), Verdict::NotMeasured),
    };
    TargetCheck {
        target: target.to_owned(),
        measured,
        verdict,
    }
}

/// Checks every target against `results`' first broker.
pub fn check_targets(results: &SuiteResults) -> Vec<TargetCheck> {
    let Some(primary) = results.primary() else {
        return Vec::new();
    };
    let comparison = results.comparison();
    let mut checks = vec![
        check(
            "100 B, 1 producer, acks=1 >= 1,000,000 records/s",
            rate(primary, Workload::Produce100Acks1).map(|r| {
                (
                    format!("{r:.0} records/s"),
                    r >= TARGET_PEAK_RECORDS_PER_SEC,
                )
            }),
        ),
        check(
            "100 B, 1 producer, acks=1 >= 2x Kafka",
            rate(primary, Workload::Produce100Acks1)
                .zip(comparison.and_then(|c| rate(c, Workload::Produce100Acks1)))
                .filter(|(_, theirs)| *theirs > 0.0)
                .map(|(ours, theirs)| {
                    let ratio = ours / theirs;
                    (format!("{ratio:.2}x"), ratio >= TARGET_PEAK_VS_KAFKA)
                }),
        ),
        check(
            "1 KiB records >= 60% of min(loopback TCP, page-cache write)",
            primary
                .summary(Workload::Produce1KiB)
                .zip(results.limits.produce_mb_per_sec())
                .map(|(summary, limit)| {
                    let fraction = summary.mb_per_sec / limit;
                    (
                        format!("{:.1}% of {limit:.0} MB/s", fraction * 100.0),
                        fraction >= TARGET_1KIB_FRACTION_OF_LIMIT,
                    )
                }),
        ),
        check(
            "consumer >= 2,000,000 records/s",
            rate(primary, Workload::Consume).map(|r| {
                (
                    format!("{r:.0} records/s"),
                    r >= TARGET_CONSUME_RECORDS_PER_SEC,
                )
            }),
        ),
    ];
    checks.extend(latency_checks(primary));
    checks.push(check(
        "broker RSS (page cache excluded) < 256 MiB",
        primary.rss.map(|rss| {
            (
                format!("{:.1} MiB", rss.max_anon_bytes as f64 / f64::from(1 << 20)),
                rss.max_anon_bytes < TARGET_ANON_RSS_BYTES,
            )
        }),
    ));
    checks
}

fn rate(broker: &BrokerResults, workload: Workload) -> Option<f64> {
    broker.summary(workload).map(|s| s.records_per_sec)
}

fn latency_checks(primary: &BrokerResults) -> Vec<TargetCheck> {
    let latency = primary
        .summary(Workload::E2eAt50Percent)
        .and_then(|s| s.latency.clone());
    let bound = |name: &str, bound_us: u64, pick: fn(&crate::LatencySummary) -> u64| {
        check(
            &format!(
                "e2e {name} <= {} ms at 50% of peak",
                bound_us as f64 / 1000.0
            ),
            latency.as_ref().map(|l| {
                let micros = pick(l);
                (
                    format!("{:.3} ms", micros as f64 / 1000.0),
                    micros <= bound_us,
                )
            }),
        )
    };
    vec![
        bound("p99", TARGET_E2E_P99_US, |l| l.p99_us),
        bound("p99.9", TARGET_E2E_P999_US, |l| l.p999_us),
        bound("max", TARGET_E2E_MAX_US, |l| l.max_us),
    ]
}

/// MB/s of `records` records of `record_size` bytes each over `records_per_sec`.
pub fn mb_per_sec(records_per_sec: f64, record_size: usize) -> f64 {
    records_per_sec * record_size as f64 / BYTES_PER_MB
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::fixtures::{broker, results, summary};

    #[test]
    fn peak_below_a_million_fails_and_above_passes() {
        let slow = results(vec![broker("sluice", 900_000.0)]);
        assert_eq!(check_targets(&slow)[0].verdict, Verdict::Fail);
        let fast = results(vec![broker("sluice", 1_200_000.0)]);
        assert_eq!(check_targets(&fast)[0].verdict, Verdict::Pass);
    }

    #[test]
    fn kafka_ratio_is_not_measured_without_kafka() {
        let alone = results(vec![broker("sluice", 1_200_000.0)]);
        assert_eq!(check_targets(&alone)[1].verdict, Verdict::NotMeasured);
    }

    #[test]
    fn kafka_ratio_compares_the_peak_runs() {
        let both = results(vec![
            broker("sluice", 1_200_000.0),
            broker("kafka", 500_000.0),
        ]);
        let ratio = &check_targets(&both)[1];
        assert_eq!(ratio.verdict, Verdict::Pass);
        assert_eq!(ratio.measured, "2.40x");
    }

    #[test]
    fn e2e_tail_over_the_bound_fails() {
        let mut sluice = broker("sluice", 1_200_000.0);
        let mut slow_tail = summary(Workload::E2eAt50Percent, 600_000.0);
        if let Some(latency) = slow_tail.latency.as_mut() {
            latency.max_us = 150_000;
        }
        sluice
            .workloads
            .push(crate::suite::results::WorkloadResult {
                workload: Workload::E2eAt50Percent,
                title: String::new(),
                summary: Some(slow_tail),
                error: None,
                cpu: None,
            });
        let checks = check_targets(&results(vec![sluice]));
        let max = checks
            .iter()
            .find(|c| c.target.starts_with("e2e max"))
            .expect("a max check");
        assert_eq!(max.verdict, Verdict::Fail);
    }
}

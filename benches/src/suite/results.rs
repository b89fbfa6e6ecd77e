//! What the suite found, as one serialisable value (`--json`): the
//! machine's limits, and per broker every workload's summary (or why it
//! failed), Kafka's perf tools' figures and the broker's peak memory.

use serde::Serialize;

use super::cpu::CpuShare;
use super::kafka_tools::{ConsumerPerf, ProducerPerf};
use super::limits::MachineLimits;
use super::rss::RssPeak;
use super::targets::TargetCheck;
use super::workloads::Workload;
use crate::summary::Summary;

/// Everything one `sluice bench all` measured.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteResults {
    /// Seconds since the Unix epoch when the suite started.
    pub started_unix_secs: u64,
    /// Length of each workload run, in milliseconds.
    pub duration_per_run_ms: u64,
    /// Rounds over the brokers; each figure is its best round's.
    pub rounds: u32,
    /// Partitions of every topic.
    pub partitions: i32,
    /// Producer `batch.size` of every produce run.
    pub batch_size: usize,
    /// Producer `linger.ms` of every throughput run (latency runs use
    /// [`crate::suite::E2E_LINGER_MS`]).
    pub linger_ms: u64,
    /// The machine's limits, measured before the brokers ran.
    pub limits: MachineLimits,
    /// One entry per broker, in the order they ran.
    pub brokers: Vec<BrokerResults>,
    /// The targets checked against the first broker.
    pub targets: Vec<TargetCheck>,
    /// What was skipped and why (no Kafka jars, ...).
    pub notes: Vec<String>,
}

/// Results of one broker.
#[derive(Debug, Clone, Serialize)]
pub struct BrokerResults {
    /// `sluice`, `kafka`, or the name given with `--bootstrap-server`.
    pub name: String,
    /// Where clients connected.
    pub bootstrap: String,
    /// Whether the suite started (and stopped) this broker itself.
    pub started_by_suite: bool,
    /// Why the broker could not be used at all, when it could not.
    pub error: Option<String>,
    /// Each workload, in run order.
    pub workloads: Vec<WorkloadResult>,
    /// `kafka-producer-perf-test` against this broker, when run.
    pub producer_perf: Option<ToolRun<ProducerPerf>>,
    /// `kafka-consumer-perf-test` against this broker, when run.
    pub consumer_perf: Option<ToolRun<ConsumerPerf>>,
    /// Peak memory of the broker process; `None` for brokers the suite did
    /// not start (their pid is unknown).
    pub rss: Option<RssPeak>,
}

/// One workload on one broker.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadResult {
    /// Which workload.
    pub workload: Workload,
    /// Its title in the table.
    pub title: String,
    /// The engine's summary, when the run completed.
    pub summary: Option<Summary>,
    /// Why it did not complete (failed, or skipped for want of a peak run).
    pub error: Option<String>,
    /// The machine's CPUs during the run (Linux only).
    pub cpu: Option<CpuShare>,
}

impl WorkloadResult {
    /// Whether this run is better than `other` of the same workload: it
    /// completed and the other did not, or it has more records/s (a lower
    /// p99 for a latency run).
    fn beats(&self, other: &WorkloadResult) -> bool {
        match (&self.summary, &other.summary) {
            (Some(_), None) => true,
            (None, _) => false,
            (Some(mine), Some(theirs)) if self.workload.is_latency() => {
                let p99 = |summary: &Summary| summary.latency.as_ref().map(|l| l.p99_us);
                match (p99(mine), p99(theirs)) {
                    (Some(mine), Some(theirs)) => mine < theirs,
                    (mine, theirs) => mine.is_some() && theirs.is_none(),
                }
            }
            (Some(mine), Some(theirs)) => mine.records_per_sec > theirs.records_per_sec,
        }
    }
}

/// Keeps the faster of two perf-tool runs (a completed one over a failed one).
fn take_if_faster<T>(
    kept: &mut Option<ToolRun<T>>,
    other: Option<ToolRun<T>>,
    rate: impl Fn(&T) -> f64,
) {
    let Some(other) = other else {
        return;
    };
    let faster = match (
        kept.as_ref().and_then(|run| run.result.as_ref()),
        &other.result,
    ) {
        (_, None) => kept.is_none(),
        (None, Some(_)) => true,
        (Some(mine), Some(theirs)) => rate(theirs) > rate(mine),
    };
    if faster {
        *kept = Some(other);
    }
}

/// One run of a Kafka perf tool.
#[derive(Debug, Clone, Serialize)]
pub struct ToolRun<T> {
    /// The parsed figures, when the tool succeeded.
    pub result: Option<T>,
    /// Why it failed.
    pub error: Option<String>,
}

impl<T> ToolRun<T> {
    /// A run from the tool's outcome.
    pub fn from_outcome<E: std::fmt::Display>(outcome: Result<T, E>) -> ToolRun<T> {
        match outcome {
            Ok(result) => ToolRun {
                result: Some(result),
                error: None,
            },
            Err(error) => ToolRun {
                result: None,
                error: Some(error.to_string()),
            },
        }
    }
}

impl BrokerResults {
    /// One broker's rounds folded into one result: each workload's best run
    /// (most records/s; lowest p99 for a latency run), each perf tool's best
    /// run, the largest memory seen. A round where the broker could not be
    /// used counts only when no round could. `None` for no rounds.
    pub fn best_of(rounds: Vec<BrokerResults>) -> Option<BrokerResults> {
        rounds.into_iter().reduce(|mut best, round| {
            best.take_better(round);
            best
        })
    }

    /// Every round's latency figures of one broker, for the notes: the table
    /// keeps only the best round of each latency run, and the others tell how
    /// often that figure is met. `None` with fewer than two rounds or no
    /// latency run.
    pub fn latency_rounds_note(rounds: &[BrokerResults]) -> Option<String> {
        let name = &rounds.first()?.name;
        if rounds.len() < 2 {
            return None;
        }
        let mut parts = Vec::new();
        for workload in Workload::ALL.into_iter().filter(|w| w.is_latency()) {
            let figures: Vec<String> = rounds
                .iter()
                .map(|round| {
                    match round
                        .summary(workload)
                        .and_then(|s| s.latency.as_ref().map(|l| (l.p99_us, s.records_per_sec)))
                    {
                        Some((p99_us, records_per_sec)) => format!(
                            "{:.2} ms @ {:.2}M",
                            p99_us as f64 / 1000.0,
                            records_per_sec / 1e6
                        ),
                        None => "-".to_owned(),
                    }
                })
                .collect();
            if figures.iter().any(|figure| figure != "-") {
                parts.push(format!("{}: {}", workload.key(), figures.join(", ")));
            }
        }
        (!parts.is_empty()).then(|| {
            format!(
                "{name}'s p99 in each round (records/s): {}",
                parts.join("; ")
            )
        })
    }

    fn take_better(&mut self, other: BrokerResults) {
        if other.error.is_some() {
            return;
        }
        if self.error.is_some() {
            *self = other;
            return;
        }
        for run in other.workloads {
            match self
                .workloads
                .iter_mut()
                .find(|w| w.workload == run.workload)
            {
                Some(kept) if !run.beats(kept) => {}
                Some(kept) => *kept = run,
                None => self.workloads.push(run),
            }
        }
        take_if_faster(&mut self.producer_perf, other.producer_perf, |perf| {
            perf.records_per_sec
        });
        take_if_faster(&mut self.consumer_perf, other.consumer_perf, |perf| {
            perf.fetch_records_per_sec
        });
        self.rss = match (self.rss.take(), other.rss) {
            (Some(kept), Some(seen)) => Some(RssPeak {
                max_rss_bytes: kept.max_rss_bytes.max(seen.max_rss_bytes),
                max_anon_bytes: kept.max_anon_bytes.max(seen.max_anon_bytes),
                samples: kept.samples + seen.samples,
            }),
            (kept, seen) => kept.or(seen),
        };
    }

    /// A broker that could not be started or reached.
    pub fn unusable(name: String, bootstrap: String, started: bool, error: String) -> Self {
        BrokerResults {
            name,
            bootstrap,
            started_by_suite: started,
            error: Some(error),
            workloads: Vec::new(),
            producer_perf: None,
            consumer_perf: None,
            rss: None,
        }
    }

    /// The summary of `workload`, when it completed.
    pub fn summary(&self, workload: Workload) -> Option<&Summary> {
        self.workloads
            .iter()
            .find(|result| result.workload == workload)
            .and_then(|result| result.summary.as_ref())
    }

    /// The result entry of `workload`, completed or not.
    pub fn workload(&self, workload: Workload) -> Option<&WorkloadResult> {
        self.workloads
            .iter()
            .find(|result| result.workload == workload)
    }
}

impl SuiteResults {
    /// The broker the targets and fractions are about: the first one.
    pub fn primary(&self) -> Option<&BrokerResults> {
        self.brokers.first()
    }

    /// The broker the primary is compared with: Kafka when it ran (and is
    /// not the primary), otherwise the second broker.
    pub fn comparison(&self) -> Option<&BrokerResults> {
        let primary = self.primary()?;
        self.brokers
            .iter()
            .skip(1)
            .find(|broker| broker.name == "kafka" && broker.name != primary.name)
            .or_else(|| self.brokers.get(1))
    }

    /// The results as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Numbers, strings, options and vectors of those: cannot fail.
        serde_json::to_string_pretty(self).expect("suite results always serialise to JSON")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::fixtures::{broker, summary};

    fn e2e(p99_us: u64, records_per_sec: f64) -> WorkloadResult {
        let workload = Workload::E2eAt50Percent;
        let mut summary = summary(workload, records_per_sec);
        if let Some(latency) = summary.latency.as_mut() {
            latency.p99_us = p99_us;
        }
        WorkloadResult {
            workload,
            title: workload.title().to_owned(),
            summary: Some(summary),
            error: None,
            cpu: None,
        }
    }

    fn rate(results: &BrokerResults, workload: Workload) -> Option<f64> {
        results.summary(workload).map(|s| s.records_per_sec)
    }

    #[test]
    fn the_best_round_of_each_workload_is_kept() {
        let mut first = broker("sluice", 1_000_000.0);
        first.workloads.push(e2e(9_000, 500_000.0));
        let mut second = broker("sluice", 1_500_000.0);
        second.workloads[1].summary = Some(summary(Workload::Consume, 900_000.0));
        second.workloads.push(e2e(3_000, 400_000.0));
        second.rss = Some(RssPeak {
            max_rss_bytes: 200 << 20,
            max_anon_bytes: 150 << 20,
            samples: 3,
        });

        let best = BrokerResults::best_of(vec![first, second]).expect("two rounds");
        assert_eq!(rate(&best, Workload::Produce100Acks1), Some(1_500_000.0));
        assert_eq!(rate(&best, Workload::Consume), Some(1_000_000.0));
        let latency = best
            .summary(Workload::E2eAt50Percent)
            .and_then(|s| s.latency.clone());
        assert_eq!(latency.map(|l| l.p99_us), Some(3_000), "lower p99 wins");
        let rss = best.rss.expect("memory sampled");
        assert_eq!(
            (rss.max_rss_bytes, rss.max_anon_bytes, rss.samples),
            (300 << 20, 150 << 20, 7)
        );
    }

    #[test]
    fn every_round_of_a_latency_run_is_noted_in_run_order() {
        let mut first = broker("sluice", 1_000_000.0);
        first.workloads.push(e2e(9_000, 500_000.0));
        let second = broker("sluice", 1_500_000.0);
        let mut third = broker("sluice", 1_200_000.0);
        third.workloads.push(e2e(3_250, 600_000.0));
        let note = BrokerResults::latency_rounds_note(&[first.clone(), second, third]);
        assert_eq!(
            note.as_deref(),
            Some(
                "sluice's p99 in each round (records/s): e2e-50pct: 9.00 ms @ 0.50M, -, 3.25 ms @ 0.60M"
            )
        );
        assert_eq!(BrokerResults::latency_rounds_note(&[first]), None);
    }

    #[test]
    fn a_failed_run_or_an_unusable_round_never_displaces_a_result() {
        let mut failed = broker("kafka", 2_000_000.0);
        failed.workloads[0].summary = None;
        failed.workloads[0].error = Some("timed out".to_owned());
        let unusable = BrokerResults::unusable(
            "kafka".to_owned(),
            String::new(),
            true,
            "did not start".to_owned(),
        );
        let completed = broker("kafka", 700_000.0);

        let best = BrokerResults::best_of(vec![unusable.clone(), failed, unusable, completed])
            .expect("rounds");
        assert_eq!(best.error, None);
        assert_eq!(rate(&best, Workload::Produce100Acks1), Some(700_000.0));
        assert_eq!(rate(&best, Workload::Consume), Some(2_000_000.0));
        assert!(BrokerResults::best_of(Vec::new()).is_none());
    }
}

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

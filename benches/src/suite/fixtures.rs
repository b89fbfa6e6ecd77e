//! Results for unit tests of the table, the targets and the HTML.

use super::limits::{Limit, MachineLimits};
use super::results::{BrokerResults, SuiteResults, WorkloadResult};
use super::rss::RssPeak;
use super::workloads::Workload;
use crate::settings::example;
use crate::summary::{LatencySummary, Summary};

/// A summary of `workload` at `records_per_sec` 100-byte records, with a
/// 1 ms p99 latency.
pub(crate) fn summary(workload: Workload, records_per_sec: f64) -> Summary {
    let mut settings = example();
    settings.topic = workload.key().to_owned();
    Summary {
        settings,
        elapsed_secs: 1.0,
        records: records_per_sec as u64,
        bytes: records_per_sec as u64 * 100,
        errors: 0,
        records_per_sec,
        mb_per_sec: records_per_sec * 100.0 / 1e6,
        latency: Some(LatencySummary {
            count: 10,
            avg_us: 500.0,
            min_us: 100,
            p50_us: 400,
            p99_us: 1_000,
            p999_us: 2_000,
            p9999_us: 3_000,
            max_us: 4_000,
            percentiles: Vec::new(),
        }),
        ack_latency: None,
        time_series: Vec::new(),
    }
}

/// A broker whose peak and consumer runs reached `peak` records/s.
pub(crate) fn broker(name: &str, peak: f64) -> BrokerResults {
    let result = |workload: Workload| WorkloadResult {
        workload,
        title: workload.title().to_owned(),
        summary: Some(summary(workload, peak)),
        error: None,
        cpu: None,
    };
    BrokerResults {
        name: name.to_owned(),
        bootstrap: "127.0.0.1:9092".to_owned(),
        started_by_suite: true,
        error: None,
        workloads: vec![result(Workload::Produce100Acks1), result(Workload::Consume)],
        producer_perf: None,
        consumer_perf: None,
        rss: Some(RssPeak {
            max_rss_bytes: 300 << 20,
            max_anon_bytes: 100 << 20,
            samples: 4,
        }),
    }
}

/// Suite results over `brokers` with 1000 MB/s limits.
pub(crate) fn results(brokers: Vec<BrokerResults>) -> SuiteResults {
    let limit = Limit {
        mb_per_sec: Some(1000.0),
        note: "test".to_owned(),
    };
    SuiteResults {
        started_unix_secs: 0,
        duration_per_run_ms: 1_000,
        rounds: 1,
        partitions: 1,
        batch_size: 262_144,
        linger_ms: 5,
        limits: MachineLimits {
            loopback_tcp: limit.clone(),
            page_cache_write: limit,
        },
        brokers,
        targets: Vec::new(),
        notes: Vec::new(),
    }
}

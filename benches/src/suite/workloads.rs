//! The standard workloads of issue 6, in the order they run, and the
//! engine settings each one stands for (sans-IO: names in, settings out).
//!
//! Every workload writes a fresh topic so no run reads another's records;
//! the consumer run reads the topic the first workload just wrote, and the
//! two latency runs pace themselves at a fraction of that workload's peak.

use serde::Serialize;

use crate::settings::{AckMode, BenchSettings, Mode, PayloadKind};

/// The smallest `batch.size` of the 1 KiB run, on every broker: with
/// Kafka's default 16 KiB a batch holds 15 such records and the run
/// measures requests per second, not bandwidth.
pub const LARGE_RECORD_BATCH_BYTES: usize = 262_144;

/// `linger.ms` of the latency runs, on every broker.
pub const E2E_LINGER_MS: u64 = 0;

/// The smallest `e2e` rate: below it a short run would see almost no records.
const MIN_E2E_RECORDS_PER_SEC: u64 = 100;

/// One workload of the standard suite; serialised as its [`key`](Workload::key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// 100-byte random records, 1 producer, acks=1, no compression: the peak.
    Produce100Acks1,
    /// The same with acks=all.
    Produce100AcksAll,
    /// The same as the peak with 3 producers.
    Produce100ThreeProducers,
    /// 1 KiB random records, otherwise the peak's settings.
    Produce1KiB,
    /// 100-byte compressible records with zstd.
    ProduceZstd,
    /// 100-byte compressible records with lz4.
    ProduceLz4,
    /// One consumer reading everything the peak run wrote.
    Consume,
    /// End-to-end latency at 10% of the peak rate.
    E2eAt10Percent,
    /// End-to-end latency at 50% of the peak rate.
    E2eAt50Percent,
}

impl Serialize for Workload {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.key())
    }
}

/// Which physical limit a workload's MB/s is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimitKind {
    /// Producing crosses loopback TCP and then the page cache: the lower of both.
    TcpAndPageCache,
    /// Consuming reads the page cache and crosses loopback TCP.
    Tcp,
    /// Latency runs are paced; no bandwidth limit applies.
    None,
}

/// What the suite knows from earlier runs on the same broker.
#[derive(Debug, Clone, Default)]
pub struct Prior {
    /// The topic the peak run wrote, for the consumer run.
    pub peak_topic: Option<String>,
    /// Records the peak run wrote.
    pub peak_records: u64,
    /// Records per second of the peak run.
    pub peak_records_per_sec: f64,
}

/// Settings every workload shares, from the suite's flags.
#[derive(Debug, Clone)]
pub struct RunBase {
    /// Where the broker is.
    pub bootstrap_servers: String,
    /// Bound on each client operation.
    pub api_timeout_ms: u64,
    /// Prefix of the topic names, unique to this suite and broker.
    pub topic_prefix: String,
    /// Partitions of each topic.
    pub partitions: i32,
    /// Length of each run in milliseconds.
    pub duration_ms: u64,
    /// Producer `batch.size`.
    pub batch_size: usize,
    /// Producer `linger.ms`.
    pub linger_ms: u64,
}

impl Workload {
    /// Every workload, in the order the suite runs them (the peak first, the
    /// runs that depend on it after).
    pub const ALL: [Workload; 9] = [
        Workload::Produce100Acks1,
        Workload::Produce100AcksAll,
        Workload::Produce100ThreeProducers,
        Workload::Produce1KiB,
        Workload::ProduceZstd,
        Workload::ProduceLz4,
        Workload::Consume,
        Workload::E2eAt10Percent,
        Workload::E2eAt50Percent,
    ];

    /// A short stable name, used in topic names and the JSON.
    pub fn key(self) -> &'static str {
        match self {
            Workload::Produce100Acks1 => "produce-100b-acks1",
            Workload::Produce100AcksAll => "produce-100b-acksall",
            Workload::Produce100ThreeProducers => "produce-100b-3producers",
            Workload::Produce1KiB => "produce-1kib",
            Workload::ProduceZstd => "produce-zstd",
            Workload::ProduceLz4 => "produce-lz4",
            Workload::Consume => "consume",
            Workload::E2eAt10Percent => "e2e-10pct",
            Workload::E2eAt50Percent => "e2e-50pct",
        }
    }

    /// The row title in the results table.
    pub fn title(self) -> &'static str {
        match self {
            Workload::Produce100Acks1 => "produce 100 B, 1 producer, acks=1",
            Workload::Produce100AcksAll => "produce 100 B, 1 producer, acks=all",
            Workload::Produce100ThreeProducers => "produce 100 B, 3 producers, acks=1",
            Workload::Produce1KiB => "produce 1 KiB, 1 producer, acks=1, batch.size 256 KiB",
            Workload::ProduceZstd => "produce 100 B compressible, zstd",
            Workload::ProduceLz4 => "produce 100 B compressible, lz4",
            Workload::Consume => "consume the 100 B acks=1 records",
            Workload::E2eAt10Percent => "e2e latency at 10% of peak",
            Workload::E2eAt50Percent => "e2e latency at 50% of peak",
        }
    }

    /// The physical limit this workload's bandwidth is a fraction of.
    pub fn limit(self) -> LimitKind {
        match self {
            Workload::Consume => LimitKind::Tcp,
            Workload::E2eAt10Percent | Workload::E2eAt50Percent => LimitKind::None,
            _ => LimitKind::TcpAndPageCache,
        }
    }

    /// Whether the figure of merit is latency (lower is better) rather than
    /// throughput.
    pub fn is_latency(self) -> bool {
        self.limit() == LimitKind::None
    }

    /// The engine settings of this workload, or `None` when a run it
    /// depends on (the peak) produced nothing to build on.
    pub fn settings(self, base: &RunBase, prior: &Prior) -> Option<BenchSettings> {
        let mut settings = produce_settings(base, self.key());
        match self {
            Workload::Produce100Acks1 => {}
            Workload::Produce100AcksAll => settings.acks = AckMode::All,
            Workload::Produce100ThreeProducers => settings.producers = 3,
            Workload::Produce1KiB => {
                settings.record_size = 1024;
                settings.batch_size = settings.batch_size.max(LARGE_RECORD_BATCH_BYTES);
            }
            Workload::ProduceZstd | Workload::ProduceLz4 => {
                settings.payload = PayloadKind::Compressible;
                settings.compression = if self == Workload::ProduceZstd {
                    "zstd"
                } else {
                    "lz4"
                }
                .to_owned();
            }
            Workload::Consume => {
                let topic = prior
                    .peak_topic
                    .clone()
                    .filter(|_| prior.peak_records > 0)?;
                settings.mode = Mode::Consume;
                settings.topic = topic;
                settings.records = Some(prior.peak_records);
                settings.producers = 0;
            }
            Workload::E2eAt10Percent | Workload::E2eAt50Percent => {
                if prior.peak_records_per_sec <= 0.0 {
                    return None;
                }
                let fraction = if self == Workload::E2eAt10Percent {
                    0.1
                } else {
                    0.5
                };
                let rate = (prior.peak_records_per_sec * fraction) as u64;
                settings.mode = Mode::E2e;
                // A latency run: send batches as soon as a request slot is
                // free (records still batch while requests are in flight),
                // as Kafka's own end-to-end latency tool does.
                settings.linger_ms = E2E_LINGER_MS;
                settings.throughput = Some(rate.max(MIN_E2E_RECORDS_PER_SEC));
            }
        }
        Some(settings)
    }
}

/// The peak run's settings under this workload's topic name.
fn produce_settings(base: &RunBase, key: &str) -> BenchSettings {
    BenchSettings {
        mode: Mode::Produce,
        bootstrap_servers: base.bootstrap_servers.clone(),
        api_timeout_ms: base.api_timeout_ms,
        topic: format!("{}-{key}", base.topic_prefix),
        partitions: base.partitions,
        records: None,
        duration_ms: Some(base.duration_ms),
        record_size: 100,
        payload: PayloadKind::Random,
        payload_file: None,
        producers: 1,
        consumers: 1,
        group: None,
        acks: AckMode::Leader,
        compression: "none".to_owned(),
        batch_size: base.batch_size,
        batch_max_size: sluice_producer::ProducerConfig::default().batch_max_size,
        linger_ms: base.linger_ms,
        throughput: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> RunBase {
        RunBase {
            bootstrap_servers: "127.0.0.1:9092".to_owned(),
            api_timeout_ms: 30_000,
            topic_prefix: "suite-1".to_owned(),
            partitions: 1,
            duration_ms: 1_000,
            batch_size: 262_144,
            linger_ms: 5,
        }
    }

    fn peak() -> Prior {
        Prior {
            peak_topic: Some("suite-1-produce-100b-acks1".to_owned()),
            peak_records: 50_000,
            peak_records_per_sec: 20_000.0,
        }
    }

    #[test]
    fn every_workload_writes_its_own_topic() {
        let topics: Vec<String> = Workload::ALL
            .iter()
            .filter(|w| **w != Workload::Consume)
            .filter_map(|w| w.settings(&base(), &peak()))
            .map(|s| s.topic)
            .collect();
        let mut unique = topics.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), topics.len());
        assert_eq!(topics.len(), Workload::ALL.len() - 1);
    }

    #[test]
    fn workloads_serialise_as_their_keys() {
        let json = serde_json::to_string(&Workload::E2eAt50Percent).expect("a string");
        assert_eq!(json, "\"e2e-50pct\"");
    }

    #[test]
    fn consumer_reads_exactly_what_the_peak_run_wrote() {
        let settings = Workload::Consume
            .settings(&base(), &peak())
            .expect("the peak wrote records");
        assert_eq!(settings.mode, Mode::Consume);
        assert_eq!(settings.topic, "suite-1-produce-100b-acks1");
        assert_eq!(settings.records, Some(50_000));
        assert!(settings.validate().is_ok());
    }

    #[test]
    fn latency_runs_are_paced_at_a_fraction_of_the_peak() {
        let at_10 = Workload::E2eAt10Percent.settings(&base(), &peak());
        let at_50 = Workload::E2eAt50Percent.settings(&base(), &peak());
        assert_eq!(at_10.and_then(|s| s.throughput), Some(2_000));
        assert_eq!(at_50.and_then(|s| s.throughput), Some(10_000));
    }

    #[test]
    fn runs_that_depend_on_a_missing_peak_are_skipped() {
        let none = Prior::default();
        assert!(Workload::Consume.settings(&base(), &none).is_none());
        assert!(Workload::E2eAt50Percent.settings(&base(), &none).is_none());
        assert!(Workload::ProduceLz4.settings(&base(), &none).is_some());
    }

    #[test]
    fn every_workload_has_valid_engine_settings() {
        for workload in Workload::ALL {
            let settings = workload.settings(&base(), &peak()).expect("a peak exists");
            assert!(settings.validate().is_ok(), "{}", workload.key());
        }
    }
}

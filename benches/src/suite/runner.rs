//! Runs the suite: the machine's limits first, then each broker alone
//! (started, measured, stopped before the next starts so they never share
//! the CPU), every workload through the engine and Kafka's perf tools
//! against each; with several rounds the brokers take turns and each
//! figure is its best round's.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sluice_client::{Admin, ClientConfig, ErrorChain, NewTopic};

use super::broker_process::{BrokerKind, BrokerProcess, kind_name};
use super::cpu::CpuTimes;
use super::error::{SuiteError, SuiteResult};
use super::kafka_tools::KafkaTool;
use super::limits::{MachineLimits, loopback_tcp_limit, page_cache_limit};
use super::results::{BrokerResults, SuiteResults, ToolRun, WorkloadResult};
use super::rss::RssSampler;
use super::targets::check_targets;
use super::workloads::{Prior, RunBase, Workload};
use crate::recorder::Progress;

/// Records per second of duration the Kafka producer tool is asked to
/// send, so its run lasts roughly `--duration-per-run` at Kafka-like rates.
const TOOL_RECORDS_PER_SEC: u64 = 500_000;
/// The least a Kafka tool run sends.
const MIN_TOOL_RECORDS: u64 = 10_000;
/// Slack on top of a run's own duration before the suite gives up on it.
const RUN_SLACK: Duration = Duration::from_secs(120);

/// A broker the suite does not start: `--bootstrap-server [NAME=]HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalBroker {
    /// The column name in the results.
    pub name: String,
    /// Where clients connect.
    pub bootstrap: String,
}

impl ExternalBroker {
    /// Parses `NAME=HOST:PORT[,...]`, or `HOST:PORT[,...]` named by itself.
    ///
    /// # Errors
    /// An empty name or address.
    pub fn parse(text: &str) -> Result<ExternalBroker, String> {
        let (name, bootstrap) = match text.split_once('=') {
            Some((name, bootstrap)) => (name.trim(), bootstrap.trim()),
            None => (text.trim(), text.trim()),
        };
        if name.is_empty() || bootstrap.is_empty() {
            return Err(format!("expected [NAME=]HOST:PORT, got {text:?}"));
        }
        Ok(ExternalBroker {
            name: name.to_owned(),
            bootstrap: bootstrap.to_owned(),
        })
    }
}

/// Every setting of a suite run.
#[derive(Debug, Clone)]
pub struct SuiteConfig {
    /// Length of each workload run.
    pub duration_per_run: Duration,
    /// Also start a single-node Apache Kafka and run Kafka's perf tools.
    pub kafka: bool,
    /// Brokers to measure instead of a `sluice broker` the suite starts.
    pub external: Vec<ExternalBroker>,
    /// The `sluice` executable whose `broker` subcommand is started.
    pub sluice_binary: PathBuf,
    /// The folder with `kafka.sh` and `kafka-tool`.
    pub scripts_dir: PathBuf,
    /// Partitions of every topic.
    pub partitions: i32,
    /// Producer `batch.size`.
    pub batch_size: usize,
    /// Producer `linger.ms`.
    pub linger_ms: u64,
    /// Bound on each client operation, in milliseconds.
    pub api_timeout_ms: u64,
    /// Bytes the page-cache test writes.
    pub page_cache_bytes: u64,
    /// How long iperf3 measures loopback TCP.
    pub iperf_duration: Duration,
    /// Rounds over all brokers; each figure is its best round's.
    pub rounds: u32,
}

impl SuiteConfig {
    fn validate(&self) -> SuiteResult<()> {
        let fail = |message: &str| Err(SuiteError::Settings(message.to_owned()));
        if self.duration_per_run.is_zero() {
            return fail("--duration-per-run must be positive");
        }
        if self.partitions < 1 {
            return fail("--partitions must be at least 1");
        }
        if self.page_cache_bytes == 0 {
            return fail("--page-cache-mib must be at least 1");
        }
        if self.rounds == 0 {
            return fail("--rounds must be at least 1");
        }
        Ok(())
    }
}

/// Which broker a pass of the suite measures.
#[derive(Clone)]
enum Target {
    Started(BrokerKind),
    External(ExternalBroker),
}

/// Runs the standard suite, reporting each step through `status`.
///
/// # Errors
/// Invalid settings or no scratch directory. Brokers that fail to start and
/// runs that fail are recorded in the results instead.
pub async fn run_suite(
    config: SuiteConfig,
    mut status: impl FnMut(&str),
) -> SuiteResult<SuiteResults> {
    config.validate()?;
    let started_unix_secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let scratch = tempfile::Builder::new()
        .prefix("sluice-bench-all-")
        .tempdir()
        .map_err(SuiteError::Scratch)?;
    let limits = measure_limits(&config, scratch.path().to_owned(), &mut status).await?;
    let mut notes = Vec::new();
    let tool = if config.kafka {
        status("checking Java and the Kafka jars");
        let tool = KafkaTool::new(&config.scripts_dir);
        match tool.check().await {
            Ok(()) => Some(tool),
            Err(error) => {
                notes.push(format!(
                    "Kafka skipped: {error}. Get the jars with scripts/setup.sh, or pass --no-kafka."
                ));
                None
            }
        }
    } else {
        notes.push("Kafka not run (--no-kafka).".to_owned());
        None
    };
    let mut targets: Vec<Target> = if config.external.is_empty() {
        vec![Target::Started(BrokerKind::Sluice)]
    } else {
        config
            .external
            .iter()
            .cloned()
            .map(Target::External)
            .collect()
    };
    if tool.is_some() {
        targets.push(Target::Started(BrokerKind::Kafka));
    }
    // Brokers take turns round by round, each alone on the machine.
    let mut rounds: Vec<Vec<BrokerResults>> = vec![Vec::new(); targets.len()];
    for round in 1..=config.rounds {
        for (target, runs) in targets.iter().zip(rounds.iter_mut()) {
            let results = run_target(
                &config,
                target.clone(),
                tool.as_ref(),
                scratch.path(),
                &format!("{started_unix_secs}-r{round}"),
                &mut status,
            )
            .await;
            runs.push(results);
        }
    }
    notes.extend(
        rounds
            .iter()
            .filter_map(|runs| BrokerResults::latency_rounds_note(runs)),
    );
    let brokers = rounds
        .into_iter()
        .filter_map(BrokerResults::best_of)
        .collect();
    if config.rounds > 1 {
        notes.push(format!(
            "Each figure is the best of {} rounds (brokers alternating): the most records/s, \
             or the lowest p99 for the latency runs, each paced at a share of its own round's peak.",
            config.rounds
        ));
    }
    let mut results = SuiteResults {
        started_unix_secs,
        duration_per_run_ms: millis(config.duration_per_run),
        rounds: config.rounds,
        partitions: config.partitions,
        batch_size: config.batch_size,
        linger_ms: config.linger_ms,
        limits,
        brokers,
        targets: Vec::new(),
        notes,
    };
    results.targets = check_targets(&results);
    results
        .notes
        .extend(results.brokers.iter().filter_map(cpu_note));
    Ok(results)
}

async fn measure_limits(
    config: &SuiteConfig,
    scratch: PathBuf,
    status: &mut impl FnMut(&str),
) -> SuiteResult<MachineLimits> {
    status("measuring loopback TCP bandwidth (iperf3)");
    let iperf_duration = config.iperf_duration;
    let loopback_tcp =
        tokio::task::spawn_blocking(move || loopback_tcp_limit(iperf_duration)).await?;
    status("measuring page-cache write bandwidth");
    let bytes = config.page_cache_bytes;
    // As long as one run: the rate a run can sustain, write-back included.
    let duration = config.duration_per_run;
    let page_cache_write =
        tokio::task::spawn_blocking(move || page_cache_limit(&scratch, bytes, Some(duration)))
            .await?;
    Ok(MachineLimits {
        loopback_tcp,
        page_cache_write,
    })
}

async fn run_target(
    config: &SuiteConfig,
    target: Target,
    tool: Option<&KafkaTool>,
    scratch: &std::path::Path,
    nonce: &str,
    status: &mut impl FnMut(&str),
) -> BrokerResults {
    // `process` is the broker the suite started; external brokers have none.
    let (name, bootstrap, mut process) = match target {
        Target::External(external) => (external.name, external.bootstrap, None),
        Target::Started(kind) => {
            let name = kind_name(kind).to_owned();
            status(&format!("[{name}] starting"));
            match start_and_wait(config, kind, scratch).await {
                Ok(process) => (name, process.bootstrap().to_owned(), Some(process)),
                Err(error) => {
                    return BrokerResults::unusable(
                        name,
                        String::new(),
                        true,
                        ErrorChain(&error).to_string(),
                    );
                }
            }
        }
    };
    let sampler = process
        .as_ref()
        .and_then(BrokerProcess::pid)
        .map(RssSampler::start);
    let base = RunBase {
        bootstrap_servers: bootstrap.clone(),
        api_timeout_ms: config.api_timeout_ms,
        topic_prefix: format!("suite-{nonce}-{}", topic_safe(&name)),
        partitions: config.partitions,
        duration_ms: millis(config.duration_per_run),
        batch_size: config.batch_size,
        linger_ms: config.linger_ms,
    };
    let workloads = run_workloads(&name, &base, config.duration_per_run, status).await;
    let (producer_perf, consumer_perf) = match tool {
        Some(tool) => {
            let (producer, consumer) = run_tools(&name, tool, &base, config, status).await;
            (Some(producer), consumer)
        }
        None => (None, None),
    };
    let rss = sampler.and_then(RssSampler::stop);
    if let Some(process) = process.as_mut() {
        status(&format!("[{name}] stopping"));
        process.stop();
    }
    BrokerResults {
        name,
        bootstrap,
        started_by_suite: process.is_some(),
        error: None,
        workloads,
        producer_perf,
        consumer_perf,
        rss,
    }
}

/// Starts a broker of `kind` and waits until it answers; a broker that
/// does not is killed when the error drops it.
async fn start_and_wait(
    config: &SuiteConfig,
    kind: BrokerKind,
    scratch: &std::path::Path,
) -> SuiteResult<BrokerProcess> {
    let mut process = match kind {
        BrokerKind::Sluice => BrokerProcess::start_sluice(&config.sluice_binary, scratch)?,
        BrokerKind::Kafka => BrokerProcess::start_kafka(&config.scripts_dir, scratch)?,
    };
    process.wait_ready().await?;
    Ok(process)
}

/// "CPU during kafka's runs (busy / steal): ..." for a broker whose runs
/// have CPU figures.
fn cpu_note(broker: &BrokerResults) -> Option<String> {
    let runs: Vec<String> = broker
        .workloads
        .iter()
        .filter_map(|run| {
            let cpu = run.cpu?;
            Some(format!(
                "{} {:.0}% / {:.0}%",
                run.workload.key(),
                cpu.busy_pct,
                cpu.steal_pct
            ))
        })
        .collect();
    (!runs.is_empty()).then(|| {
        format!(
            "CPU during {}'s runs (busy / stolen by the hypervisor, % of all CPU time): {}",
            broker.name,
            runs.join(", ")
        )
    })
}

/// Writes dirty pages back before a run (`sync`), so no run inherits the
/// write-back of the gigabytes the previous ones wrote: with a few GiB
/// dirty, the kernel's write-back competes for the 2 cores and latency runs
/// degrade run after run. Best effort: a missing `sync` only logs.
async fn write_back_dirty_pages() {
    match tokio::process::Command::new("sync").status().await {
        Ok(status) if status.success() => {}
        Ok(status) => tracing::warn!(%status, "sync failed; dirty pages carry over"),
        Err(error) => tracing::warn!(%error, "cannot run sync; dirty pages carry over"),
    }
}

async fn run_workloads(
    name: &str,
    base: &RunBase,
    duration: Duration,
    status: &mut impl FnMut(&str),
) -> Vec<WorkloadResult> {
    let mut prior = Prior::default();
    let mut results = Vec::with_capacity(Workload::ALL.len());
    for workload in Workload::ALL {
        let Some(settings) = workload.settings(base, &prior) else {
            results.push(WorkloadResult {
                workload,
                title: workload.title().to_owned(),
                summary: None,
                error: Some(
                    "skipped: the 100 B acks=1 run produced nothing to build on".to_owned(),
                ),
                cpu: None,
            });
            continue;
        };
        let title = workload.title();
        status(&format!("[{name}] {title}"));
        write_back_dirty_pages().await;
        let topic = settings.topic.clone();
        let limit = duration * 4 + RUN_SLACK;
        let run = crate::run(settings, |progress: &Progress| {
            status(&format!("[{name}] {title}: {}", progress_text(progress)));
        });
        let cpu_before = CpuTimes::read();
        let outcome = match tokio::time::timeout(limit, run).await {
            Ok(Ok(summary)) => Ok(summary),
            Ok(Err(error)) => Err(ErrorChain(&error).to_string()),
            Err(_) => Err(format!("no result within {limit:?}")),
        };
        let cpu = cpu_before
            .zip(CpuTimes::read())
            .and_then(|(before, after)| before.share_until(&after));
        if workload == Workload::Produce100Acks1
            && let Ok(summary) = &outcome
        {
            prior = Prior {
                peak_topic: Some(topic),
                peak_records: summary.records,
                peak_records_per_sec: summary.records_per_sec,
            };
        }
        if let Err(error) = &outcome {
            tracing::warn!(broker = name, workload = workload.key(), %error, "workload failed");
        }
        results.push(WorkloadResult {
            workload,
            title: title.to_owned(),
            summary: outcome.as_ref().ok().cloned(),
            error: outcome.err(),
            cpu,
        });
    }
    results
}

/// Kafka's producer perf tool on a fresh topic, then its consumer perf tool
/// over what it wrote.
async fn run_tools(
    name: &str,
    tool: &KafkaTool,
    base: &RunBase,
    config: &SuiteConfig,
    status: &mut impl FnMut(&str),
) -> (
    ToolRun<super::kafka_tools::ProducerPerf>,
    Option<ToolRun<super::kafka_tools::ConsumerPerf>>,
) {
    let topic = format!("{}-perf-tool", base.topic_prefix);
    let records =
        (config.duration_per_run.as_secs().max(1) * TOOL_RECORDS_PER_SEC).max(MIN_TOOL_RECORDS);
    let limit = config.duration_per_run * 10 + RUN_SLACK;
    if let Err(error) = create_topic(base, &topic).await {
        return (ToolRun::from_outcome(Err(error)), None);
    }
    status(&format!(
        "[{name}] kafka-producer-perf-test, {records} records"
    ));
    let produced = tool
        .producer_perf(&base.bootstrap_servers, &topic, records, limit)
        .await;
    let written = produced.as_ref().map(|perf| perf.records).unwrap_or(0);
    let producer = ToolRun::from_outcome(produced);
    if written == 0 {
        return (producer, None);
    }
    status(&format!(
        "[{name}] kafka-consumer-perf-test, {written} records"
    ));
    let consumed = tool
        .consumer_perf(&base.bootstrap_servers, &topic, written, limit)
        .await;
    (producer, Some(ToolRun::from_outcome(consumed)))
}

async fn create_topic(base: &RunBase, topic: &str) -> Result<(), String> {
    let mut config = ClientConfig::new(base.bootstrap_servers.clone());
    config.default_api_timeout_ms = base.api_timeout_ms;
    let admin = Admin::connect(config).await.map_err(|e| e.to_string())?;
    let created = admin
        .create_topics(
            &[NewTopic::new(topic.to_owned(), base.partitions, -1)],
            false,
        )
        .await
        .map_err(|e| e.to_string());
    admin.client().close();
    match created?.into_iter().find_map(|outcome| outcome.error) {
        Some(error) => Err(format!(
            "cannot create {topic}: {:?} {}",
            error.code,
            error.message.unwrap_or_default()
        )),
        None => Ok(()),
    }
}

fn progress_text(progress: &Progress) -> String {
    format!(
        "{:.1} s, {} records, {:.0} records/s, {:.1} MB/s",
        progress.elapsed.as_secs_f64(),
        progress.records,
        progress.records_per_sec,
        progress.mb_per_sec
    )
}

/// Letters, digits and `-` only: external names may hold `:` or `.`.
fn topic_safe(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::CpuShare;

    #[test]
    fn external_broker_takes_a_name_or_is_named_by_its_address() {
        let named = ExternalBroker::parse("redpanda=127.0.0.1:19092").expect("valid");
        assert_eq!(
            (named.name.as_str(), named.bootstrap.as_str()),
            ("redpanda", "127.0.0.1:19092")
        );
        let bare = ExternalBroker::parse("127.0.0.1:9092").expect("valid");
        assert_eq!(bare.name, "127.0.0.1:9092");
        assert!(ExternalBroker::parse("=127.0.0.1:9092").is_err());
    }

    #[test]
    fn cpu_note_lists_each_measured_run() {
        let mut broker = crate::suite::fixtures::broker("sluice", 1_000_000.0);
        assert_eq!(cpu_note(&broker), None, "no run measured, no note");
        broker.workloads[0].cpu = Some(CpuShare {
            busy_pct: 71.4,
            steal_pct: 22.0,
        });
        let note = cpu_note(&broker).expect("one run measured");
        assert!(note.starts_with("CPU during sluice's runs"), "{note}");
        assert!(note.ends_with("produce-100b-acks1 71% / 22%"), "{note}");
    }

    #[test]
    fn topic_names_keep_only_safe_characters() {
        assert_eq!(topic_safe("127.0.0.1:9092"), "127-0-0-1-9092");
    }
}

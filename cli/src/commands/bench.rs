//! `sluice bench produce|consume|e2e`: throughput and latency runs against a
//! cluster. A thin wrapper: flags become [`BenchSettings`], the engine in
//! `sluice-benches` runs, and the summary is printed (text, or JSON with
//! `--json`) with an optional `--report` of plots.
//!
//! `sluice bench all` runs the standard suite (`sluice_benches::suite`)
//! against a broker it starts itself and, side by side, Apache Kafka.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::ProgressBar;
use sluice_benches::suite::{self, ExternalBroker, SuiteConfig, SuiteResults};
use sluice_benches::{AckMode, BenchSettings, Mode, PayloadKind, Progress, Summary};

use crate::output;
use crate::session::{AcksArg, ClusterArgs, CompressionArg, StopSignal};

/// Flags of `sluice bench`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sluice bench produce --records 1000000 --record-size 100 --acks 1
  sluice bench produce --duration 30s --producers 4 --compression zstd --payload compressible
  sluice bench consume --topic sluice-bench --consumers 2 --json summary.json
  sluice bench e2e --throughput 5000 --duration 20s --report e2e.html
  sluice bench all --duration-per-run 5s --markdown bench.md --report bench.html")]
pub struct BenchArgs {
    #[command(subcommand)]
    mode: BenchMode,
}

#[derive(Debug, Subcommand)]
enum BenchMode {
    /// Producers only: acknowledged records/s and send-to-ack latency.
    #[command(after_help = "Examples:
  sluice bench produce --records 1000000 --record-size 100 --acks 1
  sluice bench produce --duration 30s --producers 4 --compression zstd --payload compressible
  sluice bench produce --topic load --partitions 6 --throughput 20000 --json produce.json")]
    Produce {
        #[command(flatten)]
        run: RunFlags,
        #[command(flatten)]
        producer: ProducerFlags,
    },
    /// Consumers only: records/s and MB/s reading what the topic holds.
    #[command(after_help = "Examples:
  sluice bench produce --topic sluice-bench --records 1000000 && sluice bench consume --topic sluice-bench
  sluice bench consume --topic sluice-bench --consumers 2 --json summary.json
  sluice bench consume --topic sluice-bench --group readers --duration 10s")]
    Consume {
        #[command(flatten)]
        run: RunFlags,
        #[command(flatten)]
        consumer: ConsumerFlags,
    },
    /// Producers at a fixed rate with consumers reading along: produce-to-
    /// consume latency (consumers use assignment, starting at the log end).
    #[command(after_help = "Examples:
  sluice bench e2e --throughput 5000 --duration 20s
  sluice bench e2e --throughput 50000 --producers 2 --consumers 2 --partitions 4 --report e2e.html
  sluice bench e2e --throughput 1000 --acks all --duration 1m --json e2e.json")]
    E2e {
        #[command(flatten)]
        run: RunFlags,
        #[command(flatten)]
        producer: ProducerFlags,
        /// Consumer tasks, each reading its share of the partitions.
        #[arg(long, default_value_t = 1, value_name = "N")]
        consumers: usize,
    },
    /// The standard suite against a broker started here (or
    /// --bootstrap-server) and, side by side, Apache Kafka: throughput,
    /// latency, memory, Kafka's perf tools and the machine's limits.
    #[command(after_help = ALL_EXAMPLES)]
    All(Box<AllFlags>),
}

const ALL_EXAMPLES: &str =
    "Workloads (one run each, a fresh topic each): 100 B records with 1 producer
and acks=1 (the peak), acks=all, 3 producers, 1 KiB records, zstd and lz4 on
compressible data, a consumer over the peak's records, and e2e latency at 10%
and 50% of the peak rate; then kafka-producer-perf-test and
kafka-consumer-perf-test. Each broker runs alone. Loopback TCP (iperf3) and
page-cache write bandwidth are measured first; the table gives each figure as a
fraction of the lower limit, the Sluice/Kafka ratio, and the broker's peak
RSS (anonymous, page cache excluded).

Examples:
  sluice bench all
  sluice bench all --duration-per-run 5s --markdown bench.md --report bench.html --json bench.json
  sluice bench all --no-kafka --duration-per-run 2s
  sluice bench all --bootstrap-server redpanda=127.0.0.1:19092 --no-kafka
  SLUICE_SCRIPTS_DIR=/src/sluice/scripts sluice bench all --kafka";

/// Flags of `sluice bench all`.
#[derive(Debug, Args)]
struct AllFlags {
    /// Length of each workload run (`10s`, `1m`).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s", value_name = "DURATION")]
    duration_per_run: Duration,
    /// Also start a single-node Apache Kafka (KRaft, via scripts/kafka.sh)
    /// and run Kafka's perf tools against each broker (the default; skipped
    /// with a note when the jars from scripts/setup.sh are missing).
    #[arg(long, overrides_with = "no_kafka")]
    kafka: bool,
    /// Measure Sluice only: no Kafka broker, no Kafka perf tools.
    #[arg(long, overrides_with = "kafka")]
    no_kafka: bool,
    /// Measure this broker instead of starting `sluice broker`; repeatable.
    /// `NAME=` names its column (default: the address).
    #[arg(long, short = 'b', value_name = "[NAME=]HOST:PORT", value_parser = parse_external)]
    bootstrap_server: Vec<ExternalBroker>,
    /// Write the full results as JSON to FILE (`-` for stdout instead of the table).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write an HTML report (the table and every run's plots), or with a
    /// `.svg` name the plots of the first broker's peak run.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Write the results and targets as Markdown tables (for the README).
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Partitions of every topic.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    partitions: i32,
    /// Producer `batch.size` of every produce run, on every broker (Kafka's
    /// default; the 1 KiB run uses at least 256 KiB, as its label says).
    #[arg(long, default_value_t = 16_384, value_name = "BYTES")]
    batch_size: usize,
    /// Producer `linger.ms` of every produce run, on every broker.
    #[arg(long, default_value_t = 5, value_name = "MS")]
    linger_ms: u64,
    /// Give up on a client operation (retries included) after this long.
    #[arg(long, default_value_t = 30_000, value_name = "MS")]
    timeout_ms: u64,
    /// Most MiB the page-cache write test writes (1 MiB chunks, no fsync);
    /// it also stops after one run's duration, so it measures the rate a run
    /// can sustain once the dirty-page limits hold writes to write-back speed.
    #[arg(long, default_value_t = 16_384, value_name = "MIB")]
    page_cache_mib: u64,
    /// How long iperf3 measures loopback TCP.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "3s", value_name = "DURATION")]
    iperf_duration: Duration,
    /// Run every broker's workloads this many times, alternating brokers
    /// (sluice, kafka, sluice, kafka, ...), and report each figure's best
    /// round: on a shared VM the hypervisor's steal comes in bursts, and one
    /// round can catch one broker in a burst and not the other.
    #[arg(long, default_value_t = 1, value_name = "N")]
    rounds: u32,
    /// Folder with kafka.sh and kafka-tool (default: the `scripts/` of the
    /// checkout this executable was built in, found from its path).
    #[arg(long, env = "SLUICE_SCRIPTS_DIR", value_name = "DIR")]
    scripts_dir: Option<PathBuf>,
}

fn parse_external(text: &str) -> Result<ExternalBroker, String> {
    ExternalBroker::parse(text)
}

/// Flags every mode has.
#[derive(Debug, Args)]
struct RunFlags {
    /// Topic to write and/or read; created with --partitions when missing.
    #[arg(long, default_value = "sluice-bench")]
    topic: String,
    /// Partitions of the topic when it is created.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    partitions: i32,
    /// Records to send (or read); `consume` without it reads what the topic holds.
    #[arg(long, value_name = "N")]
    records: Option<u64>,
    /// Run for this long (`10s`, `1m`); with --records, whichever ends first.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    duration: Option<Duration>,
    /// Print the summary as JSON on stdout, or write it to FILE.
    #[arg(long, num_args = 0..=1, default_missing_value = "-", value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write plots of throughput over time and the latency distribution
    /// (`.svg`, or `.html` with the summary).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// Producer flags (Kafka's producer settings where Kafka has them).
#[derive(Debug, Args)]
struct ProducerFlags {
    /// Value size in bytes.
    #[arg(long, default_value_t = 100, value_name = "BYTES")]
    record_size: usize,
    /// What generated values are made of.
    #[arg(long, value_enum, default_value_t = PayloadArg::Random)]
    payload: PayloadArg,
    /// Send this file's non-empty lines as values, in turn (overrides
    /// --record-size and --payload).
    #[arg(long, value_name = "PATH")]
    payload_file: Option<PathBuf>,
    /// Producer tasks, each with its own producer.
    #[arg(long, default_value_t = 1, value_name = "N")]
    producers: usize,
    /// Replicas that must have a record before it counts as written.
    #[arg(long, value_enum, default_value_t = AcksArg::All)]
    acks: AcksArg,
    /// Batch compression (`compression.type`).
    #[arg(long, value_enum, default_value_t = CompressionArg::None)]
    compression: CompressionArg,
    /// Largest batch per partition (`batch.size`).
    #[arg(long, default_value_t = 16_384, value_name = "BYTES")]
    batch_size: usize,
    /// How far a full batch may grow while its partition waits for a free
    /// request slot (`batch.max.size`, KIP-782; `--batch-size` turns it off).
    #[arg(long, default_value_t = 262_144, value_name = "BYTES")]
    batch_max_size: usize,
    /// How long a batch waits for more records (`linger.ms`).
    #[arg(long, default_value_t = 5, value_name = "MS")]
    linger_ms: u64,
    /// Cap on records per second over all producers (for latency runs).
    #[arg(long, value_name = "RECORDS_PER_SEC")]
    throughput: Option<u64>,
}

/// Consumer flags.
#[derive(Debug, Args)]
struct ConsumerFlags {
    /// Consumer tasks.
    #[arg(long, default_value_t = 1, value_name = "N")]
    consumers: usize,
    /// Join this consumer group (subscribe) instead of splitting the
    /// partitions among the consumers by assignment. Use a fresh name: a
    /// group with committed offsets starts from them.
    #[arg(long, value_name = "GROUP")]
    group: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PayloadArg {
    /// Text from a small vocabulary; compresses several-fold.
    Compressible,
    /// Uniform random bytes; incompressible.
    Random,
}

/// Runs `sluice bench`.
///
/// # Errors
/// Invalid flags, an unreachable cluster, a failed run, or outputs that
/// cannot be written.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let (settings, outputs) = match args.mode {
        BenchMode::All(flags) => return run_all(*flags),
        BenchMode::Produce { run, producer } => {
            settings(Mode::Produce, run, Some(producer), 1, None)
        }
        BenchMode::Consume { run, consumer } => {
            settings(Mode::Consume, run, None, consumer.consumers, consumer.group)
        }
        BenchMode::E2e {
            run,
            producer,
            consumers,
        } => settings(Mode::E2e, run, Some(producer), consumers, None),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let progress = progress_bar();
    let summary = runtime.block_on(until_stopped(async {
        sluice_benches::run(settings, |snapshot| {
            progress.set_message(progress_line(snapshot));
        })
        .await
        .context("benchmark failed")
    }));
    progress.finish_and_clear();
    let summary = summary?;
    write_outputs(&summary, &outputs)
}

/// Runs `run` until it ends or Ctrl-C or SIGTERM arrives. A signal drops
/// the run, which stops the brokers and tools it started (they are killed
/// by pid on drop), and becomes an error: there is no summary to print.
async fn until_stopped<T>(run: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let mut stop = StopSignal::watch()?;
    tokio::select! {
        result = run => result,
        () = stop.raised() => bail!("stopped by a signal before the benchmark finished"),
    }
}

/// Where the summary goes besides the terminal.
#[derive(Debug)]
struct Outputs {
    json: Option<PathBuf>,
    report: Option<PathBuf>,
}

fn settings(
    mode: Mode,
    run: RunFlags,
    producer: Option<ProducerFlags>,
    consumers: usize,
    group: Option<String>,
) -> (BenchSettings, Outputs) {
    let producer = producer.unwrap_or(ProducerFlags {
        record_size: 100,
        payload: PayloadArg::Random,
        payload_file: None,
        producers: 0,
        acks: AcksArg::All,
        compression: CompressionArg::None,
        batch_size: 16_384,
        batch_max_size: 262_144,
        linger_ms: 5,
        throughput: None,
    });
    let settings = BenchSettings {
        mode,
        api_timeout_ms: run.cluster.timeout_ms,
        bootstrap_servers: run.cluster.bootstrap_server,
        topic: run.topic,
        partitions: run.partitions,
        records: run.records,
        duration_ms: run
            .duration
            .map(|limit| u64::try_from(limit.as_millis()).unwrap_or(u64::MAX)),
        record_size: producer.record_size,
        payload: match producer.payload {
            PayloadArg::Compressible => PayloadKind::Compressible,
            PayloadArg::Random => PayloadKind::Random,
        },
        payload_file: producer.payload_file,
        producers: producer.producers,
        consumers: if mode == Mode::Produce { 0 } else { consumers },
        group,
        acks: match producer.acks {
            AcksArg::Zero => AckMode::None,
            AcksArg::One => AckMode::Leader,
            AcksArg::All => AckMode::All,
        },
        compression: producer.compression.name().to_owned(),
        batch_size: producer.batch_size,
        batch_max_size: producer.batch_max_size,
        linger_ms: producer.linger_ms,
        throughput: producer.throughput,
    };
    let outputs = Outputs {
        json: run.json,
        report: run.report,
    };
    (settings, outputs)
}

/// The live progress line, redrawn every 200 ms.
fn progress_bar() -> ProgressBar {
    let bar = output::spinner();
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn progress_line(progress: &Progress) -> String {
    let p99 = progress.current_p99_us.map_or_else(
        || "-".to_owned(),
        |micros| format!("{:.2} ms", micros as f64 / 1000.0),
    );
    format!(
        "{:>6.1} s  {} records  {:.0} records/s  {:.2} MB/s  p99 {}  errors {}",
        progress.elapsed.as_secs_f64(),
        progress.records,
        progress.records_per_sec,
        progress.mb_per_sec,
        p99,
        progress.errors
    )
}

fn write_outputs(summary: &Summary, outputs: &Outputs) -> anyhow::Result<()> {
    if let Some(report) = &outputs.report {
        sluice_benches::write_report(summary, report)?;
    }
    match outputs.json.as_deref() {
        Some(path) if path.as_os_str() != "-" => {
            std::fs::write(path, summary.to_json())
                .with_context(|| format!("cannot write {}", path.display()))?;
            output::to_stdout(|out| writeln!(out, "{summary}"))
        }
        Some(_) => output::to_stdout(|out| writeln!(out, "{}", summary.to_json())),
        None => output::to_stdout(|out| writeln!(out, "{summary}")),
    }
}

/// Runs `sluice bench all` and writes its outputs.
fn run_all(flags: AllFlags) -> anyhow::Result<()> {
    let config = SuiteConfig {
        duration_per_run: flags.duration_per_run,
        kafka: !flags.no_kafka,
        external: flags.bootstrap_server,
        sluice_binary: std::env::current_exe().context("cannot find the sluice executable")?,
        scripts_dir: flags.scripts_dir.unwrap_or_else(default_scripts_dir),
        partitions: flags.partitions,
        batch_size: flags.batch_size,
        linger_ms: flags.linger_ms,
        api_timeout_ms: flags.timeout_ms,
        page_cache_bytes: flags.page_cache_mib.saturating_mul(1 << 20),
        iperf_duration: flags.iperf_duration,
        rounds: flags.rounds,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let progress = progress_bar();
    let results = runtime.block_on(until_stopped(async {
        suite::run_suite(config, |line| progress.set_message(line.to_owned()))
            .await
            .context("benchmark suite failed")
    }));
    progress.finish_and_clear();
    let results = results?;
    if let Some(path) = &flags.report {
        suite::write_suite_report(&results, path)?;
    }
    if let Some(path) = &flags.markdown {
        std::fs::write(path, suite_markdown(&results))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    match flags.json.as_deref() {
        Some(path) if path.as_os_str() == "-" => {
            return output::to_stdout(|out| writeln!(out, "{}", results.to_json()));
        }
        Some(path) => std::fs::write(path, results.to_json())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {}
    }
    output::to_stdout(|out| write!(out, "{}", suite_text(&results)))
}

/// The table, the targets, the limits and the notes, for the terminal.
fn suite_text(results: &SuiteResults) -> String {
    let mut text = suite::render_text(&suite::build_table(results));
    text.push_str(suite::TABLE_LEGEND);
    text.push_str("\n\n");
    text.push_str(&suite::render_text(&suite::targets_table(&results.targets)));
    text.push('\n');
    text.push_str(&limits_lines(results));
    for note in &results.notes {
        text.push_str(&format!("note: {note}\n"));
    }
    for broker in &results.brokers {
        if let Some(error) = &broker.error {
            text.push_str(&format!("{} failed: {error}\n", broker.name));
        }
    }
    text
}

fn suite_markdown(results: &SuiteResults) -> String {
    format!(
        "{}\n{}\n\n{}\n{}",
        suite::render_markdown(&suite::build_table(results)),
        suite::TABLE_LEGEND,
        suite::render_markdown(&suite::targets_table(&results.targets)),
        limits_lines(results)
            .lines()
            .map(|line| format!("- {line}\n"))
            .collect::<String>()
    )
}

fn limits_lines(results: &SuiteResults) -> String {
    let limits = &results.limits;
    [
        ("loopback TCP", &limits.loopback_tcp),
        ("page-cache write", &limits.page_cache_write),
    ]
    .iter()
    .map(|(name, limit)| {
        let figure = limit
            .mb_per_sec
            .map_or_else(|| "-".to_owned(), |mb| format!("{mb:.0} MB/s"));
        format!("{name}: {figure} ({})\n", limit.note)
    })
    .collect()
}

/// `scripts/` of the checkout: searched upwards from the executable (it
/// lives in `target/<profile>/`), then from the working directory.
fn default_scripts_dir() -> PathBuf {
    let starts = [std::env::current_exe().ok(), std::env::current_dir().ok()];
    starts
        .iter()
        .flatten()
        .flat_map(|start| start.ancestors())
        .map(|dir| dir.join("scripts"))
        .find(|dir| dir.join("kafka.sh").is_file())
        .unwrap_or_else(|| PathBuf::from("scripts"))
}

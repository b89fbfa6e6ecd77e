//! `sluice verify`: runs a workload with rebalances against a cluster,
//! records its history, checks it and prints a verdict; `--check FILE`
//! re-checks a saved history. A thin wrapper over `sluice-verify`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use indicatif::ProgressBar;
use sluice_verify::{
    HistoryReader, HistoryWriter, Progress, Verdict, ViolationKind, WorkloadConfig, now_ms,
};

use crate::output::{self, Table};
use crate::session::{self, AcksArg, ClusterArgs, StopSignal};

/// Exit status when the history shows a violation.
const EXIT_VIOLATIONS: u8 = 1;
/// Exit status when the run or the check could not be completed.
const EXIT_ERROR: u8 = 2;
/// How often the progress line is redrawn.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);

/// Flags of `sluice verify`.
#[derive(Debug, Args)]
#[command(
    after_help = "Ctrl-C or SIGTERM ends the run early: the group still drains, the final \
read and the check still run; a second signal exits at once.

Exit status: 0 when nothing was violated, 1 when the history shows a \
violation, 2 when the run or the check could not be completed.

Examples:
  sluice verify --duration 30s
  sluice verify -b node1:9092,node2:9092,node3:9092 --partitions 6 --replication-factor 3 --consumers 3
  sluice verify --duration 1m --producers 4 --rate 1000 --history run.jsonl --json
  sluice verify --check run.jsonl"
)]
pub struct VerifyArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// The topic to write and read; created when missing (an existing one
    /// must have --partitions partitions; its older records are not judged).
    #[arg(long, default_value = "sluice-verify")]
    topic: String,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..))]
    partitions: i32,
    /// Replicas of each partition.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i16).range(1..))]
    replication_factor: i16,
    /// Idempotent producers writing at once.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    producers: u32,
    /// Members of the consumer group at once.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    consumers: u32,
    /// The producers' acks (idempotence is on only with `all`).
    #[arg(long, value_enum, default_value = "all")]
    acks: AcksArg,
    /// How long the producers write.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s", value_name = "DURATION")]
    duration: Duration,
    /// Records per second each producer sends.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    rate: u32,
    /// How often one consumer leaves the group and a new one joins
    /// (default: a quarter of --duration, at least 1s).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    rebalance_interval: Option<Duration>,
    /// How long the end of the run waits for the group to read every
    /// acknowledged record (and again for the final read).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s", value_name = "DURATION")]
    drain_timeout: Duration,
    /// The consumer group (default: a fresh `sluice-verify-<time>` per run).
    #[arg(long)]
    group: Option<String>,
    /// Where to write the history, JSON lines (default: a new file in the
    /// temp directory, printed at the end).
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
    /// Re-check a saved history instead of running a workload.
    #[arg(long, value_name = "FILE", conflicts_with_all = [
        "topic", "partitions", "replication_factor", "producers", "consumers", "acks",
        "duration", "rate", "rebalance_interval", "drain_timeout", "group", "history",
    ])]
    check: Option<PathBuf>,
    /// Print the verdict as JSON on stdout (with `"clean": true|false`).
    #[arg(long)]
    json: bool,
}

/// Runs `sluice verify` and returns its exit status (0 clean, 1 violations, 2 errors).
pub fn run(args: VerifyArgs) -> ExitCode {
    let outcome = match &args.check {
        Some(path) => recheck(path).map(|verdict| (verdict, path.clone())),
        None => run_workload(&args),
    };
    let printed = outcome.and_then(|(verdict, history)| {
        print_verdict(&verdict, &history, args.json)?;
        Ok(verdict.is_clean())
    });
    match printed {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(EXIT_VIOLATIONS),
        Err(error) => {
            eprintln_error(&error);
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// One line on stderr, as `main` prints other commands' errors.
#[allow(clippy::print_stderr)]
fn eprintln_error(error: &anyhow::Error) {
    eprintln!("error: {error:#}");
}

fn recheck(path: &Path) -> anyhow::Result<Verdict> {
    let mut checker = sluice_verify::Checker::new();
    for event in HistoryReader::open(path)? {
        checker.observe(&event.with_context(|| format!("cannot check {}", path.display()))?);
    }
    Ok(checker.verdict())
}

fn workload_config(args: &VerifyArgs) -> WorkloadConfig {
    let mut config = WorkloadConfig::new(args.cluster.bootstrap_server.clone());
    config.topic = args.topic.clone();
    config.partitions = args.partitions;
    config.replication_factor = args.replication_factor;
    config.producers = args.producers;
    config.consumers = args.consumers;
    config.acks = args.acks.into();
    config.duration = args.duration;
    config.records_per_second = args.rate;
    config.rebalance_interval = args
        .rebalance_interval
        .unwrap_or_else(|| (args.duration / 4).max(Duration::from_secs(1)));
    config.drain_timeout = args.drain_timeout;
    config.default_api_timeout_ms = args.cluster.timeout_ms;
    if let Some(group) = &args.group {
        config.group_id = group.clone();
    }
    config
}

fn run_workload(args: &VerifyArgs) -> anyhow::Result<(Verdict, PathBuf)> {
    let config = workload_config(args);
    let path = args
        .history
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("sluice-verify-{}.jsonl", now_ms())));
    let history = HistoryWriter::create(&path)?;
    let progress = Arc::new(Progress::default());
    let bar = output::spinner();
    let verdict = session::block_on(async {
        let mut signal = StopSignal::watch()?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            signal.raised().await;
            let _ = stop.send(true);
        });
        let display = tokio::spawn(show_progress(
            bar.clone(),
            progress.clone(),
            config.duration,
        ));
        let verdict = sluice_verify::run_until(&config, history, progress, stopped).await;
        display.abort();
        verdict.with_context(|| format!("verify against {}", config.bootstrap_servers))
    });
    bar.finish_and_clear();
    Ok((verdict?, path))
}

async fn show_progress(bar: ProgressBar, progress: Arc<Progress>, duration: Duration) {
    let started = Instant::now();
    let mut ticker = tokio::time::interval(PROGRESS_INTERVAL);
    loop {
        ticker.tick().await;
        let now = progress.snapshot();
        let elapsed = started.elapsed();
        let phase = if elapsed < duration {
            format!(
                "{:.0}s/{:.0}s",
                elapsed.as_secs_f64(),
                duration.as_secs_f64()
            )
        } else {
            "draining".to_owned()
        };
        bar.set_message(format!(
            "{phase}  sent {}  acked {}  consumed {}  assignments {}  unread {}",
            now.sent, now.acknowledged, now.consumed, now.assignments, now.unread_acknowledged
        ));
        bar.tick();
    }
}

fn print_verdict(verdict: &Verdict, history: &Path, json: bool) -> anyhow::Result<()> {
    if json {
        let mut value = serde_json::to_value(verdict)?;
        if let Some(fields) = value.as_object_mut() {
            fields.insert("clean".to_owned(), verdict.is_clean().into());
        }
        let text = serde_json::to_string_pretty(&value)?;
        note_history(history);
        return output::to_stdout(|out| writeln!(out, "{text}"));
    }
    output::to_stdout(|out| write_verdict(out, verdict, history))
}

/// Where the history is, on stderr so `--json` output stays pure JSON.
#[allow(clippy::print_stderr)]
fn note_history(history: &Path) {
    eprintln!("history: {}", history.display());
}

fn write_verdict(out: &mut dyn Write, verdict: &Verdict, history: &Path) -> std::io::Result<()> {
    writeln!(
        out,
        "sent {}  acknowledged {}  send failures {}  consumed {}  final read {}  commits {}  assignments {}",
        verdict.sent,
        verdict.acknowledged,
        verdict.send_failures,
        verdict.consumed,
        verdict.final_reads,
        verdict.commits,
        verdict.assignments
    )?;
    let mut table = Table::new(&["CHECK", "VIOLATIONS", "FIRST EXAMPLE"]);
    for kind in ViolationKind::ALL {
        let found = verdict.violations.get(&kind);
        let first = found
            .and_then(|found| found.examples.first())
            .map(|e| {
                format!(
                    "partition {} offset {} {}: {}",
                    e.partition, e.offset, e.value, e.detail
                )
            })
            .unwrap_or_default();
        table.push(vec![
            kind.name().to_owned(),
            verdict.count(kind).to_string(),
            first,
        ]);
    }
    table.write_to(out)?;
    let violations: u64 = ViolationKind::ALL.iter().map(|k| verdict.count(*k)).sum();
    if violations == 0 {
        writeln!(out, "verdict: OK, no violation")?;
    } else {
        let noun = if violations == 1 {
            "violation"
        } else {
            "violations"
        };
        writeln!(out, "verdict: FAILED, {violations} {noun}")?;
    }
    writeln!(out, "history: {}", history.display())
}

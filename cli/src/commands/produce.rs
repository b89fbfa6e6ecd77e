//! `sluice produce TOPIC`: one record per input line (stdin or a file), sent
//! with the Sluice producer, then a summary of what was written. Ctrl-C or
//! SIGTERM ends the input early: the lines read so far are still sent and
//! summarised, and the exit status is 0.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use sluice_producer::{Acks, DeliveryFuture, Producer, ProducerConfig, ProducerRecord};

use crate::output;
use crate::session::{self, AcksArg, ClusterArgs, CompressionArg, StopSignal};

/// Deliveries awaited at most at once; beyond this the oldest is awaited
/// before the next line is read, so memory stays bounded on huge inputs.
const MAX_PENDING_DELIVERIES: usize = 65_536;
/// How often the progress display is redrawn.
const PROGRESS_TICK: Duration = Duration::from_millis(100);

/// Flags of `sluice produce`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  echo hello | sluice produce events
  sluice produce events --file records.txt --compression zstd
  printf 'user-1:login\\nuser-2:logout\\n' | sluice produce events --key-separator :
  sluice produce events --header source=import --partition 0 --acks 1 < data.txt")]
pub struct ProduceArgs {
    /// Topic to write to.
    topic: String,
    /// Read lines from this file instead of stdin.
    #[arg(long, short = 'f', value_name = "PATH")]
    file: Option<PathBuf>,
    /// Split each line at the first SEP into key and value (a line without
    /// SEP is an error).
    #[arg(long, short = 'K', value_name = "SEP")]
    key_separator: Option<String>,
    /// A header `KEY=VALUE` added to every record; repeat for several.
    #[arg(long = "header", short = 'H', value_name = "KEY=VALUE", value_parser = parse_header)]
    headers: Vec<(String, String)>,
    /// Write every record to this partition instead of letting the
    /// partitioner choose.
    #[arg(long, short = 'p', value_parser = clap::value_parser!(i32).range(0..))]
    partition: Option<i32>,
    /// Replicas that must have a record before it counts as written.
    #[arg(long, value_enum, default_value_t = AcksArg::All)]
    acks: AcksArg,
    /// Batch compression.
    #[arg(long, value_enum, default_value_t = CompressionArg::Lz4)]
    compression: CompressionArg,
    /// How long a batch waits for more records before it is sent.
    #[arg(long, default_value_t = 5, value_name = "MS")]
    linger_ms: u64,
    /// Largest batch per partition, in bytes.
    #[arg(long, default_value_t = 16_384, value_name = "BYTES")]
    batch_size: usize,
    #[command(flatten)]
    cluster: ClusterArgs,
}

impl ProduceArgs {
    fn producer_config(&self) -> ProducerConfig {
        let mut config = ProducerConfig::new(self.cluster.bootstrap_server.clone());
        config.client = self.cluster.client_config();
        config.acks = self.acks.into();
        // Idempotence needs acks=all; like the Java client, asking for less
        // turns it off rather than failing.
        config.enable_idempotence = config.acks == Acks::All;
        config.compression_type = self.compression.name().to_owned();
        config.linger_ms = self.linger_ms;
        config.batch_size = self.batch_size;
        config.max_block_ms = self.cluster.timeout_ms;
        config
    }
}

/// Parses `KEY=VALUE` for `--header`.
fn parse_header(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got `{text}`")),
    }
}

/// What one input line becomes: an optional key and the value.
fn split_line<'a>(
    line: &'a [u8],
    separator: Option<&[u8]>,
) -> Option<(Option<&'a [u8]>, &'a [u8])> {
    let Some(separator) = separator else {
        return Some((None, line));
    };
    let at = line
        .windows(separator.len())
        .position(|window| window == separator)?;
    Some((Some(&line[..at]), &line[at + separator.len()..]))
}

/// The line without its `\n` or `\r\n` terminator.
fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Runs `sluice produce`.
///
/// # Errors
/// An unreachable cluster, an unknown topic or partition, unreadable input, a
/// line without the key separator, or a record the cluster did not accept.
pub fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let (input, total_bytes) = open_input(args.file.as_ref())?;
    session::block_on(async move {
        let mut stop = StopSignal::watch()?;
        let producer = Producer::connect(args.producer_config())
            .await
            .with_context(|| {
                format!(
                    "cannot reach the cluster at {}",
                    args.cluster.bootstrap_server
                )
            })?;
        check_destination(&producer, &args.topic, args.partition).await?;
        let progress = progress_bar(total_bytes);
        let result = send_lines(&producer, &args, input, &progress, &mut stop).await;
        progress.finish_and_clear();
        producer.close().await;
        let summary = result?;
        output::to_stdout(|out| summary.write_to(out, &args.topic))
    })
}

fn open_input(file: Option<&PathBuf>) -> anyhow::Result<(Box<dyn BufRead + Send>, Option<u64>)> {
    match file {
        None => Ok((Box::new(BufReader::new(io::stdin())), None)),
        Some(path) => {
            let file =
                File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            let size = file.metadata().ok().map(|m| m.len());
            Ok((Box::new(BufReader::new(file)), size))
        }
    }
}

/// Creates the topic on first use when the broker allows it, and fails fast
/// with one clear line when the topic or partition is not there, instead of
/// waiting `max.block.ms` for metadata that never comes.
async fn check_destination(
    producer: &Producer,
    topic: &str,
    partition: Option<i32>,
) -> anyhow::Result<()> {
    let found = session::topic_created_on_use(producer.client(), topic).await?;
    if let Some(partition) = partition
        && found.partition(partition).is_none()
    {
        bail!(
            "topic {topic} has no partition {partition} (it has {})",
            found.partitions.len()
        );
    }
    Ok(())
}

/// A progress display on stderr when it is a terminal, hidden otherwise.
fn progress_bar(total_bytes: Option<u64>) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match total_bytes {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {msg} ({bytes_per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {bytes} {msg} ({bytes_per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.enable_steady_tick(PROGRESS_TICK);
    bar
}

/// What was written, for the closing summary.
#[derive(Debug, Default)]
struct Summary {
    records: u64,
    bytes: u64,
    per_partition: BTreeMap<i32, u64>,
    elapsed: Duration,
}

impl Summary {
    fn write_to(&self, out: &mut dyn Write, topic: &str) -> io::Result<()> {
        let seconds = self.elapsed.as_secs_f64();
        let rate = if seconds > 0.0 {
            self.records as f64 / seconds
        } else {
            0.0
        };
        writeln!(
            out,
            "Produced {} records ({} bytes) to {topic} in {seconds:.2}s ({rate:.0} records/s)",
            self.records, self.bytes
        )?;
        let partitions: Vec<String> = self
            .per_partition
            .iter()
            .map(|(partition, count)| format!("{partition}: {count}"))
            .collect();
        if !partitions.is_empty() {
            writeln!(out, "Records per partition: {}", partitions.join(", "))?;
        }
        Ok(())
    }
}

/// Lines read ahead of the producer; bounds memory while keeping the
/// reader thread busy.
const LINES_READ_AHEAD: usize = 4_096;

/// Reads `input` line by line on its own thread, so a stop signal is seen
/// even while stdin is silent; the channel closes at the end of the input.
fn spawn_line_reader(
    mut input: Box<dyn BufRead + Send>,
) -> anyhow::Result<tokio::sync::mpsc::Receiver<io::Result<Vec<u8>>>> {
    let (lines, received) = tokio::sync::mpsc::channel(LINES_READ_AHEAD);
    std::thread::Builder::new()
        .name("produce-input".to_owned())
        .spawn(move || {
            loop {
                let mut line = Vec::new();
                let result = match input.read_until(b'\n', &mut line) {
                    Ok(0) => return,
                    Ok(_) => Ok(line),
                    Err(error) => Err(error),
                };
                let failed = result.is_err();
                if lines.blocking_send(result).is_err() || failed {
                    return;
                }
            }
        })
        .context("cannot start the input reader thread")?;
    Ok(received)
}

async fn send_lines(
    producer: &Producer,
    args: &ProduceArgs,
    input: Box<dyn BufRead + Send>,
    progress: &ProgressBar,
    stop: &mut StopSignal,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let separator = args.key_separator.as_deref().map(str::as_bytes);
    let mut summary = Summary::default();
    let mut pending: VecDeque<DeliveryFuture> = VecDeque::new();
    let mut lines = spawn_line_reader(input)?;
    let mut line_number = 0_u64;
    loop {
        // A stop signal ends the input here: what was read is still sent.
        let next = tokio::select! {
            biased;
            () = stop.raised() => None,
            next = lines.recv() => next,
        };
        let Some(line) = next else {
            break;
        };
        let line = line.context("cannot read the input")?;
        line_number += 1;
        progress.inc(line.len() as u64);
        let Some((key, value)) = split_line(trim_line_end(&line), separator) else {
            bail!(
                "line {line_number} has no key separator `{}`",
                args.key_separator.as_deref().unwrap_or_default()
            );
        };
        summary.bytes += (key.map_or(0, <[u8]>::len) + value.len()) as u64;
        let record = build_record(args, key, value);
        pending.push_back(producer.enqueue(record).await?);
        if pending.len() >= MAX_PENDING_DELIVERIES {
            settle_oldest(&mut pending, &mut summary).await?;
        }
    }
    while !pending.is_empty() {
        settle_oldest(&mut pending, &mut summary).await?;
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

fn build_record(args: &ProduceArgs, key: Option<&[u8]>, value: &[u8]) -> ProducerRecord {
    let mut record = ProducerRecord::new(args.topic.clone(), value.to_vec());
    if let Some(key) = key {
        record = record.with_key(key.to_vec());
    }
    if let Some(partition) = args.partition {
        record = record.with_partition(partition);
    }
    for (key, value) in &args.headers {
        record = record.with_header(key.clone(), Some(value.clone().into_bytes().into()));
    }
    record
}

async fn settle_oldest(
    pending: &mut VecDeque<DeliveryFuture>,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    if let Some(delivery) = pending.pop_front() {
        let written = delivery
            .await
            .with_context(|| format!("a record was not written ({} were)", summary.records))?;
        summary.records += 1;
        *summary.per_partition.entry(written.partition).or_default() += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_separator_the_whole_line_is_the_value() {
        assert_eq!(split_line(b"a:b", None), Some((None, &b"a:b"[..])));
    }

    #[test]
    fn separator_splits_at_its_first_occurrence() {
        assert_eq!(
            split_line(b"user::x::y", Some(b"::")),
            Some((Some(&b"user"[..]), &b"x::y"[..]))
        );
    }

    #[test]
    fn line_without_the_separator_is_rejected() {
        assert_eq!(split_line(b"novalue", Some(b":")), None);
    }

    #[test]
    fn line_terminators_are_trimmed() {
        assert_eq!(trim_line_end(b"x\r\n"), b"x");
        assert_eq!(trim_line_end(b"x\n"), b"x");
        assert_eq!(trim_line_end(b"x"), b"x");
    }

    #[test]
    fn header_flag_needs_a_key() {
        assert_eq!(
            parse_header("a=b=c"),
            Ok(("a".to_owned(), "b=c".to_owned()))
        );
        assert!(parse_header("=x").is_err());
    }
}

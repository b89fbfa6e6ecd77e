//! `sluice consume TOPIC`: read records with the Sluice consumer and print
//! one line each, as a template or JSON lines, until `--max-messages`,
//! `--idle-timeout-ms`, Ctrl-C or SIGTERM (both leave the group cleanly and
//! exit 0).
//!
//! With `--group` the offsets of printed records (and only those) are
//! committed, so stopping at `--max-messages` never skips a record.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use sluice_client::{Admin, OffsetSpec, TopicMetadata};
use sluice_consumer::{AutoOffsetReset, Consumer, ConsumerConfig, ConsumerRecord, TopicPartition};

use crate::record_format::{RecordFormat, RecordView};
use crate::session::{self, ClusterArgs, StopSignal};

/// Longest single `poll`, so Ctrl-C and the idle timeout are noticed promptly.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// How often offsets of printed records are committed while consuming.
const COMMIT_INTERVAL: Duration = Duration::from_secs(5);

/// Flags of `sluice consume`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sluice consume events --from-beginning
  sluice consume events --group billing --max-messages 10
  sluice consume events --partition 0 --offset 42 --format '{offset} {key}={value}'
  sluice consume events --from-beginning --format json --idle-timeout-ms 2000

Template fields: {topic} {partition} {offset} {timestamp} {key} {value} {headers}")]
pub struct ConsumeArgs {
    /// Topic to read.
    topic: String,
    /// Consume as a member of this group (partitions are assigned by the
    /// group and printed records' offsets are committed).
    #[arg(long, short = 'g', value_name = "GROUP")]
    group: Option<String>,
    /// Without a committed offset, start at the log start (default: only
    /// records written from now on).
    #[arg(long)]
    from_beginning: bool,
    /// Start here: an offset, `earliest` or `latest` (needs `--partition`
    /// when used with `--group`).
    #[arg(long, value_name = "OFFSET", value_parser = parse_start, allow_hyphen_values = true)]
    offset: Option<StartOffset>,
    /// Read only these partitions; repeat for several.
    #[arg(long = "partition", short = 'p', value_name = "N", value_parser = clap::value_parser!(i32).range(0..))]
    partitions: Vec<i32>,
    /// Exit after printing this many records.
    #[arg(long, short = 'n', value_name = "N")]
    max_messages: Option<u64>,
    /// Exit when no record arrives for this long.
    #[arg(long, value_name = "MS")]
    idle_timeout_ms: Option<u64>,
    /// `json` for JSON lines, or a template such as `{key}={value}`.
    #[arg(long, value_name = "TEMPLATE|json", default_value = "{value}")]
    format: RecordFormat,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// Where `--offset` starts each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartOffset {
    Earliest,
    Latest,
    At(i64),
}

fn parse_start(text: &str) -> Result<StartOffset, String> {
    match text {
        "earliest" => Ok(StartOffset::Earliest),
        "latest" => Ok(StartOffset::Latest),
        number => match number.parse::<i64>() {
            Ok(offset) if offset >= 0 => Ok(StartOffset::At(offset)),
            _ => Err(format!(
                "expected an offset, `earliest` or `latest`, got `{text}`"
            )),
        },
    }
}

impl ConsumeArgs {
    fn consumer_config(&self) -> ConsumerConfig {
        let mut config =
            ConsumerConfig::new(self.cluster.bootstrap_server.clone(), self.group.as_deref());
        config.client = self.cluster.client_config();
        config.auto_offset_reset = if self.from_beginning {
            AutoOffsetReset::Earliest
        } else {
            AutoOffsetReset::Latest
        };
        // Commits are made here, for printed records only.
        config.enable_auto_commit = false;
        config
    }

    /// Whether the group assigns partitions (subscribe) or we pick them (assign).
    fn subscribes(&self) -> bool {
        self.group.is_some() && self.partitions.is_empty()
    }
}

/// Runs `sluice consume`.
///
/// # Errors
/// An unreachable cluster, an unknown topic or partition, a bad flag
/// combination, or a consumer failure.
pub fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    if args.offset.is_some() && args.subscribes() {
        bail!("--offset needs --partition when used with --group");
    }
    session::block_on(async move {
        let stop = StopSignal::watch()?;
        let admin = args.cluster.connect_admin().await?;
        let topic = session::topic_created_on_use(admin.client(), &args.topic).await?;
        let partitions = chosen_partitions(&topic, &args.partitions)?;
        let mut consumer = Consumer::connect(args.consumer_config())
            .await
            .with_context(|| {
                format!(
                    "cannot reach the cluster at {}",
                    args.cluster.bootstrap_server
                )
            })?;
        if args.subscribes() {
            consumer.subscribe(&[args.topic.as_str()])?;
        } else {
            consumer.assign(&partitions);
            if let Some(start) = args.offset {
                seek_all(&admin, &mut consumer, &partitions, start).await?;
            }
        }
        let result = consume(&mut consumer, &args, &stop).await;
        consumer.close().await;
        let printed = result?;
        if io::stderr().is_terminal() {
            let mut stderr = io::stderr();
            let _ = writeln!(stderr, "Processed a total of {printed} messages");
        }
        Ok(())
    })
}

/// The partitions asked for (checked against the topic), or all of them.
fn chosen_partitions(topic: &TopicMetadata, wanted: &[i32]) -> anyhow::Result<Vec<TopicPartition>> {
    if let Some(missing) = wanted.iter().find(|p| topic.partition(**p).is_none()) {
        bail!(
            "topic {} has no partition {missing} (it has {})",
            topic.name,
            topic.partitions.len()
        );
    }
    let mut indexes: Vec<i32> = if wanted.is_empty() {
        topic.partitions.iter().map(|p| p.partition).collect()
    } else {
        wanted.to_vec()
    };
    indexes.sort_unstable();
    indexes.dedup();
    Ok(indexes
        .into_iter()
        .map(|p| TopicPartition::new(topic.name.as_str(), p))
        .collect())
}

async fn seek_all(
    admin: &Admin,
    consumer: &mut Consumer,
    partitions: &[TopicPartition],
    start: StartOffset,
) -> anyhow::Result<()> {
    let spec = match start {
        StartOffset::At(offset) => {
            for partition in partitions {
                consumer.seek(partition, offset)?;
            }
            return Ok(());
        }
        StartOffset::Earliest => OffsetSpec::Earliest,
        StartOffset::Latest => OffsetSpec::Latest,
    };
    let keys: Vec<(String, i32)> = partitions
        .iter()
        .map(|tp| (tp.topic.to_string(), tp.partition))
        .collect();
    for listed in admin.list_offsets(&keys, spec).await? {
        if let Some(error) = listed.error {
            bail!(
                "cannot find the start of {}-{}: {}",
                listed.topic,
                listed.partition,
                error.code
            );
        }
        consumer.seek(
            &TopicPartition::new(listed.topic, listed.partition),
            listed.offset,
        )?;
    }
    Ok(())
}

/// Polls and prints until a stop condition; returns how many records were printed.
async fn consume(
    consumer: &mut Consumer,
    args: &ConsumeArgs,
    stop: &StopSignal,
) -> anyhow::Result<u64> {
    let mut printer = Printer::new(&args.format, args.max_messages);
    let idle_timeout = args.idle_timeout_ms.map(Duration::from_millis);
    // Since when polls have come back empty while partitions were assigned.
    // Joining a group can take seconds, so time without an assignment (or
    // inside the poll that joined) does not count as idle.
    let mut idle_since: Option<Instant> = None;
    let mut last_commit = Instant::now();
    while !stop.is_raised() && !printer.is_done() {
        let records = consumer.poll(POLL_INTERVAL).await?;
        if records.is_empty() {
            if consumer.assignment().is_empty() {
                idle_since = None;
                continue;
            }
            let since = *idle_since.get_or_insert_with(Instant::now);
            if idle_timeout.is_some_and(|idle| since.elapsed() >= idle) {
                break;
            }
            continue;
        }
        idle_since = None;
        if !printer.print(&records)? {
            break;
        }
        if args.group.is_some() && last_commit.elapsed() >= COMMIT_INTERVAL {
            commit(consumer, &mut printer).await;
            last_commit = Instant::now();
        }
    }
    if args.group.is_some() {
        commit(consumer, &mut printer).await;
    }
    Ok(printer.printed)
}

/// Commits the next offset after each printed record; a failure (say, the
/// group rebalanced) is logged, as the records will be redelivered.
async fn commit(consumer: &Consumer, printer: &mut Printer<'_>) {
    let offsets: Vec<(TopicPartition, i64)> = std::mem::take(&mut printer.next_offsets)
        .into_iter()
        .collect();
    if offsets.is_empty() {
        return;
    }
    if let Err(error) = consumer.commit_offsets_sync(&offsets).await {
        tracing::warn!(%error, "cannot commit the offsets of printed records");
    }
}

/// Writes records to stdout and remembers what to commit.
struct Printer<'a> {
    format: &'a RecordFormat,
    remaining: Option<u64>,
    printed: u64,
    next_offsets: BTreeMap<TopicPartition, i64>,
    out: io::BufWriter<io::Stdout>,
}

impl<'a> Printer<'a> {
    fn new(format: &'a RecordFormat, max_messages: Option<u64>) -> Self {
        Printer {
            format,
            remaining: max_messages,
            printed: 0,
            next_offsets: BTreeMap::new(),
            out: io::BufWriter::new(io::stdout()),
        }
    }

    fn is_done(&self) -> bool {
        self.remaining == Some(0)
    }

    /// Prints up to the remaining budget; `false` when stdout was closed
    /// (`sluice consume ... | head`), which ends consuming quietly.
    fn print(&mut self, records: &[ConsumerRecord]) -> anyhow::Result<bool> {
        for record in records {
            if self.is_done() {
                break;
            }
            let headers: Vec<(Vec<u8>, Option<Vec<u8>>)> = record
                .headers
                .iter()
                .map(|h| (h.key.to_vec(), h.value.map(|v| v.to_vec())))
                .collect();
            let line = self.format.render(&view(record, &headers));
            if !write_or_closed(writeln!(self.out, "{line}"))? {
                return Ok(false);
            }
            self.printed += 1;
            self.remaining = self.remaining.map(|n| n.saturating_sub(1));
            self.next_offsets
                .insert(record.partition.clone(), record.offset + 1);
        }
        write_or_closed(self.out.flush())
    }
}

fn view<'r>(
    record: &'r ConsumerRecord,
    headers: &'r [(Vec<u8>, Option<Vec<u8>>)],
) -> RecordView<'r> {
    RecordView {
        topic: record.topic(),
        partition: record.partition.partition,
        offset: record.offset,
        timestamp_ms: record.timestamp_ms,
        key: record.key.as_deref(),
        value: record.value.as_deref(),
        headers,
    }
}

/// `Ok(false)` for a closed pipe, the error for anything else.
fn write_or_closed(result: io::Result<()>) -> anyhow::Result<bool> {
    match result {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(error) => Err(error).context("cannot write to stdout"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_offset_accepts_numbers_and_the_two_names() {
        assert_eq!(parse_start("42"), Ok(StartOffset::At(42)));
        assert_eq!(parse_start("earliest"), Ok(StartOffset::Earliest));
        assert_eq!(parse_start("latest"), Ok(StartOffset::Latest));
    }

    #[test]
    fn start_offset_rejects_negative_and_other_text() {
        assert!(parse_start("-1").is_err());
        assert!(parse_start("first").is_err());
    }
}

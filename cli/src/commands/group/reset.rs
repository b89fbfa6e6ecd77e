//! `sluice group reset-offsets`: like `kafka-consumer-groups --reset-offsets`,
//! it plans by default (a dry run that prints each partition's current and
//! new offset) and commits only with `--execute`. Either way a group with
//! active members is refused, because they would overwrite the reset with
//! their next commit.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::bail;
use clap::{ArgGroup, Args};
use sluice_client::{
    Admin, ClientError, ListedOffset, OffsetReset, OffsetSpec, PartitionOffsets, reset_target,
};

use crate::output::{self, Table, or_dash};

/// Group states in which offsets may be reset (no members to overwrite them).
const INACTIVE_STATES: [&str; 2] = ["Empty", "Dead"];

/// Flags of `sluice group reset-offsets`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("scope").required(true).args(["topics", "all_topics"])))]
#[command(group(
    ArgGroup::new("target")
        .required(true)
        .args(["to_earliest", "to_latest", "to_offset", "shift_by", "to_datetime", "by_duration"])
))]
pub(super) struct ResetArgs {
    /// The group whose offsets move.
    group: String,
    /// A topic to reset (every partition of it); repeat for several.
    #[arg(long = "topic", short = 't', value_name = "TOPIC")]
    topics: Vec<String>,
    /// Reset every topic the group has committed offsets for.
    #[arg(long)]
    all_topics: bool,
    /// To the log start offset.
    #[arg(long)]
    to_earliest: bool,
    /// To the log end offset.
    #[arg(long)]
    to_latest: bool,
    /// To this offset (clamped into each partition's range).
    #[arg(long, value_name = "OFFSET")]
    to_offset: Option<i64>,
    /// Move each committed offset by N (negative goes back).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    shift_by: Option<i64>,
    /// To the first record at or after this time: RFC 3339
    /// (`2026-01-31T12:00:00Z`, UTC when no zone is given) or milliseconds
    /// since the epoch.
    #[arg(long, value_name = "DATETIME", value_parser = parse_datetime_ms)]
    to_datetime: Option<i64>,
    /// To the first record at or after this long ago: ISO 8601 as Kafka
    /// takes it (`PT1H30M`, `P1DT12H`) or `1h30m`, `2days`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    by_duration: Option<Duration>,
    /// Commit the new offsets. Without it nothing changes: the plan is printed.
    #[arg(long, conflicts_with = "dry_run")]
    execute: bool,
    /// Only print the plan (the default; accepted for scripts written for Kafka).
    #[arg(long)]
    dry_run: bool,
}

impl ResetArgs {
    fn reset(&self) -> anyhow::Result<OffsetReset> {
        Ok(if let Some(offset) = self.to_offset {
            OffsetReset::Offset(offset)
        } else if let Some(delta) = self.shift_by {
            OffsetReset::ShiftBy(delta)
        } else if let Some(timestamp_ms) = self.to_datetime {
            OffsetReset::Timestamp(timestamp_ms)
        } else if let Some(ago) = self.by_duration {
            OffsetReset::Timestamp(timestamp_before_now_ms(ago)?)
        } else if self.to_latest {
            OffsetReset::Latest
        } else {
            OffsetReset::Earliest
        })
    }
}

/// One partition's line of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PlannedOffset {
    topic: String,
    partition: i32,
    current: Option<i64>,
    new: i64,
}

/// Runs `sluice group reset-offsets`.
///
/// # Errors
/// An active group, an unknown topic, or the broker refusing.
pub(super) async fn reset_offsets(admin: &Admin, args: &ResetArgs) -> anyhow::Result<()> {
    let reset = args.reset()?;
    ensure_group_is_inactive(admin, &args.group).await?;
    let committed = committed_offsets(admin, &args.group).await?;
    let topics = if args.all_topics {
        let mut topics: Vec<String> = committed.keys().map(|(topic, _)| topic.clone()).collect();
        topics.dedup();
        topics
    } else {
        args.topics.clone()
    };
    if topics.is_empty() {
        bail!("group {} has no committed offsets to reset", args.group);
    }
    let mut plan = plan_reset(admin, &topics, reset, &committed).await?;
    if args.execute {
        execute(admin, &args.group, &topics, reset, &mut plan).await?;
    }
    output::to_stdout(|out| {
        if !args.execute {
            writeln!(
                out,
                "Dry run: nothing was changed. Re-run with --execute to commit these offsets."
            )?;
        }
        plan_table(&args.group, &plan).write_to(out)
    })
}

/// Refuses, as Kafka does, to reset (or plan for) a group with members.
async fn ensure_group_is_inactive(admin: &Admin, group: &str) -> anyhow::Result<()> {
    let described = admin.describe_groups(&[group.to_owned()]).await?;
    let Some(description) = described.into_iter().next() else {
        return Ok(());
    };
    if let Some(error) = description.error {
        bail!("cannot describe group {group}: {}", error.code);
    }
    if !INACTIVE_STATES.contains(&description.state.as_str()) {
        bail!(
            "Assignments can only be reset if the group '{group}' is inactive, but the current state is {}.",
            description.state
        );
    }
    Ok(())
}

/// The group's committed offsets by partition (`None`: never committed).
async fn committed_offsets(
    admin: &Admin,
    group: &str,
) -> anyhow::Result<BTreeMap<(String, i32), Option<i64>>> {
    Ok(admin
        .group_offsets(group)
        .await?
        .into_iter()
        .map(|offset| ((offset.topic, offset.partition), offset.committed_offset))
        .collect())
}

/// What a reset would commit on every partition of `topics`: the same
/// lookups and arithmetic ([`reset_target`]) as `Admin::reset_group_offsets`,
/// without the commit.
async fn plan_reset(
    admin: &Admin,
    topics: &[String],
    reset: OffsetReset,
    committed: &BTreeMap<(String, i32), Option<i64>>,
) -> anyhow::Result<Vec<PlannedOffset>> {
    let partitions = partitions_of(admin, topics).await?;
    let earliest = listed(admin, &partitions, OffsetSpec::Earliest).await?;
    let latest = listed(admin, &partitions, OffsetSpec::Latest).await?;
    let at_timestamp = match reset {
        OffsetReset::Timestamp(timestamp_ms) => {
            listed(admin, &partitions, OffsetSpec::Timestamp(timestamp_ms)).await?
        }
        _ => BTreeMap::new(),
    };
    let mut plan = Vec::with_capacity(partitions.len());
    for key in partitions {
        let (Some(&earliest), Some(&latest)) = (earliest.get(&key), latest.get(&key)) else {
            return Err(ClientError::UnknownPartition {
                topic: key.0,
                partition: key.1,
            }
            .into());
        };
        let current = committed.get(&key).copied().flatten();
        let offsets = PartitionOffsets {
            earliest,
            latest,
            committed: current,
            at_timestamp: at_timestamp.get(&key).copied(),
        };
        plan.push(PlannedOffset {
            topic: key.0,
            partition: key.1,
            current,
            new: reset_target(reset, offsets),
        });
    }
    Ok(plan)
}

/// Commits the reset and records in `plan` the offsets actually committed
/// (the log may have moved since the plan was made).
async fn execute(
    admin: &Admin,
    group: &str,
    topics: &[String],
    reset: OffsetReset,
    plan: &mut [PlannedOffset],
) -> anyhow::Result<()> {
    let results = admin.reset_group_offsets(group, topics, reset).await?;
    if let Some(failed) = results.iter().find(|r| r.error.is_some()) {
        let code = failed.error.as_ref().map(|e| e.code.to_string());
        bail!(
            "cannot reset {}-{}: {}",
            failed.topic,
            failed.partition,
            code.unwrap_or_default()
        );
    }
    for line in plan.iter_mut() {
        if let Some(result) = results
            .iter()
            .find(|r| r.topic == line.topic && r.partition == line.partition)
        {
            line.new = result.offset;
        }
    }
    Ok(())
}

/// Every partition of `topics`, failing on a topic the cluster does not know.
async fn partitions_of(admin: &Admin, topics: &[String]) -> anyhow::Result<Vec<(String, i32)>> {
    let metadata = admin.client().refresh_metadata(Some(topics)).await?;
    let mut partitions = Vec::new();
    for topic in metadata.topics {
        if topic.error != sluice_protocol::ErrorCode::None {
            return Err(ClientError::broker(topic.error, Some(topic.name)).into());
        }
        partitions.extend(
            topic
                .partitions
                .iter()
                .map(|p| (topic.name.clone(), p.partition)),
        );
    }
    partitions.sort();
    Ok(partitions)
}

/// ListOffsets answers by partition, failing on the first partition error.
async fn listed(
    admin: &Admin,
    partitions: &[(String, i32)],
    spec: OffsetSpec,
) -> anyhow::Result<BTreeMap<(String, i32), i64>> {
    let mut offsets = BTreeMap::new();
    for ListedOffset {
        topic,
        partition,
        offset,
        error,
        ..
    } in admin.list_offsets(partitions, spec).await?
    {
        if let Some(error) = error {
            return Err(
                ClientError::broker(error.code, Some(format!("{topic}-{partition}"))).into(),
            );
        }
        offsets.insert((topic, partition), offset);
    }
    Ok(offsets)
}

fn plan_table(group: &str, plan: &[PlannedOffset]) -> Table {
    let mut table = Table::new(&[
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "NEW-OFFSET",
    ]);
    for line in plan {
        table.push(vec![
            group.to_owned(),
            line.topic.clone(),
            line.partition.to_string(),
            or_dash(line.current),
            line.new.to_string(),
        ]);
    }
    table
}

/// Parses `--to-datetime`: milliseconds since the epoch, or RFC 3339.
fn parse_datetime_ms(text: &str) -> Result<i64, String> {
    if let Ok(millis) = text.parse::<i64>() {
        return Ok(millis);
    }
    let time = humantime::parse_rfc3339_weak(text.trim_end_matches('Z'))
        .map_err(|error| format!("`{text}` is not RFC 3339 or epoch milliseconds: {error}"))?;
    let since_epoch = time
        .duration_since(UNIX_EPOCH)
        .map_err(|_| format!("`{text}` is before 1970"))?;
    i64::try_from(since_epoch.as_millis()).map_err(|_| format!("`{text}` is too far ahead"))
}

/// Parses `--by-duration`: ISO 8601 days and time (`P1DT2H3M4S`, as Kafka's
/// tool takes it) or a humantime span (`1h30m`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    match text.strip_prefix(['P', 'p']) {
        Some(iso) => parse_iso8601_duration(iso)
            .ok_or_else(|| format!("`{text}` is not an ISO 8601 duration such as PT1H30M")),
        None => humantime::parse_duration(text).map_err(|error| format!("`{text}`: {error}")),
    }
}

/// The part of an ISO 8601 duration after `P`: `nD` then `T` with `nH`,
/// `nM`, `nS` (whole numbers), as `java.time.Duration` parses it.
fn parse_iso8601_duration(text: &str) -> Option<Duration> {
    let (days, time) = match text.split_once(['T', 't']) {
        Some((days, time)) => (days, Some(time)),
        None => (text, None),
    };
    let mut seconds = match days {
        "" => 0,
        days => days
            .strip_suffix(['D', 'd'])?
            .parse::<u64>()
            .ok()?
            .checked_mul(86_400)?,
    };
    let mut rest = time.unwrap_or("");
    if time == Some("") || (time.is_none() && days.is_empty()) {
        return None;
    }
    for (unit, scale) in [('H', 3_600_u64), ('M', 60), ('S', 1)] {
        if let Some((number, after)) = rest.split_once([unit, unit.to_ascii_lowercase()]) {
            seconds = seconds.checked_add(number.parse::<u64>().ok()?.checked_mul(scale)?)?;
            rest = after;
        }
    }
    rest.is_empty().then(|| Duration::from_secs(seconds))
}

/// Now minus `ago`, in milliseconds since the epoch.
fn timestamp_before_now_ms(ago: Duration) -> anyhow::Result<i64> {
    let Some(then) = SystemTime::now().checked_sub(ago) else {
        bail!("--by-duration {ago:?} reaches before the clock's range");
    };
    let since_epoch = then.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    Ok(i64::try_from(since_epoch.as_millis())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_accepts_epoch_milliseconds() {
        assert_eq!(parse_datetime_ms("1700000000000"), Ok(1_700_000_000_000));
    }

    #[test]
    fn datetime_accepts_rfc3339_in_utc() {
        assert_eq!(parse_datetime_ms("1970-01-01T00:00:01Z"), Ok(1000));
        assert_eq!(parse_datetime_ms("1970-01-01T00:00:02"), Ok(2000));
    }

    #[test]
    fn datetime_rejects_other_text() {
        assert!(parse_datetime_ms("yesterday").is_err());
    }

    #[test]
    fn duration_accepts_kafkas_iso8601_form() {
        assert_eq!(parse_duration("PT1H30M"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("P1DT2S"), Ok(Duration::from_secs(86_402)));
        assert_eq!(parse_duration("P2D"), Ok(Duration::from_secs(172_800)));
    }

    #[test]
    fn duration_accepts_humantime_spans() {
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
    }

    #[test]
    fn duration_rejects_malformed_iso8601() {
        for text in ["P", "PT", "PT1X", "P1H", "PTH"] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
    }
}

//! `sluice topic`: create, list, describe, alter and delete topics through the
//! admin API, printing what `kafka-topics` prints.

use std::collections::BTreeMap;
use std::io::{self, Write};

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use sluice_client::{
    Admin, AlterConfigOp, ClientError, ConfigSource, NewTopic, PartitionMetadata, ResourceError,
    TopicMetadata,
};
use sluice_protocol::ErrorCode;

use crate::output;
use crate::session::{self, ClusterArgs};

/// Flags of `sluice topic`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sluice topic create events --partitions 6 --config retention.ms=86400000
  sluice topic list
  sluice topic describe events
  sluice topic alter events --partitions 12 --config cleanup.policy=compact
  sluice topic delete events")]
pub struct TopicArgs {
    #[command(subcommand)]
    command: TopicCommand,
    #[command(flatten)]
    cluster: ClusterArgs,
}

#[derive(Debug, Subcommand)]
enum TopicCommand {
    /// Create a topic.
    #[command(after_help = "Examples:
  sluice topic create events
  sluice topic create events --partitions 6 --replication-factor 3
  sluice topic create audit --config retention.ms=-1 --config cleanup.policy=compact")]
    Create(CreateArgs),
    /// List topic names, one per line.
    #[command(after_help = "Examples:
  sluice topic list
  sluice topic list --exclude-internal")]
    List(ListArgs),
    /// Show partitions (leader, replicas, ISR) and topic configs.
    #[command(after_help = "Examples:
  sluice topic describe events
  sluice topic describe            # every topic")]
    Describe(DescribeArgs),
    /// Add partitions or change topic configs.
    #[command(after_help = "Examples:
  sluice topic alter events --partitions 12
  sluice topic alter events --config retention.ms=3600000 --delete-config segment.bytes")]
    Alter(AlterArgs),
    /// Delete topics and all their records.
    #[command(after_help = "Examples:
  sluice topic delete events
  sluice topic delete old-1 old-2 --if-exists")]
    Delete(DeleteArgs),
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// Topic name.
    topic: String,
    /// Partition count (default: the broker's `num.partitions`).
    #[arg(long, short = 'p', value_parser = clap::value_parser!(i32).range(1..))]
    partitions: Option<i32>,
    /// Replicas per partition (default: the broker's `default.replication.factor`).
    #[arg(long, short = 'r', value_parser = clap::value_parser!(i16).range(1..))]
    replication_factor: Option<i16>,
    /// A topic config `NAME=VALUE`; repeat for several.
    #[arg(long = "config", short = 'c', value_name = "NAME=VALUE", value_parser = parse_config)]
    configs: Vec<(String, String)>,
    /// Succeed without change when the topic already exists.
    #[arg(long)]
    if_not_exists: bool,
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Leave out internal topics such as `__consumer_offsets`.
    #[arg(long)]
    exclude_internal: bool,
}

#[derive(Debug, Args)]
struct DescribeArgs {
    /// Topics to describe (default: all).
    topics: Vec<String>,
    /// Leave out internal topics when describing all.
    #[arg(long)]
    exclude_internal: bool,
}

#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("change")
        .required(true)
        .multiple(true)
        .args(["partitions", "configs", "delete_configs"])
))]
struct AlterArgs {
    /// Topic name.
    topic: String,
    /// The new, larger, partition count.
    #[arg(long, short = 'p', value_parser = clap::value_parser!(i32).range(1..))]
    partitions: Option<i32>,
    /// Set a topic config `NAME=VALUE`; repeat for several.
    #[arg(long = "config", short = 'c', value_name = "NAME=VALUE", value_parser = parse_config)]
    configs: Vec<(String, String)>,
    /// Remove a topic config override so the broker default applies again.
    #[arg(long = "delete-config", value_name = "NAME")]
    delete_configs: Vec<String>,
}

#[derive(Debug, Args)]
struct DeleteArgs {
    /// Topics to delete.
    #[arg(required = true)]
    topics: Vec<String>,
    /// Succeed without change for topics that do not exist.
    #[arg(long)]
    if_exists: bool,
}

/// Runs `sluice topic ...`.
///
/// # Errors
/// An unreachable cluster, an unknown topic, or the broker refusing the change.
pub fn run(args: TopicArgs) -> anyhow::Result<()> {
    session::block_on(async move {
        let admin = args.cluster.connect_admin().await?;
        match args.command {
            TopicCommand::Create(create) => create_topic(&admin, create).await,
            TopicCommand::List(list) => list_topics(&admin, &list).await,
            TopicCommand::Describe(describe) => describe_topics(&admin, describe).await,
            TopicCommand::Alter(alter) => alter_topic(&admin, alter).await,
            TopicCommand::Delete(delete) => delete_topics(&admin, delete).await,
        }
    })
}

/// Parses `NAME=VALUE` for `--config`.
fn parse_config(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("expected NAME=VALUE, got `{text}`")),
    }
}

async fn create_topic(admin: &Admin, args: CreateArgs) -> anyhow::Result<()> {
    let topic = NewTopic {
        name: args.topic.clone(),
        partitions: args.partitions.unwrap_or(-1),
        replication_factor: args.replication_factor.unwrap_or(-1),
        configs: args.configs.into_iter().collect::<BTreeMap<_, _>>(),
    };
    let created = admin.create_topics(&[topic], false).await?;
    match created.into_iter().find_map(|t| t.error) {
        None => {}
        Some(error) if args.if_not_exists && error.code == ErrorCode::TopicAlreadyExists => {
            return Ok(());
        }
        Some(error) => bail!("cannot create topic {}: {}", args.topic, describe(&error)),
    }
    output::to_stdout(|out| writeln!(out, "Created topic {}.", args.topic))
}

async fn list_topics(admin: &Admin, args: &ListArgs) -> anyhow::Result<()> {
    let topics = admin.describe_topics(&[]).await?;
    let mut names: Vec<&str> = topics
        .iter()
        .filter(|t| !(args.exclude_internal && t.is_internal))
        .map(|t| t.name.as_str())
        .collect();
    names.sort_unstable();
    output::to_stdout(|out| names.iter().try_for_each(|name| writeln!(out, "{name}")))
}

async fn describe_topics(admin: &Admin, args: DescribeArgs) -> anyhow::Result<()> {
    let mut topics = admin.describe_topics(&args.topics).await?;
    if let Some(missing) = topics.iter().find(|t| t.error != ErrorCode::None) {
        bail!("{}", topic_error(&missing.name, missing.error));
    }
    if args.topics.is_empty() && args.exclude_internal {
        topics.retain(|t| !t.is_internal);
    }
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    let mut overrides = Vec::with_capacity(topics.len());
    for topic in &topics {
        overrides.push(topic_overrides(admin, &topic.name).await?);
    }
    output::to_stdout(|out| {
        topics
            .iter()
            .zip(&overrides)
            .try_for_each(|(topic, configs)| write_description(out, topic, configs))
    })
}

/// The configs set on the topic itself (not defaults), as `name=value`.
async fn topic_overrides(admin: &Admin, topic: &str) -> anyhow::Result<Vec<String>> {
    let entries = admin
        .describe_topic_config(topic)
        .await
        .with_context(|| format!("cannot read the configs of topic {topic}"))?;
    Ok(entries
        .into_iter()
        .filter(|e| e.source == ConfigSource::Topic)
        .map(|e| format!("{}={}", e.name, e.value.as_deref().unwrap_or("")))
        .collect())
}

/// Prints one topic like `kafka-topics --describe`: a summary line, then one
/// tab-indented line per partition.
fn write_description(
    out: &mut dyn Write,
    topic: &TopicMetadata,
    configs: &[String],
) -> io::Result<()> {
    let replication_factor = topic.partitions.first().map_or(0, |p| p.replicas.len());
    writeln!(
        out,
        "Topic: {}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}",
        topic.name,
        topic.topic_id,
        topic.partitions.len(),
        replication_factor,
        configs.join(",")
    )?;
    let mut partitions: Vec<&PartitionMetadata> = topic.partitions.iter().collect();
    partitions.sort_by_key(|p| p.partition);
    for partition in partitions {
        writeln!(
            out,
            "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}",
            topic.name,
            partition.partition,
            partition
                .leader_id
                .map_or_else(|| "none".to_owned(), |id| id.to_string()),
            join_ids(&partition.replicas),
            join_ids(&partition.isr)
        )?;
    }
    Ok(())
}

fn join_ids(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

async fn alter_topic(admin: &Admin, args: AlterArgs) -> anyhow::Result<()> {
    let topic = args.topic.as_str();
    let mut done = Vec::new();
    if let Some(partitions) = args.partitions {
        admin
            .create_partitions(topic, partitions, false)
            .await
            .map_err(|error| explain(topic, "cannot change the partition count", error))?;
        done.push(format!("Partition count of {topic} is now {partitions}."));
    }
    let changes: Vec<AlterConfigOp> = args
        .configs
        .into_iter()
        .map(|(name, value)| AlterConfigOp::Set { name, value })
        .chain(
            args.delete_configs
                .into_iter()
                .map(|name| AlterConfigOp::Delete { name }),
        )
        .collect();
    if !changes.is_empty() {
        admin
            .alter_topic_config(topic, &changes, false)
            .await
            .map_err(|error| explain(topic, "cannot change the configs", error))?;
        done.push(format!("Updated {} config(s) of {topic}.", changes.len()));
    }
    output::to_stdout(|out| done.iter().try_for_each(|line| writeln!(out, "{line}")))
}

/// Turns a failed change into one line, naming a missing topic plainly.
fn explain(topic: &str, action: &str, error: ClientError) -> anyhow::Error {
    match error.code() {
        Some(ErrorCode::UnknownTopicOrPartition) => {
            anyhow!("{}", topic_error(topic, ErrorCode::UnknownTopicOrPartition))
        }
        _ => anyhow::Error::new(error).context(format!("{action} of {topic}")),
    }
}

async fn delete_topics(admin: &Admin, args: DeleteArgs) -> anyhow::Result<()> {
    let outcomes = admin.delete_topics(&args.topics).await?;
    let mut deleted = Vec::new();
    for outcome in outcomes {
        match outcome.error {
            None => deleted.push(outcome.name),
            Some(error) if args.if_exists && error.code == ErrorCode::UnknownTopicOrPartition => {}
            Some(error) => bail!("cannot delete topic {}: {}", outcome.name, describe(&error)),
        }
    }
    output::to_stdout(|out| {
        deleted
            .iter()
            .try_for_each(|name| writeln!(out, "Deleted topic {name}."))
    })
}

/// A topic-level metadata error in words.
fn topic_error(topic: &str, code: ErrorCode) -> String {
    if code == ErrorCode::UnknownTopicOrPartition {
        format!("topic {topic} does not exist")
    } else {
        format!("topic {topic}: {code}")
    }
}

/// A broker's per-resource error: its message when it sent one, else the code.
fn describe(error: &ResourceError) -> String {
    match &error.message {
        Some(message) if !message.is_empty() => format!("{} ({message})", error.code),
        _ => error.code.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_flag_splits_at_the_first_equals_sign() {
        assert_eq!(
            parse_config("retention.ms=1=2"),
            Ok(("retention.ms".to_owned(), "1=2".to_owned()))
        );
    }

    #[test]
    fn config_flag_without_a_name_is_rejected() {
        assert!(parse_config("=5").is_err());
        assert!(parse_config("retention.ms").is_err());
    }

    #[test]
    fn description_lists_every_partition_in_kafka_layout() {
        let partition = |index: i32| PartitionMetadata {
            partition: index,
            leader_id: Some(1),
            leader_epoch: 0,
            replicas: vec![1, 2],
            isr: vec![1],
            offline_replicas: vec![],
            error: ErrorCode::None,
        };
        let topic = TopicMetadata {
            name: "events".to_owned(),
            topic_id: Default::default(),
            is_internal: false,
            partitions: vec![partition(1), partition(0)],
            error: ErrorCode::None,
        };
        let mut out = Vec::new();
        write_description(&mut out, &topic, &["retention.ms=5".to_owned()])
            .expect("writing to a Vec cannot fail");
        let text = String::from_utf8(out).expect("formatted from Strings");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "Topic: events\tTopicId: 00000000-0000-0000-0000-000000000000\tPartitionCount: 2\tReplicationFactor: 2\tConfigs: retention.ms=5",
                "\tTopic: events\tPartition: 0\tLeader: 1\tReplicas: 1,2\tIsr: 1",
                "\tTopic: events\tPartition: 1\tLeader: 1\tReplicas: 1,2\tIsr: 1",
            ]
        );
    }
}

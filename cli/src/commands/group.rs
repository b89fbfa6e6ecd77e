//! `sluice group`: list, describe (committed offset, log end and lag per
//! partition), reset offsets (plan, then `--execute`) and delete consumer
//! groups, printing what `kafka-consumer-groups` prints.

use std::io::{self, Write};

use anyhow::bail;
use clap::{ArgGroup, Args, Subcommand};

mod reset;
use sluice_client::{Admin, GroupDescription, GroupPartitionOffset};

use crate::output::{self, Table, or_dash};
use crate::session::{self, ClusterArgs};

/// The state DescribeGroups reports for a group that does not exist.
const DEAD_STATE: &str = "Dead";

/// Flags of `sluice group`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sluice group list
  sluice group describe billing
  sluice group reset-offsets billing --topic events --to-earliest
  sluice group reset-offsets billing --topic events --to-earliest --execute
  sluice group delete billing")]
pub struct GroupArgs {
    #[command(subcommand)]
    command: GroupCommand,
    #[command(flatten)]
    cluster: ClusterArgs,
}

#[derive(Debug, Subcommand)]
enum GroupCommand {
    /// List group ids, one per line.
    #[command(after_help = "Examples:
  sluice group list
  sluice group list --state")]
    List(ListArgs),
    /// Show each partition's committed offset, log end offset and lag.
    #[command(after_help = "Examples:
  sluice group describe billing
  sluice group describe billing --members
  sluice group describe billing audit --state")]
    Describe(DescribeArgs),
    /// Plan, or with --execute commit, new offsets for a group with no members.
    ///
    /// Without --execute (or with --dry-run) only prints each partition's
    /// current and new offset; nothing changes.
    #[command(after_help = "Examples:
  sluice group reset-offsets billing --topic events --to-earliest            # plan only
  sluice group reset-offsets billing --topic events --to-earliest --execute  # commit
  sluice group reset-offsets billing --all-topics --shift-by -100 --execute
  sluice group reset-offsets billing --topic events --to-datetime 2026-01-31T12:00:00Z
  sluice group reset-offsets billing --topic events --by-duration PT1H --execute")]
    ResetOffsets(reset::ResetArgs),
    /// Delete groups and their committed offsets (each must have no members).
    #[command(after_help = "Examples:
  sluice group delete billing
  sluice group delete old-1 old-2")]
    Delete(DeleteArgs),
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Also print each group's state.
    #[arg(long)]
    state: bool,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("view").args(["members", "state"])))]
struct DescribeArgs {
    /// Groups to describe.
    #[arg(required = true)]
    groups: Vec<String>,
    /// Show the members instead of the offsets.
    #[arg(long)]
    members: bool,
    /// Show the state, assignor and member count instead of the offsets.
    #[arg(long)]
    state: bool,
}

#[derive(Debug, Args)]
struct DeleteArgs {
    /// Groups to delete.
    #[arg(required = true)]
    groups: Vec<String>,
}

/// Runs `sluice group ...`.
///
/// # Errors
/// An unreachable cluster, an unknown group or topic, or the broker refusing.
pub fn run(args: GroupArgs) -> anyhow::Result<()> {
    session::block_on(async move {
        let admin = args.cluster.connect_admin().await?;
        match args.command {
            GroupCommand::List(list) => list_groups(&admin, &list).await,
            GroupCommand::Describe(describe) => describe_groups(&admin, &describe).await,
            GroupCommand::ResetOffsets(reset) => reset::reset_offsets(&admin, &reset).await,
            GroupCommand::Delete(delete) => delete_groups(&admin, &delete).await,
        }
    })
}

async fn list_groups(admin: &Admin, args: &ListArgs) -> anyhow::Result<()> {
    let groups = admin.list_groups().await?;
    if args.state {
        let mut table = Table::new(&["GROUP", "STATE"]);
        for group in groups {
            table.push(vec![group.group_id, group.state]);
        }
        return output::to_stdout(|out| table.write_to(out));
    }
    output::to_stdout(|out| {
        groups
            .iter()
            .try_for_each(|group| writeln!(out, "{}", group.group_id))
    })
}

/// One group as `describe` shows it.
struct DescribedGroup {
    description: GroupDescription,
    offsets: Vec<GroupPartitionOffset>,
}

async fn describe_groups(admin: &Admin, args: &DescribeArgs) -> anyhow::Result<()> {
    let mut described = Vec::with_capacity(args.groups.len());
    for description in admin.describe_groups(&args.groups).await? {
        if let Some(error) = &description.error {
            bail!(
                "cannot describe group {}: {}",
                description.group_id,
                error.code
            );
        }
        let offsets = admin.group_offsets(&description.group_id).await?;
        if description.state == DEAD_STATE && offsets.is_empty() {
            bail!("consumer group {} does not exist", description.group_id);
        }
        described.push(DescribedGroup {
            description,
            offsets,
        });
    }
    let table = if args.state {
        state_table(&described)
    } else if args.members {
        members_table(&described)
    } else {
        return output::to_stdout(|out| write_offsets(out, &described));
    };
    output::to_stdout(|out| table.write_to(out))
}

/// Per group, like `kafka-consumer-groups --describe`: a note when the group
/// has no members, then a table of partitions.
fn write_offsets(out: &mut dyn Write, groups: &[DescribedGroup]) -> io::Result<()> {
    for (index, group) in groups.iter().enumerate() {
        if index > 0 {
            writeln!(out)?;
        }
        let id = &group.description.group_id;
        if group.description.members.is_empty() {
            writeln!(out, "Consumer group '{id}' has no active members.")?;
        }
        let mut table = Table::new(&[
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
        ]);
        for offset in &group.offsets {
            table.push(vec![
                id.clone(),
                offset.topic.clone(),
                offset.partition.to_string(),
                or_dash(offset.committed_offset),
                or_dash(offset.log_end_offset),
                or_dash(offset.lag),
            ]);
        }
        table.write_to(out)?;
    }
    Ok(())
}

fn members_table(groups: &[DescribedGroup]) -> Table {
    let mut table = Table::new(&[
        "GROUP",
        "CONSUMER-ID",
        "GROUP-INSTANCE-ID",
        "HOST",
        "CLIENT-ID",
    ]);
    for group in groups {
        for member in &group.description.members {
            table.push(vec![
                group.description.group_id.clone(),
                member.member_id.clone(),
                member
                    .group_instance_id
                    .clone()
                    .unwrap_or_else(|| "-".to_owned()),
                member.client_host.clone(),
                member.client_id.clone(),
            ]);
        }
    }
    table
}

fn state_table(groups: &[DescribedGroup]) -> Table {
    let mut table = Table::new(&["GROUP", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"]);
    for group in groups {
        let description = &group.description;
        table.push(vec![
            description.group_id.clone(),
            description.protocol.clone(),
            description.state.clone(),
            description.members.len().to_string(),
        ]);
    }
    table
}

async fn delete_groups(admin: &Admin, args: &DeleteArgs) -> anyhow::Result<()> {
    let outcomes = admin.delete_groups(&args.groups).await?;
    if let Some(failed) = outcomes.iter().find(|o| o.error.is_some()) {
        let code = failed.error.as_ref().map(|e| e.code.to_string());
        bail!(
            "cannot delete group {}: {}",
            failed.name,
            code.unwrap_or_default()
        );
    }
    output::to_stdout(|out| {
        outcomes
            .iter()
            .try_for_each(|o| writeln!(out, "Deleted group {}.", o.name))
    })
}

//! `sluice cluster status`: the controller quorum as one node reports it
//! (DescribeQuorum): voters, the active controller, its epoch, the committed
//! metadata offset, and each voter's log end offset and lag.

use std::io::{self, Write};

use anyhow::Context;
use clap::{Args, Subcommand};
use sluice_client::{ClientError, QuorumInfo};

use crate::output::{self, Table, or_dash};
use crate::session::{self, ClusterArgs};

/// Flags of `sluice cluster`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sluice cluster status --bootstrap-server 127.0.0.1:19092
  sluice cluster status --json")]
pub struct ClusterCommandArgs {
    #[command(subcommand)]
    command: ClusterCommand,
    #[command(flatten)]
    cluster: ClusterArgs,
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Show the controller quorum: active controller, epoch, committed
    /// offset, and each voter's log end offset and lag.
    ///
    /// Only the active controller knows every voter's log end offset; any
    /// other voter reports its own and `-` for the rest.
    Status(StatusArgs),
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

/// Runs `sluice cluster ...`.
///
/// # Errors
/// An unreachable cluster, or a node that runs no controller quorum.
pub fn run(args: ClusterCommandArgs) -> anyhow::Result<()> {
    session::block_on(async move {
        let admin = args.cluster.connect_admin().await?;
        match args.command {
            ClusterCommand::Status(status) => {
                let quorum = match admin.describe_quorum().await {
                    Err(ClientError::UnsupportedVersion { .. }) => anyhow::bail!(
                        "{} runs no controller quorum (a single node; start it with \
                         --controller-quorum-voters to form a cluster)",
                        args.cluster.bootstrap_server
                    ),
                    other => other.context("cannot describe the controller quorum")?,
                };
                if status.json {
                    output::to_stdout(|out| writeln!(out, "{}", to_json(&quorum)))
                } else {
                    output::to_stdout(|out| write_status(out, &quorum))
                }
            }
        }
    })
}

fn known(value: i64) -> Option<i64> {
    (value >= 0).then_some(value)
}

/// The status as one JSON object (`null` for what the node does not know).
fn to_json(quorum: &QuorumInfo) -> serde_json::Value {
    let leader_end = quorum.leader_log_end_offset().unwrap_or(-1);
    let voters: Vec<_> = quorum
        .voters
        .iter()
        .map(|v| {
            serde_json::json!({
                "node_id": v.node_id,
                "endpoint": v.endpoint,
                "leader": v.node_id == quorum.leader_id,
                "log_end_offset": known(v.log_end_offset),
                "lag": v.lag(leader_end),
                "last_fetch_timestamp": known(v.last_fetch_timestamp),
                "last_caught_up_timestamp": known(v.last_caught_up_timestamp),
            })
        })
        .collect();
    serde_json::json!({
        "leader_id": known(i64::from(quorum.leader_id)),
        "leader_epoch": quorum.leader_epoch,
        "high_watermark": quorum.high_watermark,
        "voters": voters,
    })
}

fn write_status(out: &mut (impl Write + ?Sized), quorum: &QuorumInfo) -> io::Result<()> {
    let leader = known(i64::from(quorum.leader_id));
    writeln!(out, "Active controller:  {}", or_dash(leader))?;
    writeln!(out, "Leader epoch:       {}", quorum.leader_epoch)?;
    writeln!(
        out,
        "High watermark:     {} (committed metadata offsets end here)",
        quorum.high_watermark
    )?;
    writeln!(
        out,
        "Voters:             {}",
        quorum
            .voters
            .iter()
            .map(|v| v.node_id.to_string())
            .collect::<Vec<_>>()
            .join(",")
    )?;
    writeln!(out)?;
    let leader_end = quorum.leader_log_end_offset().unwrap_or(-1);
    let mut table = Table::new(&["NODE", "ROLE", "ENDPOINT", "LOG-END-OFFSET", "LAG"]);
    for voter in &quorum.voters {
        let role = if voter.node_id == quorum.leader_id {
            "leader"
        } else {
            "follower"
        };
        table.push(vec![
            voter.node_id.to_string(),
            role.to_owned(),
            voter.endpoint.clone().unwrap_or_else(|| "-".to_owned()),
            or_dash(known(voter.log_end_offset)),
            or_dash(voter.lag(leader_end)),
        ]);
    }
    table.write_to(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_client::QuorumVoter;

    fn quorum() -> QuorumInfo {
        let voter = |node_id, log_end_offset| QuorumVoter {
            node_id,
            log_end_offset,
            last_fetch_timestamp: -1,
            last_caught_up_timestamp: -1,
            endpoint: Some(format!("127.0.0.1:{node_id}9093")),
        };
        QuorumInfo {
            leader_id: 2,
            leader_epoch: 3,
            high_watermark: 12,
            voters: vec![voter(1, 12), voter(2, 12), voter(3, 7)],
            observers: Vec::new(),
        }
    }

    #[test]
    fn status_table_names_the_leader_and_each_voters_lag() {
        let mut out = Vec::new();
        write_status(&mut out, &quorum()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Active controller:  2"), "{text}");
        assert!(text.contains("High watermark:     12"), "{text}");
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip_while(|l| !l.starts_with("NODE"))
            .skip(1)
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows,
            [
                ["1", "follower", "127.0.0.1:19093", "12", "0"],
                ["2", "leader", "127.0.0.1:29093", "12", "0"],
                ["3", "follower", "127.0.0.1:39093", "7", "5"],
            ]
        );
    }

    #[test]
    fn json_status_leaves_unknown_values_null() {
        let mut quorum = quorum();
        quorum.voters[2].log_end_offset = -1;
        let json = to_json(&quorum);
        assert_eq!(json["leader_id"], 2);
        assert_eq!(json["voters"][2]["log_end_offset"], serde_json::Value::Null);
        assert_eq!(json["voters"][2]["lag"], serde_json::Value::Null);
        assert_eq!(json["voters"][0]["lag"], 0);
    }
}

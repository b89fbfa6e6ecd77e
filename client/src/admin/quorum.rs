//! The controller quorum: DescribeQuorum on the metadata log
//! (`__cluster_metadata`-0), as `kafka-metadata-quorum describe` asks it.

use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::{DescribeQuorumRequest, TopicName};

use crate::admin::types::ResourceError;
use crate::admin::{Admin, text};
use crate::error::{ClientError, Result};

/// The metadata log's topic, which DescribeQuorum asks about.
const METADATA_TOPIC: &str = "__cluster_metadata";

/// One voter as the answering node knows it. `-1` means unknown (a node
/// that is not the active controller knows only its own log end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumVoter {
    /// The voter's node id.
    pub node_id: i32,
    /// Its log end offset (the next offset it will write), or -1.
    pub log_end_offset: i64,
    /// When the leader last heard from it (ms since the epoch), or -1.
    pub last_fetch_timestamp: i64,
    /// When it was last caught up with the leader (ms since the epoch), or -1.
    pub last_caught_up_timestamp: i64,
    /// Its controller endpoint (`host:port`), when reported (v2).
    pub endpoint: Option<String>,
}

/// The controller quorum as one node answered DescribeQuorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumInfo {
    /// The active controller (Raft leader), or -1 when none is known.
    pub leader_id: i32,
    /// The leader epoch (Raft term).
    pub leader_epoch: i32,
    /// The committed end of the metadata log (next offset after the last
    /// committed entry).
    pub high_watermark: i64,
    /// The voters, by node id.
    pub voters: Vec<QuorumVoter>,
    /// The observers (always empty for now: no broker-only nodes).
    pub observers: Vec<QuorumVoter>,
}

impl QuorumVoter {
    /// How far this voter's log end is behind `leader_log_end`, when both
    /// are known.
    pub fn lag(&self, leader_log_end: i64) -> Option<i64> {
        (self.log_end_offset >= 0 && leader_log_end >= 0)
            .then(|| (leader_log_end - self.log_end_offset).max(0))
    }
}

impl QuorumInfo {
    /// The leader's own log end offset, when the answer holds it.
    pub fn leader_log_end_offset(&self) -> Option<i64> {
        self.voters
            .iter()
            .find(|v| v.node_id == self.leader_id)
            .map(|v| v.log_end_offset)
            .filter(|offset| *offset >= 0)
    }
}

impl Admin {
    /// Describes the controller quorum, asking one node of the cluster
    /// (the first that answers). A node that does not run a controller does
    /// not offer the API: [`ClientError::UnsupportedVersion`].
    ///
    /// # Errors
    /// Transport errors, an unsupported API, or the broker's error code.
    pub async fn describe_quorum(&self) -> Result<QuorumInfo> {
        let request = DescribeQuorumRequest::default().with_topics(vec![
            TopicData::default()
                .with_topic_name(TopicName(text(METADATA_TOPIC)))
                .with_partitions(vec![PartitionData::default().with_partition_index(0)]),
        ]);
        let connection = self.client.any_connection().await?;
        let response = connection.send(&request).await?;
        if let Some(error) = ResourceError::from_parts(response.error_code, None) {
            return Err(error.into());
        }
        let endpoints: Vec<(i32, String)> = response
            .nodes
            .iter()
            .filter_map(|node| {
                node.listeners
                    .first()
                    .map(|l| (node.node_id.0, format!("{}:{}", l.host, l.port)))
            })
            .collect();
        let partition = response
            .topics
            .into_iter()
            .find(|t| t.topic_name.0.as_str() == METADATA_TOPIC)
            .and_then(|t| t.partitions.into_iter().find(|p| p.partition_index == 0))
            .ok_or_else(|| ClientError::UnknownPartition {
                topic: METADATA_TOPIC.to_owned(),
                partition: 0,
            })?;
        if let Some(error) = ResourceError::from_parts(
            partition.error_code,
            partition.error_message.map(|m| m.to_string()),
        ) {
            return Err(error.into());
        }
        let voter =
            |state: kafka_protocol::messages::describe_quorum_response::ReplicaState| QuorumVoter {
                node_id: state.replica_id.0,
                log_end_offset: state.log_end_offset,
                last_fetch_timestamp: state.last_fetch_timestamp,
                last_caught_up_timestamp: state.last_caught_up_timestamp,
                endpoint: endpoints
                    .iter()
                    .find(|(id, _)| *id == state.replica_id.0)
                    .map(|(_, address)| address.clone()),
            };
        let mut voters: Vec<_> = partition.current_voters.into_iter().map(voter).collect();
        voters.sort_by_key(|v| v.node_id);
        Ok(QuorumInfo {
            leader_id: partition.leader_id.0,
            leader_epoch: partition.leader_epoch,
            high_watermark: partition.high_watermark,
            voters,
            observers: partition.observers.into_iter().map(voter).collect(),
        })
    }
}

//! DescribeQuorum (KIP-595, KIP-853): the controller quorum as this node
//! sees it, for `kafka-metadata-quorum describe --status / --replication`
//! and `sluice cluster status`.
//!
//! Served only by a node that runs a controller (dispatch and ApiVersions
//! leave the API out otherwise). The one partition is
//! `__cluster_metadata`-0, Kafka's name for the metadata log; anything else
//! gets UNKNOWN_TOPIC_OR_PARTITION as Kafka answers it.
//!
//! Offsets follow Kafka's convention: the high watermark and each log end
//! offset are the next offset to be written (the last Raft index + 1). Kafka
//! brokers forward this request to the active controller; Sluice does not
//! forward yet, so a voter that is not the leader answers with what it knows:
//! the leader, the epoch, its committed offset and its own log end offset
//! (the other voters' are -1, unknown). Timestamps are the last time the
//! leader heard from a voter; "caught up" is that time when the voter's log
//! ended where the leader's does.

use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};
use sluice_controller::{MetadataQuorum, QuorumStatus};
use sluice_protocol::ErrorCode;

use crate::broker::now_ms;
use crate::dispatch::RequestContext;
use crate::handlers::{host_and_port, str_bytes};

/// The metadata log's topic name, as Kafka's tools ask for it.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// The listener name the voters' endpoints are reported under (v2).
const CONTROLLER_LISTENER_NAME: &str = "CONTROLLER";

/// Answers DescribeQuorum from the local controller's status.
pub async fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    let asks_for_metadata_log = matches!(
        request.topics.as_slice(),
        [topic] if topic.topic_name.as_str() == METADATA_TOPIC
            && matches!(topic.partitions.as_slice(), [p] if p.partition_index == 0)
    );
    let Some(controller) = ctx.broker.controller() else {
        // Dispatch does not route here without a controller.
        return DescribeQuorumResponse::default()
            .with_error_code(ErrorCode::UnsupportedVersion.code());
    };
    if !asks_for_metadata_log {
        return DescribeQuorumResponse::default()
            .with_error_code(ErrorCode::UnknownTopicOrPartition.code());
    }
    let voters = ctx
        .broker
        .config()
        .controller_role()
        .ok()
        .flatten()
        .map(|role| role.voters)
        .unwrap_or_default();
    let nodes = voters
        .iter()
        .map(|(id, address)| {
            let (host, port) = host_and_port(address);
            Node::default()
                .with_node_id(BrokerId(*id))
                .with_listeners(vec![
                    Listener::default()
                        .with_name(str_bytes(CONTROLLER_LISTENER_NAME))
                        .with_host(str_bytes(&host))
                        .with_port(u16::try_from(port).unwrap_or(0)),
                ])
        })
        .collect();
    let partition = partition_data(&controller.status(), now_ms());
    DescribeQuorumResponse::default()
        .with_topics(vec![
            TopicData::default()
                .with_topic_name(TopicName(str_bytes(METADATA_TOPIC)))
                .with_partitions(vec![partition]),
        ])
        .with_nodes(nodes)
}

/// The next offset after `last` (Kafka's exclusive end offsets); 0 when
/// nothing is there.
fn end_offset(last: Option<u64>) -> i64 {
    last.map_or(0, |index| {
        i64::try_from(index).unwrap_or(i64::MAX).saturating_add(1)
    })
}

/// Clamps an id or epoch into Kafka's `int32`.
fn int32(value: u64) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// The metadata partition's state from `status`, timestamps relative to
/// `now_ms`.
pub fn partition_data(status: &QuorumStatus, now_ms: i64) -> PartitionData {
    let leader_end = end_offset(status.last_log_offset);
    let is_leader = status.leader == Some(status.node_id);
    let voters = status
        .voters
        .iter()
        .map(|voter| {
            let unknown = ReplicaState::default()
                .with_replica_id(BrokerId(int32(*voter)))
                .with_log_end_offset(-1)
                .with_last_fetch_timestamp(-1)
                .with_last_caught_up_timestamp(-1);
            if *voter == status.node_id && !is_leader {
                return unknown.with_log_end_offset(end_offset(status.last_log_offset));
            }
            let Some(progress) = status.replication.iter().find(|p| p.node_id == *voter) else {
                return unknown;
            };
            let log_end = if progress.node_id == status.node_id {
                leader_end
            } else {
                end_offset(progress.last_offset)
            };
            let heard = progress.last_ack_ms_ago.map_or(-1, |ago| {
                now_ms.saturating_sub(i64::try_from(ago).unwrap_or(i64::MAX))
            });
            let caught_up = if log_end >= leader_end { heard } else { -1 };
            unknown
                .with_log_end_offset(log_end)
                .with_last_fetch_timestamp(heard)
                .with_last_caught_up_timestamp(caught_up)
        })
        .collect();
    PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(BrokerId(status.leader.map_or(-1, int32)))
        .with_leader_epoch(int32(status.term))
        .with_high_watermark(end_offset(status.committed_offset))
        .with_current_voters(voters)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_controller::VoterProgress;

    fn status(node_id: u64, leader: u64) -> QuorumStatus {
        QuorumStatus {
            node_id,
            leader: Some(leader),
            voters: vec![1, 2, 3],
            term: 4,
            committed_offset: Some(9),
            applied_offset: Some(9),
            last_log_offset: Some(10),
            replication: if node_id == leader {
                vec![
                    VoterProgress {
                        node_id: 1,
                        last_offset: Some(10),
                        last_ack_ms_ago: Some(0),
                    },
                    VoterProgress {
                        node_id: 2,
                        last_offset: Some(10),
                        last_ack_ms_ago: Some(30),
                    },
                    VoterProgress {
                        node_id: 3,
                        last_offset: Some(4),
                        last_ack_ms_ago: None,
                    },
                ]
            } else {
                Vec::new()
            },
        }
    }

    #[test]
    fn leader_reports_every_voters_log_end_and_last_contact() {
        let partition = partition_data(&status(1, 1), 1_000);
        assert_eq!(partition.leader_id, BrokerId(1));
        assert_eq!(partition.leader_epoch, 4);
        assert_eq!(partition.high_watermark, 10);
        let voters: Vec<_> = partition
            .current_voters
            .iter()
            .map(|v| {
                (
                    v.replica_id.0,
                    v.log_end_offset,
                    v.last_fetch_timestamp,
                    v.last_caught_up_timestamp,
                )
            })
            .collect();
        assert_eq!(
            voters,
            [(1, 11, 1_000, 1_000), (2, 11, 970, 970), (3, 5, -1, -1)]
        );
        assert!(partition.observers.is_empty());
    }

    #[test]
    fn follower_reports_the_leader_and_only_its_own_log_end() {
        let partition = partition_data(&status(2, 1), 1_000);
        assert_eq!(partition.leader_id, BrokerId(1));
        assert_eq!(partition.high_watermark, 10);
        let ends: Vec<_> = partition
            .current_voters
            .iter()
            .map(|v| (v.replica_id.0, v.log_end_offset))
            .collect();
        assert_eq!(ends, [(1, -1), (2, 11), (3, -1)]);
    }

    #[test]
    fn unknown_leader_is_minus_one_and_empty_log_ends_at_zero() {
        let mut status = status(2, 1);
        status.leader = None;
        status.committed_offset = None;
        status.last_log_offset = None;
        let partition = partition_data(&status, 0);
        assert_eq!(partition.leader_id, BrokerId(-1));
        assert_eq!(partition.high_watermark, 0);
        assert_eq!(partition.current_voters[1].log_end_offset, 0);
    }
}

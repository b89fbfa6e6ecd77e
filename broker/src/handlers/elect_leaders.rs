//! ElectLeaders: preferred and unclean leader elections (KIP-460).
//!
//! On one node every partition is led by its only replica, which is also its
//! preferred replica, so no election is ever needed: each named partition is
//! answered ELECTION_NOT_NEEDED, as Kafka answers a partition that already
//! has its preferred (or any live) leader. A null topic list asks for every
//! partition, and Kafka then lists only the partitions where an election
//! took place: none.

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};
use sluice_protocol::ErrorCode;

use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::RequestContext;

/// Kafka's `ElectionType.PREFERRED`, the only kind before v1.
const PREFERRED: i8 = 0;
/// Kafka's `ElectionType.UNCLEAN`.
const UNCLEAN: i8 = 1;

/// Answers an ElectLeaders request.
pub async fn handle(
    ctx: &RequestContext<'_>,
    request: ElectLeadersRequest,
) -> ElectLeadersResponse {
    let election_type = if ctx.version() >= 1 {
        request.election_type
    } else {
        PREFERRED
    };
    let results = request
        .topic_partitions
        .unwrap_or_default()
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|&index| partition_result(ctx.broker, &topic.topic, index, election_type))
                .collect();
            ReplicaElectionResult::default()
                .with_topic(topic.topic)
                .with_partition_result(partitions)
        })
        .collect();
    ElectLeadersResponse::default()
        .with_error_code(ErrorCode::None.code())
        .with_replica_election_results(results)
}

fn partition_result(
    broker: &Broker,
    topic: &str,
    index: i32,
    election_type: i8,
) -> PartitionResult {
    let (code, message) = if broker.partition(topic, index).is_none() {
        (
            ErrorCode::UnknownTopicOrPartition,
            format!("no partition {index} of topic {topic} on this broker"),
        )
    } else if matches!(election_type, PREFERRED | UNCLEAN) {
        (
            ErrorCode::ElectionNotNeeded,
            "the partition's only replica is already its leader".to_owned(),
        )
    } else {
        (
            ErrorCode::InvalidRequest,
            format!("unknown election type {election_type}"),
        )
    };
    PartitionResult::default()
        .with_partition_id(index)
        .with_error_code(code.code())
        .with_error_message(Some(str_bytes(&message)))
}

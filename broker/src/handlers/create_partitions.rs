//! CreatePartitions: grow a topic; manual assignments may name only this node.
//! New partitions whose first disk reservations do not fit the data
//! directory's free space are POLICY_VIOLATION, with a message that gives the
//! figures.

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use sluice_protocol::ErrorCode;

use super::str_bytes;
use crate::dispatch::RequestContext;

/// Answers a CreatePartitions request.
pub async fn handle(
    ctx: &RequestContext<'_>,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let broker = ctx.broker;
    let node = broker.node_id();
    let results = request
        .topics
        .into_iter()
        .map(|topic| {
            let foreign_replica = topic
                .assignments
                .iter()
                .flatten()
                .any(|a| a.broker_ids.iter().any(|b| b.0 != node));
            let result = if foreign_replica {
                Err(ErrorCode::InvalidReplicaAssignment.into())
            } else {
                broker.create_partitions(&topic.name, topic.count, request.validate_only)
            };
            let response = CreatePartitionsTopicResult::default().with_name(topic.name);
            match result {
                Ok(()) => response,
                Err(refusal) => response
                    .with_error_code(refusal.code().code())
                    .with_error_message(Some(str_bytes(&refusal.to_string()))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}

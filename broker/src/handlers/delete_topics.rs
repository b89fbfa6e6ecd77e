//! DeleteTopics: by name (v1-v5) or by name or topic id (v6+). Every
//! group's committed offsets on a deleted topic go with it.

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use sluice_protocol::ErrorCode;

use super::str_bytes;
use crate::dispatch::RequestContext;

/// The first DeleteTopics version whose request lists topics as name-or-id.
const TOPIC_STATE_VERSION: i16 = 6;

/// Answers a DeleteTopics request.
pub async fn handle(
    ctx: &RequestContext<'_>,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let broker = ctx.broker;
    let targets: Vec<(Option<TopicName>, uuid::Uuid)> = if ctx.version() >= TOPIC_STATE_VERSION {
        request
            .topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .into_iter()
            .map(|n| (Some(n), uuid::Uuid::nil()))
            .collect()
    };
    let mut deleted_topics = Vec::new();
    let responses: Vec<DeletableTopicResult> = targets
        .into_iter()
        .map(|(name, topic_id)| {
            let topic = match &name {
                Some(name) => broker.topic(name).ok_or(ErrorCode::UnknownTopicOrPartition),
                None => broker
                    .topic_by_id(topic_id)
                    .ok_or(ErrorCode::UnknownTopicId),
            };
            let result = topic.and_then(|t| broker.delete_topic(&t.name));
            if let Ok(deleted) = &result {
                deleted_topics.push(deleted.name.clone());
            }
            let response = DeletableTopicResult::default().with_name(name.clone());
            let has_ids = ctx.version() >= TOPIC_STATE_VERSION;
            let has_messages = ctx.version() >= 5;
            match result {
                Ok(deleted) if has_ids => response
                    .with_name(Some(TopicName(str_bytes(&deleted.name))))
                    .with_topic_id(deleted.topic_id),
                Ok(_) => response,
                Err(code) => {
                    let response = response.with_error_code(code.code());
                    let response = if has_ids {
                        response.with_topic_id(topic_id)
                    } else {
                        response
                    };
                    if has_messages {
                        response.with_error_message(Some(str_bytes(code.name())))
                    } else {
                        response
                    }
                }
            }
        })
        .collect();
    if !deleted_topics.is_empty() {
        // Kafka drops a deleted topic's committed offsets from every group;
        // left behind they break `kafka-consumer-groups --describe`.
        broker
            .groups()
            .delete_offsets_of_topics(broker, &deleted_topics);
    }
    DeleteTopicsResponse::default().with_responses(responses)
}

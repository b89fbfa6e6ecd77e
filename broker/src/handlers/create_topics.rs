//! CreateTopics: validate names, partition counts, replication and configs.
//!
//! A single node can only hold one replica, so a replication factor other
//! than 1 (or -1, "broker default") is INVALID_REPLICATION_FACTOR, and manual
//! assignments must name only this node. A topic whose partitions' first disk
//! reservations do not fit the data directory's free space is
//! POLICY_VIOLATION, with a message that gives the figures.

use std::collections::BTreeMap;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use sluice_protocol::ErrorCode;

use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::topic_admin::CreationRefusal;

/// `config_source` values of Kafka's DescribeConfigs and CreateTopics.
pub mod config_source {
    /// A topic override.
    pub const DYNAMIC_TOPIC_CONFIG: i8 = 1;
    /// Set in the broker's static configuration.
    pub const STATIC_BROKER_CONFIG: i8 = 4;
    /// The built-in default.
    pub const DEFAULT_CONFIG: i8 = 5;
}

/// Answers a CreateTopics request.
pub async fn handle(
    ctx: &RequestContext<'_>,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let broker = ctx.broker;
    let version = ctx.version();
    let mut seen = std::collections::HashSet::new();
    let results = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.clone();
            let result = if seen.insert(name.clone()) {
                create(broker, &topic, request.validate_only).map(|r| for_version(r, version))
            } else {
                // Kafka refuses a name that appears twice in one request.
                Err(ErrorCode::InvalidRequest.into())
            };
            let response = CreatableTopicResult::default().with_name(name);
            match result {
                Ok(r) => r,
                Err(refusal) => for_version(
                    response
                        .with_error_code(refusal.code().code())
                        .with_error_message(Some(str_bytes(&refusal.to_string())))
                        .with_num_partitions(-1)
                        .with_replication_factor(-1),
                    version,
                ),
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(results)
}

/// Resets fields `version` does not have (details from v5, topic id from v7).
fn for_version(result: CreatableTopicResult, version: i16) -> CreatableTopicResult {
    let defaults = CreatableTopicResult::default();
    let result = if version >= 7 {
        result
    } else {
        result.with_topic_id(defaults.topic_id)
    };
    if version >= 5 {
        result
    } else {
        result
            .with_num_partitions(defaults.num_partitions)
            .with_replication_factor(defaults.replication_factor)
            .with_configs(defaults.configs)
    }
}

fn create(
    broker: &Broker,
    topic: &CreatableTopic,
    validate_only: bool,
) -> Result<CreatableTopicResult, CreationRefusal> {
    let node = broker.node_id();
    let partitions = if topic.assignments.is_empty() {
        if topic.num_partitions == -1 {
            broker.config().num_partitions
        } else {
            topic.num_partitions
        }
    } else {
        let only_this_node = topic
            .assignments
            .iter()
            .all(|a| a.broker_ids.iter().all(|b| b.0 == node));
        if !only_this_node || topic.num_partitions != -1 {
            return Err(ErrorCode::InvalidReplicaAssignment.into());
        }
        i32::try_from(topic.assignments.len()).map_err(|_| ErrorCode::InvalidPartitions)?
    };
    if !matches!(topic.replication_factor, -1 | 1) {
        return Err(ErrorCode::InvalidReplicationFactor.into());
    }
    let mut configs = BTreeMap::new();
    for config in &topic.configs {
        let value = config.value.as_ref().ok_or(ErrorCode::InvalidConfig)?;
        configs.insert(config.name.to_string(), value.to_string());
    }
    // Validated first in both modes, so a refusal carries its message (the
    // creation validates again and answers only a code).
    broker.validate_new_topic(&topic.name, partitions, &configs)?;
    let meta = if validate_only {
        None
    } else {
        Some(broker.create_topic(&topic.name, partitions, configs.clone(), false)?)
    };
    let probe = crate::topics::TopicMeta {
        name: topic.name.to_string(),
        topic_id: meta.as_ref().map_or(uuid::Uuid::nil(), |m| m.topic_id),
        partitions,
        configs,
        internal: false,
    };
    let described = broker
        .topic_config_entries(&probe)?
        .into_iter()
        .map(|entry| {
            let source = if entry.is_override {
                config_source::DYNAMIC_TOPIC_CONFIG
            } else {
                config_source::DEFAULT_CONFIG
            };
            CreatableTopicConfigs::default()
                .with_name(str_bytes(&entry.name))
                .with_value(Some(str_bytes(&entry.value)))
                .with_config_source(source)
        })
        .collect();
    Ok(CreatableTopicResult::default()
        .with_name(topic.name.clone())
        .with_topic_id(probe.topic_id)
        .with_num_partitions(partitions)
        .with_replication_factor(1)
        .with_configs(Some(described)))
}

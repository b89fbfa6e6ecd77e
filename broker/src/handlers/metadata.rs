//! Metadata: brokers, controller, and topics with their partitions.
//!
//! On one node every partition is led by this node with itself as the only
//! replica. Unknown topics are created when both the request and
//! `auto.create.topics.enable` allow it and the name is legal.

use std::collections::BTreeMap;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use sluice_protocol::ErrorCode;
use uuid::Uuid;

use super::{AUTHORIZED_OPERATIONS_OMITTED, host_and_port, str_bytes};
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::topics::{TopicMeta, validate_topic_name};

/// Answers a Metadata request.
pub async fn handle(ctx: &RequestContext<'_>, request: MetadataRequest) -> MetadataResponse {
    let broker = ctx.broker;
    let version = ctx.version();
    // Before v4 the request could not opt out of auto-creation.
    let may_create = broker.config().auto_create_topics_enable
        && (version < 4 || request.allow_auto_topic_creation);
    let topics = match request.topics {
        None => all_topics(broker, version),
        Some(topics) if topics.is_empty() && version == 0 => all_topics(broker, version),
        Some(topics) => topics
            .into_iter()
            .map(|t| match t.name {
                Some(name) => topic_by_name(broker, name, may_create, version),
                None => topic_by_id(broker, t.topic_id, version),
            })
            .collect(),
    };
    let (host, port) = host_and_port(broker.config().advertised_address());
    MetadataResponse::default()
        .with_brokers(vec![
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(broker.node_id()))
                .with_host(str_bytes(&host))
                .with_port(port),
        ])
        .with_cluster_id(Some(str_bytes(broker.cluster_id())))
        .with_controller_id(BrokerId(broker.node_id()))
        .with_topics(topics)
        .with_cluster_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
}

fn all_topics(broker: &Broker, version: i16) -> Vec<MetadataResponseTopic> {
    broker
        .topics()
        .iter()
        .map(|t| describe_topic(broker, t, version))
        .collect()
}

fn topic_by_name(
    broker: &Broker,
    name: TopicName,
    may_create: bool,
    version: i16,
) -> MetadataResponseTopic {
    if let Some(topic) = broker.topic(&name) {
        return describe_topic(broker, &topic, version);
    }
    let error = |code: ErrorCode| {
        MetadataResponseTopic::default()
            .with_name(Some(name.clone()))
            .with_error_code(code.code())
            .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
    };
    if let Err(code) = validate_topic_name(&name) {
        return error(code);
    }
    if !may_create {
        return error(ErrorCode::UnknownTopicOrPartition);
    }
    let partitions = broker.config().num_partitions;
    match broker.create_topic(&name, partitions, BTreeMap::new(), false) {
        Ok(topic) => describe_topic(broker, &topic, version),
        // Another request created it between our lookup and the create.
        Err(ErrorCode::TopicAlreadyExists) => match broker.topic(&name) {
            Some(topic) => describe_topic(broker, &topic, version),
            None => error(ErrorCode::UnknownTopicOrPartition),
        },
        Err(code) => error(code),
    }
}

fn topic_by_id(broker: &Broker, topic_id: Uuid, version: i16) -> MetadataResponseTopic {
    match broker.topic_by_id(topic_id) {
        Some(topic) => describe_topic(broker, &topic, version),
        None => MetadataResponseTopic::default()
            .with_topic_id(topic_id)
            .with_error_code(ErrorCode::UnknownTopicId.code())
            .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED),
    }
}

/// The metadata of one existing topic, with only the fields `version` has
/// (leader epoch from v7, topic id from v10).
pub fn describe_topic(broker: &Broker, topic: &TopicMeta, version: i16) -> MetadataResponseTopic {
    let node = BrokerId(broker.node_id());
    let leader_epoch = if version >= 7 {
        crate::partition::LEADER_EPOCH
    } else {
        -1
    };
    let topic_id = if version >= 10 {
        topic.topic_id
    } else {
        Uuid::nil()
    };
    let partitions = (0..topic.partitions)
        .map(|index| {
            MetadataResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(node)
                .with_leader_epoch(leader_epoch)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(&topic.name))))
        .with_topic_id(topic_id)
        .with_is_internal(topic.internal)
        .with_partitions(partitions)
        .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
}

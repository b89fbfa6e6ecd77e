//! ApiVersions, Metadata and topic administration.

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreatePartitionsRequest, DeleteTopicsRequest,
    DescribeConfigsRequest, IncrementalAlterConfigsRequest, MetadataRequest,
};
use kafka_protocol::protocol::StrBytes;
use sluice_protocol::{ErrorCode, decode_response};

use crate::support::TestBroker;
use crate::{create_topic, topic_name};

fn metadata_for(names: &[&str], allow_auto_create: bool) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(
            names
                .iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
                .collect(),
        ))
        .with_allow_auto_topic_creation(allow_auto_create)
}

#[tokio::test]
async fn api_versions_advertises_the_protocol_table() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let response = client.call(3, ApiVersionsRequest::default()).await;
    assert_eq!(response.error_code, 0);
    let produce = response
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::Produce as i16)
        .unwrap();
    let table = sluice_protocol::supported_versions(ApiKey::Produce).unwrap();
    assert_eq!(
        (produce.min_version, produce.max_version),
        (table.min_version, table.max_version)
    );
    assert_eq!(
        response.api_keys.len(),
        sluice_protocol::SUPPORTED_APIS.len()
    );
    broker.stop().await;
}

#[tokio::test]
async fn api_versions_of_an_unknown_version_answers_v0_with_unsupported_version() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    // A future client sends v127 with the flexible header it would use.
    let (correlation_id, frame) = client.encode(3, &ApiVersionsRequest::default());
    let mut frame = frame.to_vec();
    frame[2..4].copy_from_slice(&127i16.to_be_bytes());
    client.send_frame(frame.into()).await;
    let response = client.next_frame().await.unwrap();
    let (echoed, body) = decode_response::<ApiVersionsResponse>(response, 0).unwrap();
    assert_eq!(echoed, correlation_id);
    assert_eq!(body.error_code, ErrorCode::UnsupportedVersion.code());
    assert!(!body.api_keys.is_empty());
    broker.stop().await;
}

#[tokio::test]
async fn metadata_auto_creates_an_unknown_topic() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let response = client.call(12, metadata_for(&["fresh"], true)).await;
    let topic = &response.topics[0];
    assert_eq!(topic.error_code, 0);
    assert_eq!(topic.partitions.len(), 1);
    assert!(!topic.topic_id.is_nil());
    broker.stop().await;
}

#[tokio::test]
async fn metadata_without_auto_creation_reports_unknown_topic() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let response = client.call(12, metadata_for(&["absent"], false)).await;
    assert_eq!(
        response.topics[0].error_code,
        ErrorCode::UnknownTopicOrPartition.code()
    );
    broker.stop().await;
}

#[tokio::test]
async fn metadata_marks_the_offsets_topic_internal() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let response = client
        .call(12, MetadataRequest::default().with_topics(None))
        .await;
    let offsets = response
        .topics
        .iter()
        .find(|t| t.name.as_deref().map(|n| n.as_str()) == Some("__consumer_offsets"))
        .unwrap();
    assert!(offsets.is_internal);
    broker.stop().await;
}

#[tokio::test]
async fn created_topic_has_its_partitions_and_an_id() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    assert_eq!(crate::create_topic(&mut client, "orders", 3).await, 0);
    let response = client.call(12, metadata_for(&["orders"], false)).await;
    assert_eq!(response.topics[0].partitions.len(), 3);
    assert!(!response.topics[0].topic_id.is_nil());
    broker.stop().await;
}

#[tokio::test]
async fn illegal_topic_names_are_invalid_topic_exception() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    for name in ["bad name", "..", "slash/topic"] {
        assert_eq!(
            create_topic(&mut client, name, 1).await,
            ErrorCode::InvalidTopicException.code(),
            "{name}"
        );
    }
    broker.stop().await;
}

#[tokio::test]
async fn creating_an_existing_topic_is_topic_already_exists() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    assert_eq!(create_topic(&mut client, "twice", 1).await, 0);
    assert_eq!(
        create_topic(&mut client, "twice", 1).await,
        ErrorCode::TopicAlreadyExists.code()
    );
    broker.stop().await;
}

#[tokio::test]
async fn deleted_topic_is_gone() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "doomed", 2).await;
    let request = DeleteTopicsRequest::default()
        .with_topics(vec![
            DeleteTopicState::default().with_name(Some(topic_name("doomed"))),
        ])
        .with_timeout_ms(10_000);
    assert_eq!(client.call(6, request).await.responses[0].error_code, 0);
    let response = client.call(12, metadata_for(&["doomed"], false)).await;
    assert_eq!(
        response.topics[0].error_code,
        ErrorCode::UnknownTopicOrPartition.code()
    );
    broker.stop().await;
}

#[tokio::test]
async fn create_partitions_grows_a_topic() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "growing", 1).await;
    let request = CreatePartitionsRequest::default()
        .with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name(topic_name("growing"))
                .with_count(4),
        ])
        .with_timeout_ms(10_000);
    assert_eq!(client.call(3, request).await.results[0].error_code, 0);
    let response = client.call(12, metadata_for(&["growing"], false)).await;
    assert_eq!(response.topics[0].partitions.len(), 4);
    broker.stop().await;
}

#[tokio::test]
async fn altered_topic_config_is_described_as_an_override() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "tuned", 1).await;
    let alter = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("tuned"))
            .with_configs(vec![
                AlterableConfig::default()
                    .with_name(StrBytes::from_static_str("retention.ms"))
                    .with_config_operation(0)
                    .with_value(Some(StrBytes::from_static_str("60000"))),
            ]),
    ]);
    assert_eq!(client.call(1, alter).await.responses[0].error_code, 0);
    let describe = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("tuned"))
            .with_configuration_keys(Some(vec![StrBytes::from_static_str("retention.ms")])),
    ]);
    let response = client.call(4, describe).await;
    let entry = &response.results[0].configs[0];
    assert_eq!(
        entry.value.as_ref().map(|v| v.to_string()),
        Some("60000".to_owned())
    );
    assert_eq!(entry.config_source, 1, "DYNAMIC_TOPIC_CONFIG");
    broker.stop().await;
}

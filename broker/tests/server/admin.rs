//! ApiVersions, Metadata and topic administration.

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::describe_log_dirs_response::DescribeLogDirsTopic;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreatePartitionsRequest, DeleteTopicsRequest,
    DescribeConfigsRequest, DescribeLogDirsRequest, ElectLeadersRequest, ElectLeadersResponse,
    IncrementalAlterConfigsRequest, MetadataRequest,
};
use kafka_protocol::protocol::StrBytes;
use sluice_protocol::{ErrorCode, decode_response};

use crate::support::{Client, TestBroker, batch};
use crate::{create_topic, produce, topic_name};

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
    // A single node runs no controller quorum, so it leaves out
    // DescribeQuorum and lists every other API of the table.
    assert!(
        !response
            .api_keys
            .iter()
            .any(|k| k.api_key == ApiKey::DescribeQuorum as i16)
    );
    assert_eq!(
        response.api_keys.len(),
        sluice_protocol::SUPPORTED_APIS.len() - 1
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

/// Kafka's election types.
const PREFERRED: i8 = 0;
const UNCLEAN: i8 = 1;

fn log_dir_topic<'a>(topics: &'a [DescribeLogDirsTopic], name: &str) -> &'a DescribeLogDirsTopic {
    topics
        .iter()
        .find(|t| t.name.as_str() == name)
        .unwrap_or_else(|| panic!("topic {name} is described"))
}

/// (partition, size) pairs of a described topic, by partition.
fn partition_sizes(topic: &DescribeLogDirsTopic) -> Vec<(i32, i64)> {
    let mut sizes: Vec<_> = topic
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.partition_size))
        .collect();
    sizes.sort_unstable();
    sizes
}

#[tokio::test]
async fn describe_log_dirs_reports_the_data_dir_and_every_partition_size() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "sized", 2).await;
    let records = batch(&["a", "b", "c"]);
    produce(&mut client, "sized", 0, records.clone()).await;
    let response = client
        .call(4, DescribeLogDirsRequest::default().with_topics(None))
        .await;
    assert_eq!(response.error_code, 0);
    let [dir] = &response.results[..] else {
        panic!("one result per log dir: {:?}", response.results)
    };
    assert_eq!(dir.error_code, 0);
    let expected_dir = std::path::absolute(broker.dir.path()).unwrap();
    assert_eq!(dir.log_dir.as_str(), expected_dir.to_str().unwrap());
    let sized = log_dir_topic(&dir.topics, "sized");
    assert_eq!(
        partition_sizes(sized),
        vec![(0, records.len() as i64), (1, 0)]
    );
    assert!(
        sized
            .partitions
            .iter()
            .all(|p| p.offset_lag == 0 && !p.is_future_key)
    );
    log_dir_topic(&dir.topics, "__consumer_offsets");
    broker.stop().await;
}

#[tokio::test]
async fn describe_log_dirs_v4_reports_the_filesystem_size() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let response = client
        .call(4, DescribeLogDirsRequest::default().with_topics(None))
        .await;
    let dir = &response.results[0];
    assert!(dir.total_bytes > 0, "total bytes: {}", dir.total_bytes);
    assert!((0..=dir.total_bytes).contains(&dir.usable_bytes));
    broker.stop().await;
}

#[tokio::test]
async fn describe_log_dirs_lists_only_requested_partitions_that_exist() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "picked", 3).await;
    let request = DescribeLogDirsRequest::default().with_topics(Some(vec![
        DescribableLogDirTopic::default()
            .with_topic(topic_name("picked"))
            .with_partitions(vec![2, 7]),
        DescribableLogDirTopic::default()
            .with_topic(topic_name("absent"))
            .with_partitions(vec![0]),
    ]));
    let response = client.call(1, request).await;
    let topics = &response.results[0].topics;
    assert_eq!(topics.len(), 1, "{topics:?}");
    assert_eq!(
        partition_sizes(log_dir_topic(topics, "picked")),
        vec![(2, 0)]
    );
    broker.stop().await;
}

async fn elect(
    client: &mut Client,
    election_type: i8,
    topic_partitions: Option<Vec<(&str, Vec<i32>)>>,
) -> ElectLeadersResponse {
    let topic_partitions = topic_partitions.map(|topics| {
        topics
            .into_iter()
            .map(|(name, partitions)| {
                TopicPartitions::default()
                    .with_topic(topic_name(name))
                    .with_partitions(partitions)
            })
            .collect()
    });
    let request = ElectLeadersRequest::default()
        .with_election_type(election_type)
        .with_topic_partitions(topic_partitions)
        .with_timeout_ms(10_000);
    client.call(2, request).await
}

/// (topic, partition, error code) of every result.
fn election_codes(response: &ElectLeadersResponse) -> Vec<(String, i32, i16)> {
    response
        .replica_election_results
        .iter()
        .flat_map(|t| {
            t.partition_result
                .iter()
                .map(|p| (t.topic.to_string(), p.partition_id, p.error_code))
        })
        .collect()
}

#[tokio::test]
async fn elect_leaders_needs_no_preferred_or_unclean_election_on_one_node() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "led", 2).await;
    let not_needed = ErrorCode::ElectionNotNeeded.code();
    for election_type in [PREFERRED, UNCLEAN] {
        let response = elect(&mut client, election_type, Some(vec![("led", vec![0, 1])])).await;
        assert_eq!(response.error_code, 0);
        assert_eq!(
            election_codes(&response),
            vec![
                ("led".to_owned(), 0, not_needed),
                ("led".to_owned(), 1, not_needed)
            ]
        );
    }
    broker.stop().await;
}

#[tokio::test]
async fn elect_leaders_for_an_unknown_partition_is_unknown_topic_or_partition() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "narrow", 1).await;
    let response = elect(
        &mut client,
        PREFERRED,
        Some(vec![("narrow", vec![5]), ("missing", vec![0])]),
    )
    .await;
    let unknown = ErrorCode::UnknownTopicOrPartition.code();
    assert_eq!(
        election_codes(&response),
        vec![
            ("narrow".to_owned(), 5, unknown),
            ("missing".to_owned(), 0, unknown)
        ]
    );
    broker.stop().await;
}

#[tokio::test]
async fn elect_leaders_for_all_partitions_lists_no_election() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "everything", 3).await;
    let response = elect(&mut client, PREFERRED, None).await;
    assert_eq!(response.error_code, 0);
    assert!(response.replica_election_results.is_empty());
    broker.stop().await;
}

#[tokio::test]
async fn elect_leaders_v0_is_a_preferred_election() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "old", 1).await;
    let request = ElectLeadersRequest::default()
        .with_topic_partitions(Some(vec![
            TopicPartitions::default()
                .with_topic(topic_name("old"))
                .with_partitions(vec![0]),
        ]))
        .with_timeout_ms(10_000);
    let response = client.call(0, request).await;
    assert_eq!(
        election_codes(&response),
        vec![("old".to_owned(), 0, ErrorCode::ElectionNotNeeded.code())]
    );
    broker.stop().await;
}

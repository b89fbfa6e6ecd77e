//! AlterConfigs, IncrementalAlterConfigs and DescribeConfigs.

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{
    AlterConfigsRequest, ApiKey, ApiVersionsRequest, DescribeConfigsRequest,
    IncrementalAlterConfigsRequest, alter_configs_request, incremental_alter_configs_request,
};
use kafka_protocol::protocol::StrBytes;

use crate::create_topic;
use crate::support::{Client, TestBroker};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;
const INVALID_REQUEST: i16 = 42;
const INVALID_CONFIG: i16 = 40;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const SET: i8 = 0;
const APPEND: i8 = 2;
const DEFAULT_RETENTION_MS: &str = "604800000";

fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

/// An AlterConfigs request for one resource with `(name, value)` entries.
fn alter_request(
    resource_type: i8,
    name: &str,
    entries: &[(&str, Option<&str>)],
    validate_only: bool,
) -> AlterConfigsRequest {
    let configs = entries
        .iter()
        .map(|(name, value)| {
            alter_configs_request::AlterableConfig::default()
                .with_name(text(name))
                .with_value(value.map(text))
        })
        .collect();
    AlterConfigsRequest::default()
        .with_validate_only(validate_only)
        .with_resources(vec![
            alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(text(name))
                .with_configs(configs),
        ])
}

/// AlterConfigs v2 on one topic; returns the resource's error code.
async fn alter(client: &mut Client, topic: &str, entries: &[(&str, Option<&str>)]) -> i16 {
    let request = alter_request(TOPIC, topic, entries, false);
    client.call(2, request).await.responses[0].error_code
}

/// IncrementalAlterConfigs v1 with one `(operation, name, value)` per entry.
async fn alter_incrementally(
    client: &mut Client,
    resource_type: i8,
    name: &str,
    changes: &[(i8, &str, &str)],
) -> i16 {
    let configs = changes
        .iter()
        .map(|(operation, name, value)| {
            incremental_alter_configs_request::AlterableConfig::default()
                .with_config_operation(*operation)
                .with_name(text(name))
                .with_value(Some(text(value)))
        })
        .collect();
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(text(name))
            .with_configs(configs),
    ]);
    client.call(1, request).await.responses[0].error_code
}

/// DescribeConfigs v4 of one resource (every config).
async fn describe(
    client: &mut Client,
    resource_type: i8,
    name: &str,
    include_synonyms: bool,
) -> DescribeConfigsResult {
    let request = DescribeConfigsRequest::default()
        .with_include_synonyms(include_synonyms)
        .with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(text(name)),
        ]);
    let mut response = client.call(4, request).await;
    response.results.remove(0)
}

fn config<'a>(result: &'a DescribeConfigsResult, name: &str) -> &'a DescribeConfigsResourceResult {
    result
        .configs
        .iter()
        .find(|c| c.name.as_str() == name)
        .unwrap_or_else(|| panic!("{name} is described"))
}

/// A described config's value and source.
fn value_and_source(result: &DescribeConfigsResult, name: &str) -> (String, i8) {
    let entry = config(result, name);
    let value = entry.value.as_ref().map(ToString::to_string);
    (value.unwrap_or_default(), entry.config_source)
}

/// The synonyms of a described config as `(name, value, source)`.
fn synonyms(result: &DescribeConfigsResult, name: &str) -> Vec<(String, String, i8)> {
    config(result, name)
        .synonyms
        .iter()
        .map(|s| {
            let value = s.value.as_ref().map(ToString::to_string);
            (s.name.to_string(), value.unwrap_or_default(), s.source)
        })
        .collect()
}

#[tokio::test]
async fn api_versions_advertises_alter_configs_zero_to_two() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let response = client.call(3, ApiVersionsRequest::default()).await;
    let alter_configs = response
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::AlterConfigs as i16)
        .expect("AlterConfigs is advertised");
    assert_eq!(
        (alter_configs.min_version, alter_configs.max_version),
        (0, 2)
    );
    broker.stop().await;
}

#[tokio::test]
async fn alter_configs_at_every_version_sets_overrides() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "legacy", 1).await;
    for version in 0..=2 {
        let retention_ms = format!("{}", 60_000 + i64::from(version));
        let request = alter_request(
            TOPIC,
            "legacy",
            &[("retention.ms", Some(&retention_ms))],
            false,
        );
        let response = client.call(version, request).await;
        assert_eq!(response.responses[0].error_code, 0, "v{version}");
        assert_eq!(response.responses[0].resource_name.as_str(), "legacy");
        let described = describe(&mut client, TOPIC, "legacy", false).await;
        assert_eq!(
            value_and_source(&described, "retention.ms"),
            (retention_ms, DYNAMIC_TOPIC_CONFIG),
            "v{version}"
        );
    }
    broker.stop().await;
}

#[tokio::test]
async fn alter_configs_removes_overrides_it_does_not_name() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "replaced", 1).await;
    let set = [(SET, "retention.ms", "60000")];
    assert_eq!(
        alter_incrementally(&mut client, TOPIC, "replaced", &set).await,
        0
    );
    let entries = [("max.message.bytes", Some("2048"))];
    assert_eq!(alter(&mut client, "replaced", &entries).await, 0);
    let described = describe(&mut client, TOPIC, "replaced", false).await;
    assert_eq!(
        value_and_source(&described, "retention.ms"),
        (DEFAULT_RETENTION_MS.to_owned(), DEFAULT_CONFIG)
    );
    assert_eq!(
        value_and_source(&described, "max.message.bytes"),
        ("2048".to_owned(), DYNAMIC_TOPIC_CONFIG)
    );
    broker.stop().await;
}

#[tokio::test]
async fn alter_configs_with_no_entries_removes_every_override() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "reset", 1).await;
    assert_eq!(
        alter(&mut client, "reset", &[("retention.ms", Some("1000"))]).await,
        0
    );
    assert_eq!(alter(&mut client, "reset", &[]).await, 0);
    let described = describe(&mut client, TOPIC, "reset", false).await;
    assert!(
        described
            .configs
            .iter()
            .all(|c| c.config_source != DYNAMIC_TOPIC_CONFIG)
    );
    broker.stop().await;
}

#[tokio::test]
async fn alter_configs_with_one_invalid_value_changes_nothing() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "atomic", 1).await;
    assert_eq!(
        alter(&mut client, "atomic", &[("retention.ms", Some("60000"))]).await,
        0
    );
    let entries = [
        ("segment.bytes", Some("4096")),
        ("retention.ms", Some("-2")),
    ];
    assert_eq!(alter(&mut client, "atomic", &entries).await, INVALID_CONFIG);
    let unknown = [("no.such.config", Some("1"))];
    assert_eq!(alter(&mut client, "atomic", &unknown).await, INVALID_CONFIG);
    let described = describe(&mut client, TOPIC, "atomic", false).await;
    assert_eq!(
        value_and_source(&described, "retention.ms"),
        ("60000".to_owned(), DYNAMIC_TOPIC_CONFIG)
    );
    assert_eq!(
        value_and_source(&described, "segment.bytes").1,
        DEFAULT_CONFIG
    );
    broker.stop().await;
}

#[tokio::test]
async fn alter_configs_validate_only_checks_without_applying() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "dry-run", 1).await;
    let valid = alter_request(TOPIC, "dry-run", &[("retention.ms", Some("60000"))], true);
    assert_eq!(client.call(2, valid).await.responses[0].error_code, 0);
    let invalid = alter_request(TOPIC, "dry-run", &[("retention.ms", Some("x"))], true);
    let response = client.call(2, invalid).await;
    assert_eq!(response.responses[0].error_code, INVALID_CONFIG);
    let described = describe(&mut client, TOPIC, "dry-run", false).await;
    assert_eq!(
        value_and_source(&described, "retention.ms"),
        (DEFAULT_RETENTION_MS.to_owned(), DEFAULT_CONFIG)
    );
    broker.stop().await;
}

#[tokio::test]
async fn alter_configs_of_an_unknown_topic_is_unknown_topic_or_partition() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let entries = [("retention.ms", Some("60000"))];
    assert_eq!(
        alter(&mut client, "missing", &entries).await,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    broker.stop().await;
}

#[tokio::test]
async fn alter_configs_null_value_or_repeated_name_is_invalid_request() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "strict", 1).await;
    let null = [("retention.ms", None)];
    assert_eq!(alter(&mut client, "strict", &null).await, INVALID_REQUEST);
    let repeated = [("retention.ms", Some("1")), ("retention.ms", Some("2"))];
    assert_eq!(
        alter(&mut client, "strict", &repeated).await,
        INVALID_REQUEST
    );
    broker.stop().await;
}

#[tokio::test]
async fn both_alter_apis_refuse_broker_resources_alike() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let entries = [("log.retention.ms", Some("60000"))];
    let legacy = client
        .call(2, alter_request(BROKER, "1", &entries, false))
        .await;
    let set = [(SET, "log.retention.ms", "60000")];
    let incremental = alter_incrementally(&mut client, BROKER, "1", &set).await;
    assert_eq!(legacy.responses[0].error_code, INVALID_REQUEST);
    assert_eq!(legacy.responses[0].error_code, incremental);
    broker.stop().await;
}

#[tokio::test]
async fn alter_configs_survive_a_restart() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "durable", 1).await;
    assert_eq!(
        alter(&mut client, "durable", &[("retention.ms", Some("60000"))]).await,
        0
    );
    drop(client);
    let broker = broker.restart().await;
    let mut client = broker.client().await;
    let described = describe(&mut client, TOPIC, "durable", false).await;
    assert_eq!(
        value_and_source(&described, "retention.ms"),
        ("60000".to_owned(), DYNAMIC_TOPIC_CONFIG)
    );
    broker.stop().await;
}

#[tokio::test]
async fn cluster_wide_broker_resource_describes_no_configs() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let described = describe(&mut client, BROKER, "", false).await;
    assert_eq!(described.error_code, 0);
    assert!(described.configs.is_empty(), "{:?}", described.configs);
    broker.stop().await;
}

#[tokio::test]
async fn node_broker_resource_describes_its_static_settings() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let described = describe(&mut client, BROKER, "1", false).await;
    assert_eq!(described.error_code, 0);
    assert_eq!(value_and_source(&described, "node.id").0, "1");
    broker.stop().await;
}

/// `(name, value, source)` of one synonym.
fn synonym(name: &str, value: &str, source: i8) -> (String, String, i8) {
    (name.to_owned(), value.to_owned(), source)
}

#[tokio::test]
async fn topic_config_synonyms_are_the_override_then_the_broker_default() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "layered", 1).await;
    assert_eq!(
        alter(&mut client, "layered", &[("retention.ms", Some("60000"))]).await,
        0
    );
    let described = describe(&mut client, TOPIC, "layered", true).await;
    assert_eq!(
        synonyms(&described, "retention.ms"),
        [
            synonym("retention.ms", "60000", DYNAMIC_TOPIC_CONFIG),
            synonym("log.retention.ms", DEFAULT_RETENTION_MS, DEFAULT_CONFIG),
        ]
    );
    assert_eq!(
        synonyms(&described, "max.message.bytes"),
        [synonym("message.max.bytes", "1048588", DEFAULT_CONFIG)]
    );
    assert_eq!(
        synonyms(&described, "segment.ms"),
        [synonym("log.roll.ms", "604800000", DEFAULT_CONFIG)]
    );
    broker.stop().await;
}

#[tokio::test]
async fn topic_config_falls_back_to_the_configured_broker_setting() {
    let broker = TestBroker::start_with(|config| config.log.retention_ms = 3_600_000).await;
    let mut client = broker.client().await;
    create_topic(&mut client, "inherited", 1).await;
    let described = describe(&mut client, TOPIC, "inherited", true).await;
    assert_eq!(
        value_and_source(&described, "retention.ms"),
        ("3600000".to_owned(), STATIC_BROKER_CONFIG)
    );
    assert_eq!(
        synonyms(&described, "retention.ms"),
        [
            synonym("log.retention.ms", "3600000", STATIC_BROKER_CONFIG),
            synonym("log.retention.ms", DEFAULT_RETENTION_MS, DEFAULT_CONFIG),
        ]
    );
    broker.stop().await;
}

#[tokio::test]
async fn synonyms_are_empty_unless_requested() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "plain", 1).await;
    assert_eq!(
        alter(&mut client, "plain", &[("retention.ms", Some("60000"))]).await,
        0
    );
    let topic = describe(&mut client, TOPIC, "plain", false).await;
    assert!(topic.configs.iter().all(|c| c.synonyms.is_empty()));
    let node = describe(&mut client, BROKER, "1", false).await;
    assert!(node.configs.iter().all(|c| c.synonyms.is_empty()));
    broker.stop().await;
}

#[tokio::test]
async fn broker_config_synonym_is_the_setting_itself() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let described = describe(&mut client, BROKER, "1", true).await;
    assert_eq!(
        synonyms(&described, "num.partitions"),
        [synonym("num.partitions", "1", DEFAULT_CONFIG)]
    );
    assert_eq!(
        value_and_source(&described, "num.partitions").1,
        DEFAULT_CONFIG
    );
    // The test broker listens on port 0: configured, not the default.
    assert_eq!(
        synonyms(&described, "listeners"),
        [
            synonym("listeners", "127.0.0.1:0", STATIC_BROKER_CONFIG),
            synonym("listeners", "127.0.0.1:9092", DEFAULT_CONFIG),
        ]
    );
    assert_eq!(
        value_and_source(&described, "listeners").1,
        STATIC_BROKER_CONFIG
    );
    broker.stop().await;
}

#[tokio::test]
async fn appended_cleanup_policy_keeps_the_order_given() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "ordered", 1).await;
    let set = [(SET, "cleanup.policy", "delete")];
    assert_eq!(
        alter_incrementally(&mut client, TOPIC, "ordered", &set).await,
        0
    );
    let append = [(APPEND, "cleanup.policy", "compact")];
    assert_eq!(
        alter_incrementally(&mut client, TOPIC, "ordered", &append).await,
        0
    );
    let described = describe(&mut client, TOPIC, "ordered", false).await;
    assert_eq!(
        value_and_source(&described, "cleanup.policy"),
        ("delete,compact".to_owned(), DYNAMIC_TOPIC_CONFIG)
    );
    broker.stop().await;
}

/// The configs a single node records without acting on them are described at
/// Kafka's defaults until a topic overrides them, as `kafka-configs
/// --describe --all` lists them on Kafka.
#[tokio::test]
async fn recorded_only_configs_are_described_at_kafkas_defaults_until_overridden() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "recorded", 1).await;
    let described = describe(&mut client, TOPIC, "recorded", false).await;
    for (name, value) in [
        ("min.insync.replicas", "1"),
        ("compression.type", "producer"),
        ("unclean.leader.election.enable", "false"),
        ("message.timestamp.after.max.ms", "3600000"),
    ] {
        assert_eq!(
            value_and_source(&described, name),
            (value.to_owned(), DEFAULT_CONFIG),
            "{name}"
        );
    }
    let set = [(SET, "min.insync.replicas", "2")];
    assert_eq!(
        alter_incrementally(&mut client, TOPIC, "recorded", &set).await,
        0
    );
    let described = describe(&mut client, TOPIC, "recorded", false).await;
    assert_eq!(
        value_and_source(&described, "min.insync.replicas"),
        ("2".to_owned(), DYNAMIC_TOPIC_CONFIG)
    );
    let names: Vec<&str> = described.configs.iter().map(|c| c.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(names, sorted, "each config once, in name order");
    broker.stop().await;
}

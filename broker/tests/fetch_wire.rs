//! Fetch responses on the wire, now that they are written as chunks: every
//! served version decodes, carries the produced records, and is byte for
//! byte what `kafka-protocol` would have encoded for the same response.

#[path = "support/mod.rs"]
mod support;

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    CreateTopicsRequest, FetchRequest, FetchResponse, MetadataRequest, ProduceRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use sluice_protocol::{decode_response, encode_response, supported_versions};
use support::{Client, TestBroker, batch};
use uuid::Uuid;

const TOPIC: &str = "wire";
const PARTITIONS: i32 = 3;

fn topic_name() -> TopicName {
    TopicName(StrBytes::from_static_str(TOPIC))
}

/// Values long enough that each partition's records are a chunk of their own
/// (the connection only gathers chunks of a few hundred bytes).
fn values(partition: i32) -> Vec<String> {
    (0..20)
        .map(|i| format!("p{partition}-r{i}-{}", "v".repeat(100)))
        .collect()
}

async fn create_and_fill(client: &mut Client) {
    let create = CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(topic_name())
                .with_num_partitions(PARTITIONS)
                .with_replication_factor(1),
        ])
        .with_timeout_ms(10_000);
    assert_eq!(client.call(7, create).await.topics[0].error_code, 0);
    for partition in 0..PARTITIONS {
        let values = values(partition);
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let produce = ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(topic_name())
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(partition)
                            .with_records(Some(batch(&refs))),
                    ]),
            ]);
        let response = client.call(9, produce).await;
        assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
    }
}

async fn topic_id(client: &mut Client) -> Uuid {
    let metadata = client
        .call(12, MetadataRequest::default().with_topics(None))
        .await;
    metadata
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == TOPIC))
        .map(|t| t.topic_id)
        .expect("the topic is listed")
}

fn fetch_every_partition(topic_id: Uuid) -> FetchRequest {
    let partitions = (0..PARTITIONS)
        .map(|partition| {
            FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)
        })
        .collect();
    FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(4 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(topic_name())
                .with_topic_id(topic_id)
                .with_partitions(partitions),
        ])
}

fn values_in(records: Option<Bytes>) -> Vec<String> {
    sluice_protocol::RecordBatches::new(records.unwrap_or_default())
        .flat_map(|batch| {
            batch
                .expect("valid batch")
                .records(1 << 20)
                .expect("records")
        })
        .map(|record| {
            let value = record.expect("valid record").value.unwrap_or_default();
            String::from_utf8_lossy(&value).into_owned()
        })
        .collect()
}

#[tokio::test]
async fn every_fetch_version_returns_the_records_as_kafka_protocol_would_encode_them() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_and_fill(&mut client).await;
    let topic_id = topic_id(&mut client).await;
    let versions =
        supported_versions(kafka_protocol::messages::ApiKey::Fetch).expect("Fetch is served");
    for version in versions.min_version..=versions.max_version {
        let (correlation_id, frame) = client.encode(version, &fetch_every_partition(topic_id));
        client.send_frame(frame).await;
        let raw = client.next_frame().await.expect("a response");
        let (echoed, response) =
            decode_response::<FetchResponse>(raw.clone(), version).expect("the response decodes");
        assert_eq!(echoed, correlation_id, "version {version}");
        let reencoded = encode_response(correlation_id, version, &response).expect("re-encodes");
        assert_eq!(raw, reencoded, "version {version}");
        let partitions = &response.responses[0].partitions;
        assert_eq!(partitions.len(), PARTITIONS as usize, "version {version}");
        for (partition, data) in (0..PARTITIONS).zip(partitions) {
            assert_eq!(data.error_code, 0, "version {version}");
            assert_eq!(
                values_in(data.records.clone()),
                values(partition),
                "version {version}"
            );
        }
    }
    broker.stop().await;
}

//! Integration tests: the broker in-process on 127.0.0.1:0, driven over TCP
//! with `kafka-protocol`-encoded requests.

#[path = "../support/mod.rs"]
mod support;

mod admin;
mod configs;
mod data;
mod disk_room;
mod groups;
mod limits;
mod robustness;

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    CreateTopicsRequest, FetchRequest, FetchResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use sluice_protocol::RecordBatches;
use support::Client;

/// Versions the tests speak (modern clients' choices).
pub const PRODUCE_VERSION: i16 = 9;
pub const FETCH_VERSION: i16 = 12;

pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

/// Creates `name` with `partitions` partitions; returns the error code.
pub async fn create_topic(client: &mut Client, name: &str, partitions: i32) -> i16 {
    let request = CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(topic_name(name))
                .with_num_partitions(partitions)
                .with_replication_factor(1),
        ])
        .with_timeout_ms(10_000);
    client.call(7, request).await.topics[0].error_code
}

pub fn produce_request(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records)),
                ]),
        ])
}

/// Produces with acks=1; returns (error code, base offset).
pub async fn produce(
    client: &mut Client,
    topic: &str,
    partition: i32,
    records: Bytes,
) -> (i16, i64) {
    let response: ProduceResponse = client
        .call(
            PRODUCE_VERSION,
            produce_request(topic, partition, records, 1),
        )
        .await;
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

pub fn fetch_request(topic: &str, offset: i64, max_wait_ms: i32, min_bytes: i32) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ])
}

/// (offset, value) of every record in partition 0 of a fetch response.
pub fn fetched_records(response: &FetchResponse) -> Vec<(i64, String)> {
    let records = response.responses[0].partitions[0]
        .records
        .clone()
        .unwrap_or_default();
    RecordBatches::new(records)
        .flat_map(|batch| {
            batch
                .expect("valid batch")
                .records(1 << 20)
                .expect("records")
        })
        .map(|record| {
            let record = record.expect("valid record");
            let value = String::from_utf8_lossy(&record.value.unwrap_or_default()).into_owned();
            (record.offset, value)
        })
        .collect()
}

/// Fetches everything from `offset` without waiting.
pub async fn fetch_all(client: &mut Client, topic: &str, offset: i64) -> FetchResponse {
    client
        .call(FETCH_VERSION, fetch_request(topic, offset, 0, 0))
        .await
}

//! Produce, Fetch, ListOffsets, DeleteRecords, idempotence and restarts.

use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::describe_producers_response::PartitionResponse;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    DeleteRecordsRequest, DescribeProducersRequest, InitProducerIdRequest, ListOffsetsRequest,
    MetadataRequest, ProduceResponse,
};
use sluice_protocol::{ErrorCode, decode_response};

use crate::support::{TestBroker, batch, idempotent_batch, within};
use crate::{
    FETCH_VERSION, PRODUCE_VERSION, create_topic, fetch_all, fetch_request, fetched_records,
    produce, produce_request, topic_name,
};

fn values(records: &[(i64, String)]) -> Vec<(i64, &str)> {
    records.iter().map(|(o, v)| (*o, v.as_str())).collect()
}

async fn list_offset(client: &mut crate::support::Client, topic: &str, timestamp: i64) -> i64 {
    let request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(timestamp),
                ]),
        ]);
    let response = client.call(7, request).await;
    let partition = &response.topics[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    partition.offset
}

#[tokio::test]
async fn produced_records_are_fetched_with_dense_offsets() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "events", 1).await;
    assert_eq!(
        produce(&mut client, "events", 0, batch(&["a", "b"])).await,
        (0, 0)
    );
    assert_eq!(
        produce(&mut client, "events", 0, batch(&["c"])).await,
        (0, 2)
    );
    let response = fetch_all(&mut client, "events", 0).await;
    assert_eq!(response.responses[0].partitions[0].high_watermark, 3);
    assert_eq!(
        values(&fetched_records(&response)),
        vec![(0, "a"), (1, "b"), (2, "c")]
    );
    broker.stop().await;
}

#[tokio::test]
async fn long_poll_fetch_returns_once_data_arrives() {
    let broker = TestBroker::start().await;
    let mut consumer = broker.client().await;
    let mut producer = broker.client().await;
    create_topic(&mut consumer, "waiting", 1).await;
    // Waits up to 30 s for one byte; the produce below must end the wait.
    let (_, frame) = consumer.encode(FETCH_VERSION, &fetch_request("waiting", 0, 30_000, 1));
    consumer.send_frame(frame).await;
    produce(&mut producer, "waiting", 0, batch(&["late"])).await;
    let response = consumer.next_frame().await.unwrap();
    let (_, body) =
        decode_response::<kafka_protocol::messages::FetchResponse>(response, FETCH_VERSION)
            .unwrap();
    assert_eq!(values(&fetched_records(&body)), vec![(0, "late")]);
    broker.stop().await;
}

#[tokio::test]
async fn long_poll_over_many_topics_returns_once_any_of_them_gets_data() {
    let broker = TestBroker::start().await;
    let mut consumer = broker.client().await;
    let mut producer = broker.client().await;
    let names: Vec<String> = (0..8).map(|i| format!("quiet-{i}")).collect();
    for name in &names {
        create_topic(&mut consumer, name, 1).await;
    }
    // One request over all eight (their partitions fall in several wake-up
    // shards), waiting up to 30 s: data in the last one must end the wait.
    let mut request = fetch_request(&names[0], 0, 30_000, 1);
    let template = request.topics[0].clone();
    request.topics = names
        .iter()
        .map(|name| template.clone().with_topic(topic_name(name)))
        .collect();
    let (_, frame) = consumer.encode(FETCH_VERSION, &request);
    consumer.send_frame(frame).await;
    // Only once the fetch is parked does the produce test the wake-up.
    within(async {
        while broker.broker().parked_fetches() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    produce(&mut producer, &names[7], 0, batch(&["late"])).await;
    let response = tokio::time::timeout(std::time::Duration::from_secs(10), consumer.next_frame())
        .await
        .expect("the append ends the long poll")
        .unwrap();
    let (_, body) =
        decode_response::<kafka_protocol::messages::FetchResponse>(response, FETCH_VERSION)
            .unwrap();
    let last = &body.responses[7];
    assert_eq!(last.topic, topic_name(&names[7]));
    assert!(
        last.partitions[0]
            .records
            .as_ref()
            .is_some_and(|r| !r.is_empty())
    );
    assert!(body.responses[..7].iter().all(|t| {
        t.partitions[0]
            .records
            .as_ref()
            .is_none_or(|r| r.is_empty())
    }));
    broker.stop().await;
}

#[tokio::test]
async fn fetch_beyond_the_log_end_is_offset_out_of_range() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "short", 1).await;
    let response = fetch_all(&mut client, "short", 5).await;
    assert_eq!(
        response.responses[0].partitions[0].error_code,
        ErrorCode::OffsetOutOfRange.code()
    );
    broker.stop().await;
}

#[tokio::test]
async fn produce_to_an_unknown_topic_is_unknown_topic_or_partition() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let (code, _) = produce(&mut client, "nowhere", 0, batch(&["x"])).await;
    assert_eq!(code, ErrorCode::UnknownTopicOrPartition.code());
    broker.stop().await;
}

#[tokio::test]
async fn list_offsets_reports_earliest_and_latest() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "offsets", 1).await;
    produce(&mut client, "offsets", 0, batch(&["a", "b", "c"])).await;
    assert_eq!(list_offset(&mut client, "offsets", -2).await, 0);
    assert_eq!(list_offset(&mut client, "offsets", -1).await, 3);
    assert_eq!(
        list_offset(&mut client, "offsets", 1_700_000_000_000).await,
        0
    );
    broker.stop().await;
}

#[tokio::test]
async fn delete_records_moves_the_log_start_offset() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "trimmed", 1).await;
    produce(&mut client, "trimmed", 0, batch(&["a", "b", "c"])).await;
    let request = DeleteRecordsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![
            DeleteRecordsTopic::default()
                .with_name(topic_name("trimmed"))
                .with_partitions(vec![
                    DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(2),
                ]),
        ]);
    let response = client.call(2, request).await;
    assert_eq!(response.topics[0].partitions[0].low_watermark, 2);
    assert_eq!(list_offset(&mut client, "trimmed", -2).await, 2);
    broker.stop().await;
}

#[tokio::test]
async fn retried_idempotent_batch_gets_its_original_offset_and_is_written_once() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "exactly", 1).await;
    let init = client
        .call(
            4,
            InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000),
        )
        .await;
    let producer_id = init.producer_id.0;
    assert_eq!(init.error_code, 0);
    let first = idempotent_batch(&["a", "b"], producer_id, 0, 0);
    assert_eq!(
        produce(&mut client, "exactly", 0, first.clone()).await,
        (0, 0)
    );
    assert_eq!(
        produce(
            &mut client,
            "exactly",
            0,
            idempotent_batch(&["c"], producer_id, 0, 2)
        )
        .await,
        (0, 2)
    );
    assert_eq!(produce(&mut client, "exactly", 0, first).await, (0, 0));
    let response = fetch_all(&mut client, "exactly", 0).await;
    assert_eq!(fetched_records(&response).len(), 3);
    broker.stop().await;
}

#[tokio::test]
async fn sequence_gap_is_out_of_order_sequence_number() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "gappy", 1).await;
    produce(&mut client, "gappy", 0, idempotent_batch(&["a"], 9, 0, 0)).await;
    let (code, _) = produce(&mut client, "gappy", 0, idempotent_batch(&["c"], 9, 0, 5)).await;
    assert_eq!(code, ErrorCode::OutOfOrderSequenceNumber.code());
    broker.stop().await;
}

#[tokio::test]
async fn acks_zero_produce_gets_no_response_and_later_requests_are_answered() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "fire", 1).await;
    let (_, silent) = client.encode(
        PRODUCE_VERSION,
        &produce_request("fire", 0, batch(&["x"]), 0),
    );
    client.send_frame(silent).await;
    let (metadata_id, frame) = client.encode(12, &MetadataRequest::default());
    client.send_frame(frame).await;
    let response = client.next_frame().await.unwrap();
    let (echoed, _) =
        decode_response::<kafka_protocol::messages::MetadataResponse>(response, 12).unwrap();
    assert_eq!(echoed, metadata_id);
    assert_eq!(
        fetched_records(&fetch_all(&mut client, "fire", 0).await).len(),
        1
    );
    broker.stop().await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "piped", 1).await;
    // A long-polling fetch first, then a produce that completes it: the fetch
    // response must still come first.
    let (fetch_id, fetch) = client.encode(FETCH_VERSION, &fetch_request("piped", 0, 30_000, 1));
    let (produce_id, write) = client.encode(
        PRODUCE_VERSION,
        &produce_request("piped", 0, batch(&["p"]), 1),
    );
    client.send_frame(fetch).await;
    client.send_frame(write).await;
    let first = client.next_frame().await.unwrap();
    let second = client.next_frame().await.unwrap();
    let (first_id, _) =
        decode_response::<kafka_protocol::messages::FetchResponse>(first, FETCH_VERSION).unwrap();
    let (second_id, _) = decode_response::<ProduceResponse>(second, PRODUCE_VERSION).unwrap();
    assert_eq!((first_id, second_id), (fetch_id, produce_id));
    broker.stop().await;
}

#[tokio::test]
async fn restart_keeps_topics_ids_and_records() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "durable", 2).await;
    produce(&mut client, "durable", 0, batch(&["kept"])).await;
    let before = client
        .call(12, MetadataRequest::default().with_topics(None))
        .await;
    drop(client);
    let broker = within(broker.restart()).await;
    let mut client = broker.client().await;
    let after = client
        .call(12, MetadataRequest::default().with_topics(None))
        .await;
    let id = |m: &kafka_protocol::messages::MetadataResponse| {
        m.topics
            .iter()
            .find(|t| t.name.as_deref().map(|n| n.as_str()) == Some("durable"))
            .map(|t| (t.topic_id, t.partitions.len()))
    };
    assert_eq!(id(&after), id(&before));
    assert_eq!(after.cluster_id, before.cluster_id);
    assert_eq!(
        values(&fetched_records(
            &fetch_all(&mut client, "durable", 0).await
        )),
        vec![(0, "kept")]
    );
    broker.stop().await;
}

#[tokio::test]
async fn idempotent_retry_after_restart_is_still_recognised() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "replayed", 1).await;
    let first = idempotent_batch(&["once"], 77, 0, 0);
    produce(&mut client, "replayed", 0, first.clone()).await;
    drop(client);
    let broker = broker.restart().await;
    let mut client = broker.client().await;
    assert_eq!(produce(&mut client, "replayed", 0, first).await, (0, 0));
    assert_eq!(
        fetched_records(&fetch_all(&mut client, "replayed", 0).await).len(),
        1
    );
    broker.stop().await;
}

#[tokio::test]
async fn pipelined_idempotent_produces_are_appended_in_request_order() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "inflight", 1).await;
    // Five batches in flight at once, as an idempotent Java producer sends them.
    let mut ids = Vec::new();
    for sequence in 0..5 {
        let records = idempotent_batch(&["r"], 5, 0, sequence);
        let (id, frame) = client.encode(
            PRODUCE_VERSION,
            &produce_request("inflight", 0, records, -1),
        );
        client.send_frame(frame).await;
        ids.push(id);
    }
    for (expected_offset, id) in ids.into_iter().enumerate() {
        let frame = client.next_frame().await.unwrap();
        let (echoed, body) = decode_response::<ProduceResponse>(frame, PRODUCE_VERSION).unwrap();
        let partition = &body.responses[0].partition_responses[0];
        assert_eq!((echoed, partition.error_code), (id, 0));
        assert_eq!(partition.base_offset, expected_offset as i64);
    }
    broker.stop().await;
}

#[tokio::test]
async fn fetch_by_topic_id_reads_the_topic() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "by-id", 1).await;
    produce(&mut client, "by-id", 0, batch(&["x"])).await;
    let metadata = client
        .call(12, MetadataRequest::default().with_topics(None))
        .await;
    let topic_id = metadata
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.to_string() == "by-id"))
        .map(|t| t.topic_id)
        .unwrap();
    let mut request = fetch_request("", 0, 0, 0);
    request.topics[0].topic_id = topic_id;
    let response = client.call(16, request).await;
    assert_eq!(response.responses[0].topic_id, topic_id);
    assert_eq!(values(&fetched_records(&response)), vec![(0, "x")]);
    broker.stop().await;
}

#[tokio::test]
async fn retention_deletes_old_sealed_segments_in_the_background() {
    use kafka_protocol::messages::CreateTopicsRequest;
    use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
    use kafka_protocol::protocol::StrBytes;

    let broker = TestBroker::start_with(|c| c.log_retention_check_interval_ms = 20).await;
    let mut client = broker.client().await;
    let config = |name: &'static str, value: &'static str| {
        CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str(name))
            .with_value(Some(StrBytes::from_static_str(value)))
    };
    // Tiny segments (one batch each) whose 2023 timestamps are past retention.ms.
    let request = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(topic_name("expiring"))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(vec![
                config("segment.bytes", "100"),
                config("retention.ms", "1000"),
            ]),
    ]);
    assert_eq!(client.call(7, request).await.topics[0].error_code, 0);
    for value in ["a", "b", "c"] {
        assert_eq!(
            produce(&mut client, "expiring", 0, batch(&[value])).await.0,
            0
        );
    }
    within(async {
        while list_offset(&mut client, "expiring", -2).await == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    // The active segment is never deleted: the newest record is still readable.
    assert_eq!(list_offset(&mut client, "expiring", -1).await, 3);
    broker.stop().await;
}

/// DescribeProducers of one partition.
async fn describe_producers(
    client: &mut crate::support::Client,
    topic: &str,
    partition: i32,
) -> PartitionResponse {
    let request = DescribeProducersRequest::default().with_topics(vec![
        TopicRequest::default()
            .with_name(topic_name(topic))
            .with_partition_indexes(vec![partition]),
    ]);
    let mut response = client.call(0, request).await;
    response.topics.remove(0).partitions.remove(0)
}

/// (producer id, epoch, last sequence, last timestamp, coordinator epoch,
/// transaction start offset) of each active producer.
fn producer_rows(partition: &PartitionResponse) -> Vec<(i64, i32, i32, i64, i32, i64)> {
    partition
        .active_producers
        .iter()
        .map(|p| {
            (
                p.producer_id.0,
                p.producer_epoch,
                p.last_sequence,
                p.last_timestamp,
                p.coordinator_epoch,
                p.current_txn_start_offset,
            )
        })
        .collect()
}

#[tokio::test]
async fn describe_producers_lists_idempotent_producers_with_their_last_sequence() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "tracked", 1).await;
    produce(&mut client, "tracked", 0, batch(&["plain"])).await;
    produce(
        &mut client,
        "tracked",
        0,
        idempotent_batch(&["a", "b"], 7, 1, 0),
    )
    .await;
    produce(&mut client, "tracked", 0, idempotent_batch(&["c"], 7, 1, 2)).await;
    produce(&mut client, "tracked", 0, idempotent_batch(&["d"], 3, 0, 0)).await;
    let partition = describe_producers(&mut client, "tracked", 0).await;
    assert_eq!(partition.error_code, 0);
    assert_eq!(
        producer_rows(&partition),
        vec![
            (3, 0, 0, 1_700_000_000_000, -1, -1),
            (7, 1, 2, 1_700_000_000_000, -1, -1)
        ]
    );
    broker.stop().await;
}

#[tokio::test]
async fn describe_producers_of_a_partition_without_idempotent_writes_is_empty() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "untracked", 1).await;
    produce(&mut client, "untracked", 0, batch(&["plain"])).await;
    let partition = describe_producers(&mut client, "untracked", 0).await;
    assert_eq!(partition.error_code, 0);
    assert!(partition.active_producers.is_empty());
    broker.stop().await;
}

#[tokio::test]
async fn describe_producers_of_an_unknown_partition_is_unknown_topic_or_partition() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "single", 1).await;
    for (topic, partition) in [("single", 1), ("nowhere", 0)] {
        let response = describe_producers(&mut client, topic, partition).await;
        assert_eq!(
            response.error_code,
            ErrorCode::UnknownTopicOrPartition.code()
        );
    }
    broker.stop().await;
}

#[tokio::test]
async fn describe_producers_after_a_restart_reports_producers_rebuilt_from_the_log() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "durable", 1).await;
    produce(
        &mut client,
        "durable",
        0,
        idempotent_batch(&["a", "b", "c"], 11, 2, 0),
    )
    .await;
    drop(client);
    let broker = broker.restart().await;
    let mut client = broker.client().await;
    let partition = describe_producers(&mut client, "durable", 0).await;
    assert_eq!(
        producer_rows(&partition),
        vec![(11, 2, 2, 1_700_000_000_000, -1, -1)]
    );
    broker.stop().await;
}

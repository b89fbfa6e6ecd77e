//! Bad input: corrupt batches, garbage and oversized frames, unknown versions.

use bytes::Bytes;
use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};
use sluice_protocol::{BatchBuilder, Compression, ErrorCode, RecordBatchView};

use crate::support::{TestBroker, batch, within};
use crate::{create_topic, fetch_all, fetched_records, produce};

#[tokio::test]
async fn corrupt_batch_is_corrupt_message_and_leaves_the_log_unchanged() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "guarded", 1).await;
    let mut damaged = batch(&["payload"]).to_vec();
    let last = damaged.len() - 1;
    damaged[last] ^= 0x55;
    let (code, _) = produce(&mut client, "guarded", 0, damaged.into()).await;
    assert_eq!(code, ErrorCode::CorruptMessage.code());
    assert!(fetched_records(&fetch_all(&mut client, "guarded", 0).await).is_empty());
    broker.stop().await;
}

/// An LZ4 batch whose frame links its blocks (as JavaScript's lz4js writes)
/// is refused as Kafka refuses it (UNKNOWN_SERVER_ERROR: resending cannot
/// help), and nothing is stored: a Java consumer could not read it.
#[tokio::test]
async fn lz4_batch_with_dependent_blocks_is_refused_and_not_stored() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "lz4-linked", 1).await;
    let mut builder = BatchBuilder::new(Compression::Lz4, 1 << 20);
    assert!(builder.append(1_700_000_000_000, None, Some(b"payload"), &[]));
    let mut linked = builder.build().expect("build batch").to_vec();
    // The frame descriptor's FLG byte follows the 61-byte batch header and
    // the 4-byte frame magic; clear its block-independence bit (the header
    // checksum is not what refuses it) and seal the batch with a fresh CRC.
    linked[61 + 4] &= !(1 << 5);
    let crc = RecordBatchView::parse(Bytes::from(linked.clone()))
        .expect("a batch")
        .compute_crc();
    linked[17..21].copy_from_slice(&crc.to_be_bytes());
    let (code, _) = produce(&mut client, "lz4-linked", 0, linked.into()).await;
    assert_eq!(code, ErrorCode::UnknownServerError.code());
    assert!(fetched_records(&fetch_all(&mut client, "lz4-linked", 0).await).is_empty());
    // The same records in an ordinary LZ4 frame are taken.
    let mut builder = BatchBuilder::new(Compression::Lz4, 1 << 20);
    assert!(builder.append(1_700_000_000_000, None, Some(b"payload"), &[]));
    let (code, _) = produce(
        &mut client,
        "lz4-linked",
        0,
        builder.build().expect("batch"),
    )
    .await;
    assert_eq!(code, 0);
    broker.stop().await;
}

#[tokio::test]
async fn batch_over_message_max_bytes_is_message_too_large() {
    let broker = TestBroker::start_with(|c| c.message_max_bytes = 1024).await;
    let mut client = broker.client().await;
    create_topic(&mut client, "small", 1).await;
    let big = "x".repeat(4096);
    let (code, _) = produce(&mut client, "small", 0, batch(&[&big])).await;
    assert_eq!(code, ErrorCode::MessageTooLarge.code());
    broker.stop().await;
}

#[tokio::test]
async fn oversized_length_prefix_closes_only_that_connection() {
    let broker = TestBroker::start().await;
    let mut bystander = broker.client().await;
    let mut attacker = broker.client().await;
    attacker.send_raw(&0x7fff_fff0i32.to_be_bytes()).await;
    assert!(attacker.is_closed().await);
    let response = bystander.call(12, MetadataRequest::default()).await;
    assert!(!response.brokers.is_empty());
    broker.stop().await;
}

#[tokio::test]
async fn garbage_frame_closes_only_that_connection() {
    let broker = TestBroker::start().await;
    let mut bystander = broker.client().await;
    let mut attacker = broker.client().await;
    attacker
        .send_raw(&[0, 0, 0, 6, 0x7f, 0x7f, 1, 2, 3, 4])
        .await;
    assert!(attacker.is_closed().await);
    assert_eq!(
        bystander
            .call(3, ApiVersionsRequest::default())
            .await
            .error_code,
        0
    );
    broker.stop().await;
}

#[tokio::test]
async fn truncated_request_body_closes_the_connection() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let (_, frame) = client.encode(12, &MetadataRequest::default());
    // Keep the header (api key, version, correlation id) and cut the body.
    client.send_frame(frame.slice(..frame.len() - 3)).await;
    assert!(client.is_closed().await);
    broker.stop().await;
}

#[tokio::test]
async fn unsupported_version_of_a_non_api_versions_request_closes_the_connection() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let (_, frame) = client.encode(12, &MetadataRequest::default());
    let mut frame = frame.to_vec();
    frame[2..4].copy_from_slice(&13i16.to_be_bytes());
    client.send_frame(frame.into()).await;
    assert!(client.is_closed().await);
    broker.stop().await;
}

#[tokio::test]
async fn idle_connection_is_closed_after_connections_max_idle_ms() {
    let broker = TestBroker::start_with(|c| c.connections_max_idle_ms = 50).await;
    let mut client = broker.client().await;
    // Nothing is sent; the broker must hang up on its own (bounded by the step timeout).
    assert!(client.is_closed().await);
    broker.stop().await;
}

#[tokio::test]
async fn shutdown_answers_a_waiting_long_poll_fetch() {
    use crate::{FETCH_VERSION, fetch_request};
    use kafka_protocol::messages::FetchResponse;
    use sluice_protocol::decode_response;

    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "quiet", 1).await;
    let (id, frame) = client.encode(FETCH_VERSION, &fetch_request("quiet", 0, 600_000, 1));
    client.send_frame(frame).await;
    // Shutdown stops reading new requests, so wait (bounded) until the broker
    // has read the fetch and parked it.
    within(async {
        while broker.broker().parked_fetches() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    let stopping = tokio::spawn(broker.stop());
    let response = client
        .next_frame()
        .await
        .expect("the fetch is answered, not dropped");
    let (echoed, _) = decode_response::<FetchResponse>(response, FETCH_VERSION).unwrap();
    assert_eq!(echoed, id);
    stopping.await.unwrap();
}

/// `frame` (a request whose body ends with an empty array) with that
/// array's INT32 count set to `i32::MAX` and 15 bytes after it: the shape
/// of the requests that made kafka-protocol 0.18.0 allocate ~150 GB and
/// abort the broker.
fn with_huge_final_array_count(frame: Bytes) -> Bytes {
    let mut frame = frame.to_vec();
    let count_at = frame.len() - 4;
    assert_eq!(
        frame[count_at..],
        [0, 0, 0, 0],
        "body ends with an empty array"
    );
    frame[count_at..].copy_from_slice(&i32::MAX.to_be_bytes());
    frame.extend_from_slice(&[0; 15]);
    frame.into()
}

/// Sends `frame` on a fresh connection, expects it closed, then checks the
/// broker still answers Metadata on a new connection.
async fn huge_count_closes_the_connection_and_the_broker_serves_on(
    broker: &TestBroker,
    frame: Bytes,
) {
    let mut attacker = broker.client().await;
    attacker
        .send_frame(with_huge_final_array_count(frame))
        .await;
    assert!(attacker.is_closed().await);
    let mut next = broker.client().await;
    let response = next.call(12, MetadataRequest::default()).await;
    assert!(!response.brokers.is_empty());
}

#[tokio::test]
async fn metadata_v1_claiming_2_pow_31_topics_closes_the_connection_and_the_broker_serves_on() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let (_, frame) = client.encode(1, &MetadataRequest::default().with_topics(Some(vec![])));
    huge_count_closes_the_connection_and_the_broker_serves_on(&broker, frame).await;
    broker.stop().await;
}

#[tokio::test]
async fn produce_v3_claiming_2_pow_31_topics_closes_the_connection_and_the_broker_serves_on() {
    use kafka_protocol::messages::ProduceRequest;

    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let request = ProduceRequest::default().with_acks(1).with_timeout_ms(1000);
    let (_, frame) = client.encode(3, &request);
    huge_count_closes_the_connection_and_the_broker_serves_on(&broker, frame).await;
    broker.stop().await;
}

#[tokio::test]
async fn join_group_v5_claiming_2_pow_31_protocols_closes_the_connection_and_the_broker_serves_on()
{
    use kafka_protocol::messages::{GroupId, JoinGroupRequest};
    use kafka_protocol::protocol::StrBytes;

    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let request = JoinGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("victims")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(StrBytes::from_static_str("consumer"));
    let (_, frame) = client.encode(5, &request);
    huge_count_closes_the_connection_and_the_broker_serves_on(&broker, frame).await;
    broker.stop().await;
}

//! Bad input: corrupt batches, garbage and oversized frames, unknown versions.

use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};
use sluice_protocol::ErrorCode;

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

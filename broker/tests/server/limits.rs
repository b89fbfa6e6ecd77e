//! The front door's limits: `max.connections`, `max.connections.per.ip`,
//! `connections.max.idle.ms` on a stalled frame, the broker-wide
//! `queued.max.request.bytes` pool, and the listener that opens only once
//! the broker can answer.

use std::time::Duration;

use kafka_protocol::messages::ApiVersionsRequest;
use sluice_broker::BrokerError;

use crate::support::{Client, TestBroker, batch, test_config, within};
use crate::{create_topic, produce};

/// Whether `client` gets an ApiVersions answer.
async fn answers(client: &mut Client) -> bool {
    let (_, frame) = client.encode(3, &ApiVersionsRequest::default());
    client.send_frame(frame).await;
    client.next_frame().await.is_some()
}

/// Connects until the broker keeps a connection (a slot may take a moment
/// to be given back after a client hangs up).
async fn admitted_client(broker: &TestBroker) -> Client {
    within(async {
        loop {
            let mut client = broker.client().await;
            if answers(&mut client).await {
                return client;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

#[tokio::test]
async fn connection_over_max_connections_is_closed_at_once() {
    let broker = TestBroker::start_with(|c| c.max_connections = 2).await;
    let mut first = broker.client().await;
    let mut second = broker.client().await;
    assert!(answers(&mut first).await && answers(&mut second).await);
    let mut third = broker.client().await;
    assert!(third.is_closed().await);
    assert!(
        answers(&mut first).await,
        "admitted connections are unharmed"
    );
    drop(first);
    let mut fourth = admitted_client(&broker).await;
    assert!(answers(&mut fourth).await);
    broker.stop().await;
}

#[tokio::test]
async fn connection_over_max_connections_per_ip_is_closed_at_once() {
    let broker = TestBroker::start_with(|c| c.max_connections_per_ip = 1).await;
    let mut first = broker.client().await;
    assert!(answers(&mut first).await);
    let mut second = broker.client().await;
    assert!(second.is_closed().await);
    drop(first);
    let mut again = admitted_client(&broker).await;
    assert!(answers(&mut again).await);
    broker.stop().await;
}

#[tokio::test]
async fn half_a_frame_then_silence_is_closed_after_connections_max_idle_ms() {
    let broker = TestBroker::start_with(|c| c.connections_max_idle_ms = 200).await;
    let mut client = broker.client().await;
    // A length prefix announcing 100 bytes, then five of them, then nothing.
    client.send_raw(&[0, 0, 0, 100, 0, 18, 0, 3, 0]).await;
    assert!(client.is_closed().await);
    broker.stop().await;
}

#[tokio::test]
async fn exhausted_request_memory_pool_pauses_other_connections_until_freed() {
    let broker = TestBroker::start_with(|c| c.queued_max_request_bytes = 1000).await;
    let mut hog = broker.client().await;
    // Announces 5000 bytes and sends 100: the frame takes the whole pool
    // while it waits for the rest.
    hog.send_raw(&5000_i32.to_be_bytes()).await;
    hog.send_raw(&[0; 100]).await;
    let mut waiting = broker.client().await;
    let (_, frame) = waiting.encode(3, &ApiVersionsRequest::default());
    waiting.send_frame(frame).await;
    let early = tokio::time::timeout(Duration::from_millis(300), waiting.next_frame()).await;
    assert!(early.is_err(), "no request is read while the pool is empty");
    drop(hog);
    assert!(
        waiting.next_frame().await.is_some(),
        "answered once the hog's memory is back"
    );
    broker.stop().await;
}

#[tokio::test]
async fn request_larger_than_the_whole_pool_is_served_when_the_pool_is_free() {
    let broker = TestBroker::start_with(|c| c.queued_max_request_bytes = 256).await;
    let mut client = broker.client().await;
    assert_eq!(create_topic(&mut client, "big-requests", 1).await, 0);
    let value = "v".repeat(4096);
    let (code, offset) = produce(&mut client, "big-requests", 0, batch(&[&value])).await;
    assert_eq!((code, offset), (0, 0));
    broker.stop().await;
}

#[tokio::test]
async fn address_in_use_fails_before_the_data_directory_is_opened() {
    let broker = TestBroker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("never-created");
    let mut config = test_config(&data_dir);
    config.listeners = broker.addr.to_string();
    let error = within(sluice_broker::start(config)).await.unwrap_err();
    assert!(matches!(error, BrokerError::Bind { .. }), "{error}");
    assert!(!data_dir.exists(), "the data directory was not touched");
    broker.stop().await;
}

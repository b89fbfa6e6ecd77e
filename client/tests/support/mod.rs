//! A scripted mock Kafka broker for integration tests: a tokio TCP server on
//! 127.0.0.1:0 that hands each decoded request to a test-supplied handler and
//! writes back whatever the handler scripts (a response, silence, or a
//! dropped connection). Responses are encoded by `kafka-protocol`.
#![allow(dead_code, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, MetadataResponse, RequestHeader, ResponseHeader,
    TopicName,
};
use kafka_protocol::protocol::{
    Decodable, Encodable, HeaderVersion, StrBytes, decode_request_header_from_buffer,
};
use sluice_client::{CLIENT_APIS, ClientConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One request as the mock received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The decoded request header.
    pub header: RequestHeader,
    /// The body bytes, undecoded.
    pub body: Bytes,
}

impl Received {
    /// The API key.
    pub fn api_key(&self) -> ApiKey {
        ApiKey::try_from(self.header.request_api_key).expect("mock received a known api key")
    }

    /// Decodes the body as `R` at the request's version.
    pub fn decode<R: Decodable>(&self) -> R {
        R::decode(&mut self.body.clone(), self.header.request_api_version)
            .expect("request body decodes")
    }

    /// A response frame for this request (header version from the response type).
    pub fn respond<R: Encodable + HeaderVersion>(&self, body: &R) -> Reply {
        self.respond_at(body, self.header.request_api_version)
    }

    /// A response frame encoded at `version` rather than the request's (what a
    /// broker does when it does not speak the request's ApiVersions version).
    pub fn respond_at<R: Encodable + HeaderVersion>(&self, body: &R, version: i16) -> Reply {
        let mut frame = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(self.header.correlation_id)
            .encode(&mut frame, R::header_version(version))
            .expect("response header encodes");
        body.encode(&mut frame, version)
            .expect("response body encodes");
        Reply::Respond(frame.freeze())
    }
}

/// What the mock does with a request.
#[derive(Debug)]
pub enum Reply {
    /// Write this response (header and body, without size prefix).
    Respond(Bytes),
    /// Never answer (and keep reading).
    Silence,
    /// Close the connection.
    Close,
}

type Handler = Arc<dyn Fn(&Received) -> Reply + Send + Sync>;

/// A running mock broker; aborted on drop.
pub struct MockBroker {
    /// `127.0.0.1:PORT`.
    pub address: String,
    /// The port.
    pub port: i32,
    /// Every request received, in order.
    pub received: Arc<Mutex<Vec<Received>>>,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for MockBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockBroker {
    /// Starts a mock answering with `handler`.
    pub async fn start(handler: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> MockBroker {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let port = listener.local_addr().expect("bound address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let handler: Handler = Arc::new(handler);
        let task = tokio::spawn(accept_loop(
            listener,
            handler,
            received.clone(),
            connections.clone(),
        ));
        MockBroker {
            address: format!("127.0.0.1:{port}"),
            port: i32::from(port),
            received,
            connections,
            task,
        }
    }

    /// How many requests of `key` arrived.
    pub fn count(&self, key: ApiKey) -> usize {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| r.api_key() == key)
            .count()
    }

    /// The versions at which requests of `key` arrived.
    pub fn versions(&self, key: ApiKey) -> Vec<i16> {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| r.api_key() == key)
            .map(|r| r.header.request_api_version)
            .collect()
    }
}

async fn accept_loop(
    listener: TcpListener,
    handler: Handler,
    received: Arc<Mutex<Vec<Received>>>,
    connections: Arc<AtomicUsize>,
) {
    while let Ok((socket, _)) = listener.accept().await {
        connections.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(serve(socket, handler.clone(), received.clone()));
    }
}

async fn serve(mut socket: TcpStream, handler: Handler, received: Arc<Mutex<Vec<Received>>>) {
    loop {
        let Ok(size) = socket.read_i32().await else {
            return;
        };
        let mut frame = vec![0u8; usize::try_from(size).expect("non-negative frame size")];
        if socket.read_exact(&mut frame).await.is_err() {
            return;
        }
        let mut body = Bytes::from(frame);
        let header = decode_request_header_from_buffer(&mut body).expect("request header decodes");
        let request = Received {
            header,
            body: body.copy_to_bytes(body.remaining()),
        };
        received.lock().expect("lock").push(request.clone());
        match handler(&request) {
            Reply::Respond(response) => {
                let mut out = BytesMut::with_capacity(4 + response.len());
                out.put_i32(i32::try_from(response.len()).expect("small response"));
                out.put_slice(&response);
                if socket.write_all(&out).await.is_err() {
                    return;
                }
            }
            Reply::Silence => {}
            Reply::Close => return,
        }
    }
}

/// An ApiVersions answer advertising exactly the client's own ranges,
/// with `overrides` (key, min, max) replacing entries.
pub fn api_versions(request: &Received, overrides: &[(ApiKey, i16, i16)]) -> Reply {
    let api_keys = CLIENT_APIS
        .iter()
        .map(|api| {
            let (min, max) = overrides
                .iter()
                .find(|(key, _, _)| *key == api.key)
                .map_or((api.min_version, api.max_version), |(_, min, max)| {
                    (*min, *max)
                });
            ApiVersion::default()
                .with_api_key(api.key as i16)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect();
    request.respond(&ApiVersionsResponse::default().with_api_keys(api_keys))
}

/// A Metadata answer naming one broker (id 1 at `port`) as controller and
/// leader of every partition of `topics` (name, partition count).
pub fn metadata(request: &Received, port: i32, topics: &[(&str, i32)]) -> Reply {
    let broker = MetadataResponseBroker::default()
        .with_node_id(BrokerId(1))
        .with_host(StrBytes::from_static_str("127.0.0.1"))
        .with_port(port);
    let topics = topics
        .iter()
        .map(|(name, partitions)| {
            MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string((*name).to_owned()))))
                .with_partitions(
                    (0..*partitions)
                        .map(|index| {
                            MetadataResponsePartition::default()
                                .with_partition_index(index)
                                .with_leader_id(BrokerId(1))
                                .with_replica_nodes(vec![BrokerId(1)])
                                .with_isr_nodes(vec![BrokerId(1)])
                        })
                        .collect(),
                )
        })
        .collect();
    request.respond(
        &MetadataResponse::default()
            .with_brokers(vec![broker])
            .with_controller_id(BrokerId(1))
            .with_topics(topics),
    )
}

/// A client configuration for `address` with short, test-sized timeouts.
pub fn test_config(address: &str) -> ClientConfig {
    ClientConfig {
        request_timeout_ms: 2_000,
        default_api_timeout_ms: 5_000,
        retry_backoff_ms: 10,
        retry_backoff_max_ms: 50,
        socket_connection_setup_timeout_ms: 2_000,
        ..ClientConfig::new(address)
    }
}

/// Bounds a test's running time.
pub async fn bounded<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .expect("test finished within 20 s")
}

//! Test fixtures: an in-process broker on a free port and a tiny Kafka client
//! that speaks `kafka-protocol`-encoded requests over TCP.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use kafka_protocol::messages::RequestHeader;
use kafka_protocol::protocol::{Request, StrBytes};
use sluice_broker::{BrokerConfig, BrokerHandle};
use sluice_protocol::{BatchBuilder, Compression, FrameCodec, decode_response, encode_request};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

/// Upper bound for any single test step, so a bug hangs no test forever.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `future` with [`STEP_TIMEOUT`]; panics (fails the test) on expiry.
pub async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP_TIMEOUT, future)
        .await
        .expect("test step exceeded its time bound")
}

/// A broker running in this process with its own temporary data directory.
pub struct TestBroker {
    handle: Option<BrokerHandle>,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

/// A config for tests: a free port, a small offsets topic.
pub fn test_config(dir: &std::path::Path) -> BrokerConfig {
    BrokerConfig {
        listeners: "127.0.0.1:0".to_owned(),
        data_dir: dir.to_owned(),
        offsets_topic_num_partitions: 2,
        ..BrokerConfig::default()
    }
}

impl TestBroker {
    /// Starts a broker on a fresh data directory.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a broker after `adjust` edits the test config.
    pub async fn start_with(adjust: impl FnOnce(&mut BrokerConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path());
        adjust(&mut config);
        let handle = within(sluice_broker::start(config))
            .await
            .expect("broker starts");
        TestBroker {
            addr: handle.local_addr(),
            handle: Some(handle),
            dir,
        }
    }

    /// Shuts down gracefully and starts again on the same data directory.
    pub async fn restart(mut self) -> Self {
        if let Some(handle) = self.handle.take() {
            within(handle.shutdown()).await.expect("clean shutdown");
        }
        let config = test_config(self.dir.path());
        let handle = within(sluice_broker::start(config))
            .await
            .expect("broker restarts");
        TestBroker {
            addr: handle.local_addr(),
            handle: Some(handle),
            dir: self.dir,
        }
    }

    /// The running broker's shared state.
    pub fn broker(&self) -> &std::sync::Arc<sluice_broker::Broker> {
        self.handle
            .as_ref()
            .expect("the broker is running")
            .broker()
    }

    /// A new client connection.
    pub async fn client(&self) -> Client {
        Client::connect(self.addr).await
    }

    /// Shuts down gracefully.
    pub async fn stop(mut self) {
        if let Some(handle) = self.handle.take() {
            within(handle.shutdown()).await.expect("clean shutdown");
        }
    }
}

/// One client connection.
#[derive(Debug)]
pub struct Client {
    framed: Framed<TcpStream, FrameCodec>,
    next_correlation_id: i32,
}

impl Client {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = within(TcpStream::connect(addr)).await.expect("connect");
        Client {
            framed: Framed::new(stream, FrameCodec::default()),
            next_correlation_id: 1,
        }
    }

    /// Encodes `body` as version `version` of its API, with a fresh correlation id.
    pub fn encode<R: Request>(&mut self, version: i16, body: &R) -> (i32, Bytes) {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("sluice-test")));
        (
            correlation_id,
            encode_request(&header, body).expect("encode request"),
        )
    }

    /// Sends raw frame bytes (without the length prefix).
    pub async fn send_frame(&mut self, frame: Bytes) {
        within(self.framed.send(frame)).await.expect("send frame");
    }

    /// Writes raw bytes to the socket, bypassing the codec.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        within(self.framed.get_mut().write_all(bytes))
            .await
            .expect("send raw");
    }

    /// The next response frame, or `None` when the broker closed the connection.
    pub async fn next_frame(&mut self) -> Option<Bytes> {
        match within(self.framed.next()).await {
            Some(Ok(frame)) => Some(frame),
            _ => None,
        }
    }

    /// Sends `body` and returns the response.
    pub async fn call<R: Request>(&mut self, version: i16, body: R) -> R::Response {
        let (correlation_id, frame) = self.encode(version, &body);
        self.send_frame(frame).await;
        let response = self.next_frame().await.expect("a response");
        let (echoed, body) =
            decode_response::<R::Response>(response, version).expect("decode response");
        assert_eq!(echoed, correlation_id, "responses come in request order");
        body
    }

    /// Whether the broker closed this connection (reads until EOF or a frame).
    pub async fn is_closed(&mut self) -> bool {
        self.next_frame().await.is_none()
    }
}

/// One uncompressed batch holding `values`.
pub fn batch(values: &[&str]) -> Bytes {
    let mut builder = BatchBuilder::new(Compression::None, 1 << 20);
    for value in values {
        assert!(builder.append(1_700_000_000_000, None, Some(value.as_bytes()), &[]));
    }
    builder.build().expect("build batch")
}

/// One idempotent batch from `producer_id`/`epoch` starting at `sequence`.
pub fn idempotent_batch(values: &[&str], producer_id: i64, epoch: i16, sequence: i32) -> Bytes {
    let mut builder = BatchBuilder::new(Compression::None, 1 << 20);
    builder.set_producer(producer_id, epoch);
    builder.set_base_sequence(sequence);
    for value in values {
        assert!(builder.append(1_700_000_000_000, None, Some(value.as_bytes()), &[]));
    }
    builder.build().expect("build batch")
}

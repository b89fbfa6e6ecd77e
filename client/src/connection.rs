//! One TCP connection to one broker: a writer task and a reader task around
//! the socket, pipelined requests matched to responses by correlation id
//! (a broker answers a connection's requests in order — the Kafka contract),
//! a bound on requests in flight, and a timeout on every request.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::{Request, StrBytes};
use sluice_protocol::{ErrorCode, FrameCodec, FrameError};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::codec::FramedRead;

use crate::client::lock;
use crate::config::ClientConfig;
use crate::error::{ClientError, Result};
use crate::versions::{ApiVersionTable, BrokerApi, VersionMismatch, api_name};
use crate::wire;

/// The ApiVersions version tried first; v3 is the first flexible one and what
/// current brokers answer.
const API_VERSIONS_FIRST_TRY: i16 = 3;

type Reply = oneshot::Sender<Result<Bytes>>;

/// What the writer task is asked to put on the socket.
struct Outgoing {
    frame: Bytes,
    expect: Expect,
}

enum Expect {
    /// A response will come; route it by this correlation id.
    Response { correlation_id: i32, reply: Reply },
    /// No response will come (Produce with acks=0); report when written.
    Nothing {
        written: oneshot::Sender<Result<()>>,
    },
}

/// Requests written and not yet answered, oldest first, plus whether the
/// connection is finished. Shared by the two tasks under a short std lock.
#[derive(Default)]
struct Pending {
    closed: Option<String>,
    awaiting: VecDeque<(i32, Reply)>,
}

#[derive(Clone)]
struct Shared {
    address: Arc<str>,
    pending: Arc<Mutex<Pending>>,
    /// Frame buffers whose requests were written, reused by the next ones:
    /// a steady producer's requests are hundreds of KiB, and a fresh
    /// allocation of that size costs a page fault per 4 KiB touched.
    spare_frames: Arc<Mutex<Vec<BytesMut>>>,
}

/// Spare frame buffers a connection keeps: one per request in flight is
/// plenty, and each is kept only up to `SPARE_FRAME_MAX_BYTES`.
const SPARE_FRAMES: usize = 8;
const SPARE_FRAME_MAX_BYTES: usize = 4 << 20;

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        lock(&self.pending)
    }

    fn disconnected(&self, reason: &str) -> ClientError {
        ClientError::Disconnected {
            address: self.address.to_string(),
            reason: reason.to_owned(),
        }
    }

    fn spare_frame(&self) -> BytesMut {
        lock(&self.spare_frames).pop().unwrap_or_default()
    }

    /// Keeps a written frame's buffer for a later request when nothing else
    /// holds it.
    fn recycle_frame(&self, frame: Bytes) {
        let Ok(mut buffer) = frame.try_into_mut() else {
            return;
        };
        if buffer.capacity() > SPARE_FRAME_MAX_BYTES {
            return;
        }
        buffer.clear();
        let mut spare = lock(&self.spare_frames);
        if spare.len() < SPARE_FRAMES {
            spare.push(buffer);
        }
    }

    /// Marks the connection closed and fails every request still waiting.
    fn fail_all(&self, reason: &str) {
        let awaiting = {
            let mut pending = self.lock();
            pending.closed.get_or_insert_with(|| reason.to_owned());
            std::mem::take(&mut pending.awaiting)
        };
        for (_, reply) in awaiting {
            // The requester may have given up (timeout); nothing to tell then.
            let _ = reply.send(Err(self.disconnected(reason)));
        }
    }
}

struct Inner {
    shared: Shared,
    client_id: String,
    request_timeout: Duration,
    requests: mpsc::Sender<Outgoing>,
    in_flight: Arc<Semaphore>,
    next_correlation_id: AtomicI32,
    versions: OnceLock<ApiVersionTable>,
    last_used: Mutex<Instant>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A negotiated connection to one broker. Cheap to clone; the socket closes
/// when the last clone is dropped, on any I/O error, and on a request timeout.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("address", &self.inner.shared.address)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Connection {
    /// Opens a TCP connection to `address` (`host:port`) within the connection
    /// setup timeout and negotiates API versions.
    ///
    /// # Errors
    /// [`ClientError::Connect`] when the socket cannot be opened in time;
    /// transport or protocol errors from the ApiVersions exchange.
    pub async fn connect(address: &str, config: &ClientConfig) -> Result<Connection> {
        let connect_error = |reason: String| ClientError::Connect {
            address: address.to_owned(),
            reason,
        };
        let stream = tokio::time::timeout(
            config.connection_setup_timeout(),
            TcpStream::connect(address),
        )
        .await
        .map_err(|_| connect_error("connection setup timed out".to_owned()))?
        .map_err(|error| connect_error(error.to_string()))?;
        // Kafka requests are small and latency-bound; Nagle only adds delay.
        stream
            .set_nodelay(true)
            .map_err(|error| connect_error(error.to_string()))?;
        let connection = Connection::spawn(stream, address, config);
        let versions = connection.negotiate().await?;
        // Only this function has seen the connection, so the table is unset.
        let _ = connection.inner.versions.set(versions);
        Ok(connection)
    }

    fn spawn(stream: TcpStream, address: &str, config: &ClientConfig) -> Self {
        let (read_half, write_half) = stream.into_split();
        let shared = Shared {
            address: Arc::from(address),
            pending: Arc::default(),
            spare_frames: Arc::default(),
        };
        let max_in_flight = config.max_in_flight_requests_per_connection;
        let (requests, outgoing) = mpsc::channel(max_in_flight.max(1));
        let codec = FrameCodec::new(config.max_response_bytes);
        let writer = tokio::spawn(write_loop(write_half, outgoing, shared.clone()));
        let reader = tokio::spawn(read_loop(read_half, codec, shared.clone()));
        Connection {
            inner: Arc::new(Inner {
                shared,
                client_id: config.client_id.clone(),
                request_timeout: config.request_timeout(),
                requests,
                in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
                next_correlation_id: AtomicI32::new(0),
                versions: OnceLock::new(),
                last_used: Mutex::new(Instant::now()),
                tasks: vec![writer, reader],
            }),
        }
    }

    /// Sends ApiVersions and builds the version table; retries once at the
    /// version the broker names when it does not speak our first choice.
    async fn negotiate(&self) -> Result<ApiVersionTable> {
        let mut version = API_VERSIONS_FIRST_TRY;
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("sluice-client"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        for _attempt in 0..2 {
            let response: ApiVersionsResponse = match self.send_at_version(&request, version).await
            {
                Ok(response) => response,
                // An old broker answers an unknown ApiVersions version in v0 form.
                Err(ClientError::Protocol { .. }) if version > 0 => {
                    version = 0;
                    continue;
                }
                Err(error) => return Err(error),
            };
            let broker_apis: Vec<BrokerApi> = response
                .api_keys
                .iter()
                .map(|api| BrokerApi {
                    key: api.api_key,
                    min_version: api.min_version,
                    max_version: api.max_version,
                })
                .collect();
            let code = ErrorCode::from_code(response.error_code);
            if code == ErrorCode::UnsupportedVersion && version > 0 {
                let own_key = kafka_protocol::messages::ApiKey::ApiVersions as i16;
                version = broker_apis
                    .iter()
                    .find(|api| api.key == own_key)
                    .map_or(0, |api| api.max_version.min(version - 1));
                continue;
            }
            if code != ErrorCode::None {
                return Err(ClientError::broker(code, Some("ApiVersions".to_owned())));
            }
            let table = ApiVersionTable::negotiate(&broker_apis);
            tracing::debug!(address = %self.address(), apis = broker_apis.len(), "negotiated api versions");
            return Ok(table);
        }
        Err(self.protocol_error("no ApiVersions version accepted".to_owned()))
    }

    /// The broker's `host:port`.
    pub fn address(&self) -> &str {
        &self.inner.shared.address
    }

    /// Whether the connection has failed or been closed; a closed connection
    /// fails every request and should be replaced.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.lock().closed.is_some() || self.inner.requests.is_closed()
    }

    /// How long since the last request was sent.
    pub fn idle_for(&self) -> Duration {
        self.inner
            .last_used
            .lock()
            .map_or(Duration::ZERO, |last| last.elapsed())
    }

    /// Closes the connection, failing requests in flight with `reason`.
    pub fn close(&self, reason: &str) {
        self.inner.shared.fail_all(reason);
        for task in &self.inner.tasks {
            task.abort();
        }
    }

    /// The negotiated version for request type `R`.
    ///
    /// # Errors
    /// [`ClientError::UnsupportedVersion`] when broker and client share none.
    pub fn version<R: Request>(&self) -> Result<i16> {
        let versions = self.inner.versions.get_or_init(ApiVersionTable::default);
        versions
            .version(R::KEY)
            .map_err(|mismatch| self.unsupported(mismatch))
    }

    /// Sends `body` at the negotiated version and waits (at most
    /// `request_timeout_ms`) for its response.
    ///
    /// # Errors
    /// [`ClientError::UnsupportedVersion`], [`ClientError::RequestTimeout`]
    /// (the connection is then closed), [`ClientError::Disconnected`],
    /// [`ClientError::Protocol`] for undecodable responses.
    pub async fn send<R: Request>(&self, body: &R) -> Result<R::Response> {
        let version = self.version::<R>()?;
        self.send_at_version(body, version).await
    }

    /// Sends a request at an explicit version; used for ApiVersions and by
    /// callers that must build the body for a specific version.
    ///
    /// # Errors
    /// As [`Connection::send`].
    pub async fn send_at_version<R: Request>(&self, body: &R, version: i16) -> Result<R::Response> {
        let api = api_name(R::KEY);
        let _permit = self.acquire_slot(api).await?;
        let correlation_id = self.next_correlation_id();
        let frame = self.encode(correlation_id, version, body)?;
        let (reply, response) = oneshot::channel();
        let exchange = async {
            self.enqueue(Outgoing {
                frame,
                expect: Expect::Response {
                    correlation_id,
                    reply,
                },
            })
            .await?;
            response
                .await
                .map_err(|_| self.inner.shared.disconnected("connection task ended"))?
        };
        let frame = match tokio::time::timeout(self.inner.request_timeout, exchange).await {
            Ok(frame) => frame?,
            Err(_) => {
                // Responses are matched by order: one missing answer leaves the
                // connection unusable, so close it like the Java client does.
                self.close("request timed out");
                return Err(self.timeout(api));
            }
        };
        let (header, response) = wire::decode_response::<R>(frame, version)
            .map_err(|error| self.protocol_error(format!("{api} v{version}: {error}")))?;
        if header.correlation_id != correlation_id {
            return Err(self.protocol_error(format!(
                "correlation id {} answers request {correlation_id}",
                header.correlation_id
            )));
        }
        Ok(response)
    }

    /// Sends a request that the broker will not answer (Produce with
    /// `acks=0`); returns once it is written to the socket.
    ///
    /// # Errors
    /// As [`Connection::send`], except that no response is awaited.
    pub async fn send_without_response<R: Request>(&self, body: &R) -> Result<()> {
        let version = self.version::<R>()?;
        let api = api_name(R::KEY);
        let correlation_id = self.next_correlation_id();
        let frame = self.encode(correlation_id, version, body)?;
        let (written, done) = oneshot::channel();
        let exchange = async {
            self.enqueue(Outgoing {
                frame,
                expect: Expect::Nothing { written },
            })
            .await?;
            done.await
                .map_err(|_| self.inner.shared.disconnected("connection task ended"))?
        };
        tokio::time::timeout(self.inner.request_timeout, exchange)
            .await
            .map_err(|_| self.timeout(api))?
    }

    async fn acquire_slot(&self, api: &'static str) -> Result<tokio::sync::OwnedSemaphorePermit> {
        let acquire = self.inner.in_flight.clone().acquire_owned();
        match tokio::time::timeout(self.inner.request_timeout, acquire).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(self.inner.shared.disconnected("connection closed")),
            Err(_) => Err(self.timeout(api)),
        }
    }

    async fn enqueue(&self, outgoing: Outgoing) -> Result<()> {
        if let Ok(mut last_used) = self.inner.last_used.lock() {
            *last_used = Instant::now();
        }
        self.inner
            .requests
            .send(outgoing)
            .await
            .map_err(|_| self.inner.shared.disconnected("connection writer ended"))
    }

    /// The request as it goes on the socket: size prefix, header and body,
    /// encoded into a spare buffer when there is one.
    fn encode<R: Request>(&self, correlation_id: i32, version: i16, body: &R) -> Result<Bytes> {
        let mut frame = self.inner.shared.spare_frame();
        wire::encode_request(
            correlation_id,
            &self.inner.client_id,
            version,
            body,
            &mut frame,
        )
        .map_err(|error| ClientError::Encode {
            api: api_name(R::KEY),
            version,
            reason: error.to_string(),
        })?;
        Ok(frame.freeze())
    }

    fn next_correlation_id(&self) -> i32 {
        // Wraps after 2^31 requests; ids only need to be distinct among the few in flight.
        self.inner
            .next_correlation_id
            .fetch_add(1, Ordering::Relaxed)
            & i32::MAX
    }

    fn timeout(&self, api: &'static str) -> ClientError {
        ClientError::RequestTimeout {
            api,
            address: self.address().to_owned(),
            timeout: self.inner.request_timeout,
        }
    }

    fn protocol_error(&self, reason: String) -> ClientError {
        ClientError::Protocol {
            address: self.address().to_owned(),
            reason,
        }
    }

    fn unsupported(&self, mismatch: VersionMismatch) -> ClientError {
        ClientError::UnsupportedVersion {
            api: mismatch.api,
            address: self.address().to_owned(),
            broker: mismatch.broker,
            client: mismatch.client,
        }
    }
}

/// Fails every waiting request if the task holding it unwinds (a bug in a
/// codec, say): its callers learn at once instead of at their timeout.
struct FailOnPanic(Shared);

impl Drop for FailOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.fail_all("connection task panicked");
        }
    }
}

/// Writes requests in the order they are queued. A request expecting a
/// response is registered *before* it is written, so the reader always finds it.
async fn write_loop(
    mut socket: OwnedWriteHalf,
    mut outgoing: mpsc::Receiver<Outgoing>,
    shared: Shared,
) {
    let _panic_guard = FailOnPanic(shared.clone());
    while let Some(Outgoing { frame, expect }) = outgoing.recv().await {
        let written = match expect {
            Expect::Response {
                correlation_id,
                reply,
            } => {
                let mut pending = shared.lock();
                if let Some(reason) = pending.closed.clone() {
                    drop(pending);
                    let _ = reply.send(Err(shared.disconnected(&reason)));
                    continue;
                }
                pending.awaiting.push_back((correlation_id, reply));
                None
            }
            Expect::Nothing { written } => Some(written),
        };
        let result = socket.write_all(&frame).await;
        shared.recycle_frame(frame);
        if let Err(error) = &result {
            tracing::debug!(address = %shared.address, %error, "write failed");
            shared.fail_all(&format!("write failed: {error}"));
        }
        if let Some(written) = written {
            let _ = written.send(result.map_err(|error| shared.disconnected(&error.to_string())));
        }
        if shared.lock().closed.is_some() {
            break;
        }
    }
    let _ = socket.shutdown().await;
}

/// Reads response frames and hands each to the oldest waiting request,
/// checking that the correlation ids agree. A frame announcing more than
/// `max_response_bytes` closes the connection before anything is allocated.
async fn read_loop(socket: OwnedReadHalf, codec: FrameCodec, shared: Shared) {
    let _panic_guard = FailOnPanic(shared.clone());
    let mut frames = FramedRead::new(socket, codec);
    let reason = loop {
        let frame = match frames.next().await {
            Some(Ok(frame)) => frame,
            Some(Err(FrameError::Io(error))) => break format!("read failed: {error}"),
            Some(Err(error)) => break error.to_string(),
            None => break "closed by broker".to_owned(),
        };
        let waiting = shared.lock().awaiting.pop_front();
        let Some((expected, reply)) = waiting else {
            break "response to no request".to_owned();
        };
        let received = wire::correlation_id(&frame);
        if received != Some(expected) {
            let _ = reply.send(Err(shared.disconnected("correlation id mismatch")));
            break format!("expected correlation id {expected}, got {received:?}");
        }
        let _ = reply.send(Ok(frame));
    };
    tracing::debug!(address = %shared.address, %reason, "connection closed");
    shared.fail_all(&reason);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    /// A peer that reads one request and answers with a size prefix of
    /// `announced_bytes`, then waits for the client to hang up.
    async fn peer_announcing(announced_bytes: i32) -> std::io::Result<String> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        tokio::spawn(async move {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut prefix = [0u8; 4];
            if socket.read_exact(&mut prefix).await.is_err() {
                return;
            }
            let request_bytes = usize::try_from(i32::from_be_bytes(prefix)).unwrap_or(0);
            let mut request = vec![0u8; request_bytes];
            if socket.read_exact(&mut request).await.is_err() {
                return;
            }
            let _ = socket.write_all(&announced_bytes.to_be_bytes()).await;
            let _ = socket.read(&mut [0u8; 1]).await;
        });
        Ok(address)
    }

    #[tokio::test]
    async fn a_panicking_connection_task_fails_waiting_requests_at_once() {
        let shared = Shared {
            address: Arc::from("127.0.0.1:9"),
            pending: Arc::default(),
            spare_frames: Arc::default(),
        };
        let (reply, response) = oneshot::channel();
        shared.lock().awaiting.push_back((7, reply));
        let task = tokio::spawn({
            let shared = shared.clone();
            async move {
                let _panic_guard = FailOnPanic(shared);
                panic!("a codec bug");
            }
        });
        assert!(task.await.is_err(), "the task panicked");
        match response.await {
            Ok(Err(ClientError::Disconnected { reason, .. })) => {
                assert_eq!(reason, "connection task panicked");
            }
            other => panic!("expected a disconnect, got {other:?}"),
        }
        assert!(shared.lock().closed.is_some());
    }

    #[tokio::test]
    async fn response_above_max_response_bytes_closes_the_connection() -> std::io::Result<()> {
        let address = peer_announcing(1025).await?;
        let mut config = ClientConfig::new(address.clone());
        config.max_response_bytes = 1024;
        config.request_timeout_ms = 10_000;
        match Connection::connect(&address, &config).await {
            Err(ClientError::Disconnected { reason, .. }) => {
                assert!(reason.contains("exceeds the limit"), "{reason}");
            }
            other => panic!("expected a disconnect for the oversized response, got {other:?}"),
        }
        Ok(())
    }
}

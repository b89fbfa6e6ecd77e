//! One client connection: read frames, handle them concurrently, answer in order.
//!
//! The task reads request frames; requests that may wait (a long-polling
//! Fetch, JoinGroup, SyncGroup) become futures that run while the task keeps
//! reading, every other request is handled to completion in arrival order (so
//! pipelined produces take effect in order). All responses sit in a
//! `FuturesOrdered`, which yields them strictly in request order (the Kafka
//! contract). Reading pauses while `queued.max.requests` requests of this
//! connection are in flight, and while the broker-wide request memory pool
//! (`queued.max.request.bytes`, see [`RequestReader`]) is exhausted:
//! backpressure instead of unbounded buffering. The connection closes after
//! `connections.max.idle.ms` without a complete request or a response (a
//! frame that stalls half-way counts as idle), on a frame or request it
//! cannot parse (one rate-limited log line), or at shutdown once in-flight
//! requests are answered. A peer that simply goes away is logged at debug.
//!
//! Responses leave through a [`ResponseWriter`]: each is a list of chunks
//! (one for most APIs; for Fetch the envelope pieces and the record slices,
//! which are views of mapped segments). Length prefixes and small chunks are
//! gathered into one buffer, larger chunks are queued as they are, and the
//! whole queue goes out with vectored writes, so record bytes are never
//! copied in user space. Responses that are already complete when one is
//! written join the same write (pipelined produces need fewer syscalls).

use std::collections::VecDeque;
use std::fmt::Display;
use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};
use sluice_protocol::{FrameChunks, frame_length_prefix};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info};

use crate::broker::Broker;
use crate::dispatch::{RequestError, dispatch, may_wait};
use crate::limits::{RequestMemory, ServerLimits};
use crate::request_reader::{RequestFrame, RequestReader};

type Outcome = (RequestMemory, Result<Option<FrameChunks>, RequestError>);
type Pending = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// Chunks shorter than this are copied into the gather buffer next to the
/// length prefixes: copying a few hundred bytes costs less than an iovec
/// entry of its own. Longer chunks (records) are written where they lie.
const GATHER_MAX_BYTES: usize = 512;

/// Buffers handed to one `writev` at most (Linux's `IOV_MAX` is 1024).
const MAX_IO_SLICES: usize = 64;

/// Serves one connection until the peer closes it, an error closes it, it
/// idles out, or `shutdown` turns true.
pub(crate) async fn serve_connection(
    broker: Arc<Broker>,
    limits: Arc<ServerLimits>,
    socket: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let config = broker.config();
    let (read_half, write_half) = socket.into_split();
    let mut reader = RequestReader::new(read_half, config.socket_request_max_bytes);
    let mut writer = ResponseWriter::new(write_half);
    let idle_timeout = Duration::from_millis(config.connections_max_idle_ms);
    let idle = tokio::time::sleep(idle_timeout);
    tokio::pin!(idle);
    let max_requests = config.queued_max_requests.max(1);
    let mut pending: FuturesOrdered<Pending> = FuturesOrdered::new();
    let mut reading = !*shutdown.borrow();
    debug!(%peer, "connection opened");
    loop {
        if !reading && pending.is_empty() {
            break;
        }
        let may_read = reading && pending.len() < max_requests;
        tokio::select! {
            // Answer before reading on: a pipelining client (a producer with
            // requests in flight) waits for each response to send its next
            // batch, so a response held back while later requests are
            // handled costs it throughput.
            biased;
            Some(outcome) = pending.next(), if !pending.is_empty() => {
                let close = queue_ready(&mut writer, outcome, &mut pending);
                if let Err(error) = writer.flush().await {
                    debug!(%peer, %error, "closing connection: write failed");
                    break;
                }
                idle.as_mut().reset(Instant::now() + idle_timeout);
                match close {
                    Some(CloseReason::BadRequest(error)) => {
                        log_bad_input(&limits, peer, &error, "bad request");
                        break;
                    }
                    Some(CloseReason::Unwritable(error)) => {
                        info!(%peer, %error, "closing connection: response cannot be framed");
                        break;
                    }
                    None => {}
                }
            }
            frame = reader.next_frame(&limits.request_memory), if may_read => match frame {
                Ok(Some(frame)) => {
                    idle.as_mut().reset(Instant::now() + idle_timeout);
                    pending.push_back(handle_frame(&broker, frame, peer).await);
                }
                Ok(None) => reading = false,
                Err(error) if error.is_disconnect() => {
                    debug!(%peer, %error, "closing connection: peer went away");
                    break;
                }
                Err(error) => {
                    log_bad_input(&limits, peer, &error, "unreadable frame");
                    break;
                }
            },
            changed = shutdown.changed(), if reading => {
                if changed.is_err() || *shutdown.borrow() {
                    reading = false;
                }
            }
            () = &mut idle, if pending.is_empty() && reading => {
                debug!(%peer, mid_frame = reader.is_mid_frame(), "closing idle connection");
                break;
            }
        }
    }
    debug!(%peer, "connection closed");
}

/// Requests that may wait become a future polled next to the reading;
/// every other request is handled now, in arrival order.
async fn handle_frame(broker: &Arc<Broker>, frame: RequestFrame, peer: SocketAddr) -> Pending {
    let RequestFrame { body, memory } = frame;
    if may_wait(&body) {
        let broker = Arc::clone(broker);
        Box::pin(async move { (memory, dispatch(&broker, body, peer).await) })
    } else {
        // Handled now, in order; answered after earlier responses.
        let result = dispatch(broker, body, peer).await;
        Box::pin(std::future::ready((memory, result)))
    }
}

/// One line per interval for connections closed because of what a client
/// sent: a client can cause it at will, so it must not flood the log.
fn log_bad_input(limits: &ServerLimits, peer: SocketAddr, error: &dyn Display, what: &str) {
    if let Some(closed) = limits.bad_input_log.event(std::time::Instant::now()) {
        info!(
            %peer,
            %error,
            closed_since_last_line = closed,
            "closing connection: {what} (at most one such line per {}s)",
            crate::limits::LOG_INTERVAL.as_secs()
        );
    } else {
        debug!(%peer, %error, "closing connection: {what}");
    }
}

/// Queues `first` and every later response that is already complete, in
/// order, stopping at the first request that must close the connection;
/// returns that request's error. Each request's memory goes back to the
/// pool once its response is queued.
fn queue_ready<W>(
    writer: &mut ResponseWriter<W>,
    first: Outcome,
    pending: &mut FuturesOrdered<Pending>,
) -> Option<CloseReason> {
    let mut next = Some(first);
    while let Some((memory, result)) = next.take() {
        drop(memory);
        match result {
            Ok(Some(response)) => {
                if let Err(error) = writer.queue(response) {
                    return Some(CloseReason::Unwritable(error));
                }
            }
            Ok(None) => {}
            Err(error) => return Some(CloseReason::BadRequest(error)),
        }
        // A no-op waker here is harmless: the loop's `select!` polls
        // `pending` again with the task's waker before the task sleeps.
        next = pending.next().now_or_never().flatten();
    }
    None
}

/// Why the connection closes after the responses before it are written.
#[derive(Debug)]
enum CloseReason {
    /// The request could not be parsed or served.
    BadRequest(RequestError),
    /// The response cannot be framed (longer than an `i32` length).
    Unwritable(sluice_protocol::FrameError),
}

/// The write half of a connection with the responses queued for it.
///
/// Frames are queued as chunks in wire order; length prefixes and chunks
/// under [`GATHER_MAX_BYTES`] are copied into `gather`, longer chunks are
/// queued as shared `Bytes` (never copied), and [`flush`](Self::flush)
/// writes everything with vectored writes, resuming after partial writes.
struct ResponseWriter<W> {
    socket: W,
    queue: VecDeque<Bytes>,
    gather: BytesMut,
}

impl<W> ResponseWriter<W> {
    fn new(socket: W) -> Self {
        Self {
            socket,
            queue: VecDeque::new(),
            gather: BytesMut::new(),
        }
    }

    /// Queues one response frame behind the ones already queued.
    fn queue(&mut self, frame: FrameChunks) -> Result<(), sluice_protocol::FrameError> {
        let prefix = frame_length_prefix(frame.len())?;
        self.gather.extend_from_slice(&prefix);
        for chunk in frame.into_chunks() {
            if chunk.len() < GATHER_MAX_BYTES {
                self.gather.extend_from_slice(&chunk);
            } else {
                self.seal_gathered();
                self.queue.push_back(chunk);
            }
        }
        Ok(())
    }

    /// Moves the gathered bytes into the queue, keeping the wire order.
    fn seal_gathered(&mut self) {
        if !self.gather.is_empty() {
            self.queue.push_back(self.gather.split().freeze());
        }
    }

    /// Drops `written` bytes from the front of the queue.
    fn consume(&mut self, mut written: usize) {
        while written > 0 {
            let Some(front) = self.queue.front_mut() else {
                break;
            };
            if written < front.len() {
                front.advance(written);
                break;
            }
            written -= front.len();
            self.queue.pop_front();
        }
    }
}

impl<W: AsyncWrite + Unpin> ResponseWriter<W> {
    /// Writes every queued byte to the socket.
    async fn flush(&mut self) -> io::Result<()> {
        self.seal_gathered();
        while !self.queue.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_IO_SLICES];
            let mut count = 0;
            for (slice, chunk) in slices.iter_mut().zip(&self.queue) {
                *slice = IoSlice::new(chunk);
                count += 1;
            }
            let written = self.socket.write_vectored(&slices[..count]).await?;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.consume(written);
        }
        self.socket.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_protocol::FrameCodec;
    use tokio::io::AsyncReadExt;
    use tokio_util::codec::Decoder;

    fn frame(chunks: &[&'static [u8]]) -> FrameChunks {
        let mut frame = FrameChunks::new();
        for chunk in chunks {
            frame.push(Bytes::from_static(chunk));
        }
        frame
    }

    /// Flushes `writer` into a pipe that takes a few bytes at a time and
    /// returns everything that came out of the other end.
    async fn written_through_narrow_pipe(frames: Vec<FrameChunks>) -> Vec<u8> {
        let (near, mut far) = tokio::io::duplex(7);
        let mut writer = ResponseWriter::new(near);
        for frame in frames {
            writer.queue(frame).unwrap();
        }
        let reading = tokio::spawn(async move {
            let mut out = Vec::new();
            far.read_to_end(&mut out).await.map(|_| out)
        });
        writer.flush().await.unwrap();
        drop(writer);
        reading.await.unwrap().unwrap()
    }

    #[tokio::test]
    async fn frames_survive_partial_writes_in_order() {
        static RECORDS: [u8; 2000] = [9; 2000];
        let first = frame(&[b"head", &RECORDS, b"tail"]);
        let second = frame(&[b"small response"]);
        let out = written_through_narrow_pipe(vec![first, second]).await;
        let mut buf = BytesMut::from(&out[..]);
        let mut codec = FrameCodec::default();
        let mut expected = b"head".to_vec();
        expected.extend_from_slice(&RECORDS);
        expected.extend_from_slice(b"tail");
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), expected);
        assert_eq!(
            codec.decode(&mut buf).unwrap().unwrap(),
            Bytes::from_static(b"small response")
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn large_chunks_are_queued_without_copying() {
        static RECORDS: [u8; GATHER_MAX_BYTES] = [1; GATHER_MAX_BYTES];
        let mut writer = ResponseWriter::new(Vec::<u8>::new());
        writer
            .queue(frame(&[b"envelope", &RECORDS, b"tags"]))
            .unwrap();
        writer.seal_gathered();
        let pointers: Vec<*const u8> = writer.queue.iter().map(|chunk| chunk.as_ptr()).collect();
        assert_eq!(writer.queue.len(), 3);
        assert_eq!(pointers[1], RECORDS.as_ptr());
    }

    #[test]
    fn small_frames_are_gathered_into_one_chunk() {
        let mut writer = ResponseWriter::new(Vec::<u8>::new());
        writer.queue(frame(&[b"one"])).unwrap();
        writer.queue(frame(&[b"two", b"three"])).unwrap();
        writer.seal_gathered();
        assert_eq!(writer.queue.len(), 1);
        assert_eq!(&writer.queue[0][..], b"\0\0\0\x03one\0\0\0\x08twothree");
    }

    #[tokio::test]
    async fn ready_responses_join_one_batch_and_stop_at_a_bad_request() {
        let outcome = |body: &'static [u8]| -> Pending {
            Box::pin(std::future::ready((
                RequestMemory::default(),
                Ok(Some(frame(&[body]))),
            )))
        };
        let mut pending: FuturesOrdered<Pending> = [
            outcome(b"second"),
            Box::pin(std::future::ready((
                RequestMemory::default(),
                Err(RequestError::UnsupportedApi(
                    kafka_protocol::messages::ApiKey::Fetch,
                )),
            ))) as Pending,
            outcome(b"after the bad one"),
        ]
        .into_iter()
        .collect();
        let mut writer = ResponseWriter::new(Vec::<u8>::new());
        let first = (RequestMemory::default(), Ok(Some(frame(&[b"first"]))));
        let close = queue_ready(&mut writer, first, &mut pending);
        writer.flush().await.unwrap();
        assert!(matches!(close, Some(CloseReason::BadRequest(_))));
        assert_eq!(writer.socket, b"\0\0\0\x05first\0\0\0\x06second");
        assert_eq!(pending.len(), 1);
    }
}

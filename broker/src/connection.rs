//! One client connection: read frames, handle them concurrently, answer in order.
//!
//! The task reads request frames; requests that may wait (a long-polling
//! Fetch, JoinGroup, SyncGroup) become futures that run while the task keeps
//! reading, every other request is handled to completion in arrival order (so
//! pipelined produces take effect in order). All responses sit in a
//! `FuturesOrdered`, which yields them strictly in request order (the Kafka
//! contract). Reading pauses while the requests in
//! flight exceed `queued.max.requests` or `queued.max.request.bytes`
//! (backpressure instead of unbounded buffering). The connection closes after
//! `connections.max.idle.ms` without traffic, on a frame or request it cannot
//! parse (one log line), or at shutdown once in-flight requests are answered.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::FuturesOrdered;
use futures::{SinkExt, StreamExt};
use sluice_protocol::FrameCodec;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_util::codec::{FramedRead, FramedWrite};
use tracing::{debug, info};

use crate::broker::Broker;
use crate::dispatch::{RequestError, dispatch, may_wait};

type Pending = Pin<Box<dyn Future<Output = (usize, Result<Option<Bytes>, RequestError>)> + Send>>;

/// Serves one connection until the peer closes it, an error closes it, it
/// idles out, or `shutdown` turns true.
pub(crate) async fn serve_connection(
    broker: Arc<Broker>,
    socket: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let config = broker.config();
    let codec = FrameCodec::new(config.socket_request_max_bytes);
    let (read_half, write_half) = socket.into_split();
    let mut reader = FramedRead::new(read_half, codec);
    let mut writer = FramedWrite::new(write_half, codec);
    let idle_timeout = Duration::from_millis(config.connections_max_idle_ms);
    let (max_requests, max_bytes) = (
        config.queued_max_requests.max(1),
        config.queued_max_request_bytes,
    );
    let mut pending: FuturesOrdered<Pending> = FuturesOrdered::new();
    let mut in_flight_bytes = 0usize;
    let mut reading = !*shutdown.borrow();
    debug!(%peer, "connection opened");
    loop {
        if !reading && pending.is_empty() {
            break;
        }
        let may_read = reading && pending.len() < max_requests && in_flight_bytes < max_bytes;
        tokio::select! {
            frame = reader.next(), if may_read => match frame {
                Some(Ok(frame)) => {
                    in_flight_bytes += frame.len();
                    if may_wait(&frame) {
                        pending.push_back(handle_frame(broker.clone(), frame, peer));
                    } else {
                        // Handled now, in order; answered after earlier responses.
                        let frame_bytes = frame.len();
                        let result = dispatch(&broker, frame, peer).await;
                        pending.push_back(Box::pin(std::future::ready((frame_bytes, result))));
                    }
                }
                Some(Err(error)) => {
                    info!(%peer, %error, "closing connection: unreadable frame");
                    break;
                }
                None => reading = false,
            },
            Some((frame_bytes, result)) = pending.next(), if !pending.is_empty() => {
                in_flight_bytes -= frame_bytes;
                match result {
                    Ok(Some(response)) => {
                        if let Err(error) = writer.send(response).await {
                            debug!(%peer, %error, "closing connection: write failed");
                            break;
                        }
                    }
                    Ok(None) => {}
                    Err(error) => {
                        info!(%peer, %error, "closing connection: bad request");
                        break;
                    }
                }
            }
            changed = shutdown.changed(), if reading => {
                if changed.is_err() || *shutdown.borrow() {
                    reading = false;
                }
            }
            () = tokio::time::sleep(idle_timeout), if pending.is_empty() && reading => {
                debug!(%peer, "closing idle connection");
                break;
            }
        }
    }
    debug!(%peer, "connection closed");
}

fn handle_frame(broker: Arc<Broker>, frame: Bytes, peer: SocketAddr) -> Pending {
    let frame_bytes = frame.len();
    Box::pin(async move { (frame_bytes, dispatch(&broker, frame, peer).await) })
}

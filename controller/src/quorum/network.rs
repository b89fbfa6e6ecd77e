//! The transport between controllers: their own TCP listener.
//!
//! A frame is a u32 little-endian length then that many bytes of JSON (one
//! [`RaftRequest`] or [`RaftResponse`]); a length over the limit closes the
//! connection before anything is allocated. A client keeps one connection
//! per peer and sends one request at a time on it; any error drops the
//! connection and reports the peer unreachable, and openraft backs off and
//! retries.

use std::future::Future;
use std::io;
use std::sync::Arc;

use openraft::errors::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::types::{Raft, Snapshot, SnapshotData, SnapshotMeta, TypeConfig, Vote};

/// A request from one controller to another.
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) enum RaftRequest {
    /// Replicate entries (or heartbeat).
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// Ask for a vote.
    Vote(VoteRequest<TypeConfig>),
    /// Install a whole snapshot.
    Snapshot {
        /// The sender's vote.
        vote: Vote,
        /// What the snapshot covers.
        meta: SnapshotMeta,
        /// Its bytes.
        data: Vec<u8>,
    },
}

/// The answer to a [`RaftRequest`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) enum RaftResponse {
    /// To AppendEntries.
    AppendEntries(AppendEntriesResponse<TypeConfig>),
    /// To Vote.
    Vote(VoteResponse<TypeConfig>),
    /// To Snapshot.
    Snapshot(SnapshotResponse<TypeConfig>),
    /// The receiving node could not handle it (shutting down, ...).
    Error(String),
}

async fn read_frame<T: for<'de> Deserialize<'de>>(
    stream: &mut (impl AsyncRead + Unpin),
    max_frame_bytes: u32,
) -> io::Result<T> {
    let length = stream.read_u32_le().await?;
    if length > max_frame_bytes {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {length} bytes is over the limit of {max_frame_bytes}"),
        ));
    }
    let mut body = vec![0u8; length as usize];
    stream.read_exact(&mut body).await?;
    serde_json::from_slice(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

async fn write_frame<T: Serialize>(
    stream: &mut (impl AsyncWrite + Unpin),
    message: &T,
    max_frame_bytes: u32,
) -> io::Result<()> {
    let body = serde_json::to_vec(message).map_err(io::Error::other)?;
    let length = u32::try_from(body.len())
        .ok()
        .filter(|l| *l <= max_frame_bytes)
        .ok_or_else(|| {
            io::Error::other(format!("frame of {} bytes is over the limit", body.len()))
        })?;
    stream.write_u32_le(length).await?;
    stream.write_all(&body).await?;
    stream.flush().await
}

/// Serves Raft RPCs from the other controllers until `shutdown` changes.
pub(crate) async fn serve(
    listener: TcpListener,
    raft: Raft,
    max_frame_bytes: u32,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let raft = raft.clone();
                let mut shutdown = shutdown.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        result = serve_connection(stream, raft, max_frame_bytes) => {
                            if let Err(error) = result
                                && error.kind() != io::ErrorKind::UnexpectedEof
                            {
                                tracing::debug!(%peer, %error, "controller connection closed");
                            }
                        }
                        _ = shutdown.changed() => {}
                    }
                });
            }
            Err(error) => {
                tracing::warn!(%error, "controller listener accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    raft: Raft,
    max_frame_bytes: u32,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    loop {
        let request: RaftRequest = read_frame(&mut stream, max_frame_bytes).await?;
        let response = match request {
            RaftRequest::AppendEntries(rpc) => match raft.append_entries(rpc).await {
                Ok(r) => RaftResponse::AppendEntries(r),
                Err(e) => RaftResponse::Error(e.to_string()),
            },
            RaftRequest::Vote(rpc) => match raft.vote(rpc).await {
                Ok(r) => RaftResponse::Vote(r),
                Err(e) => RaftResponse::Error(e.to_string()),
            },
            RaftRequest::Snapshot { vote, meta, data } => {
                let snapshot = Snapshot {
                    meta,
                    snapshot: SnapshotData::new(data),
                };
                match raft.install_full_snapshot(vote, snapshot).await {
                    Ok(r) => RaftResponse::Snapshot(r),
                    Err(e) => RaftResponse::Error(e.to_string()),
                }
            }
        };
        write_frame(&mut stream, &response, max_frame_bytes).await?;
    }
}

/// Makes one [`PeerClient`] per peer.
#[derive(Debug, Clone)]
pub(crate) struct NetworkFactory {
    pub(crate) max_frame_bytes: u32,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &openraft::BasicNode) -> PeerClient {
        PeerClient {
            target,
            address: Arc::from(node.addr.as_str()),
            stream: None,
            max_frame_bytes: self.max_frame_bytes,
        }
    }
}

/// The connection to one peer controller.
#[derive(Debug)]
pub(crate) struct PeerClient {
    target: u64,
    address: Arc<str>,
    stream: Option<TcpStream>,
    max_frame_bytes: u32,
}

impl PeerClient {
    async fn call(
        &mut self,
        request: &RaftRequest,
        option: &RPCOption,
    ) -> Result<RaftResponse, Unreachable<TypeConfig>> {
        let attempt = async {
            if self.stream.is_none() {
                let stream = TcpStream::connect(&*self.address).await?;
                stream.set_nodelay(true)?;
                self.stream = Some(stream);
            }
            let stream = self
                .stream
                .as_mut()
                .ok_or_else(|| io::Error::other("no connection"))?;
            write_frame(stream, request, self.max_frame_bytes).await?;
            read_frame::<RaftResponse>(stream, self.max_frame_bytes).await
        };
        let result = match tokio::time::timeout(option.hard_ttl(), attempt).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "controller RPC timed out",
            )),
        };
        result.map_err(|error| {
            self.stream = None;
            tracing::debug!(target = self.target, address = %self.address, %error, "controller RPC failed");
            Unreachable::new(&error)
        })
    }

    fn unexpected(response: RaftResponse) -> Unreachable<TypeConfig> {
        let message = match response {
            RaftResponse::Error(message) => message,
            other => format!("unexpected response {other:?}"),
        };
        Unreachable::from_string(message)
    }
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self.call(&RaftRequest::AppendEntries(rpc), &option).await? {
            RaftResponse::AppendEntries(r) => Ok(r),
            other => Err(Self::unexpected(other).into()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self.call(&RaftRequest::Vote(rpc), &option).await? {
            RaftResponse::Vote(r) => Ok(r),
            other => Err(Self::unexpected(other).into()),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let request = RaftRequest::Snapshot {
            vote,
            meta: snapshot.meta,
            data: snapshot.snapshot.into_inner(),
        };
        tokio::select! {
            response = self.call(&request, &option) => match response? {
                RaftResponse::Snapshot(r) => Ok(r),
                other => Err(Self::unexpected(other).into()),
            },
            closed = cancel => {
                self.stream = None;
                Err(closed.into())
            }
        }
    }
}

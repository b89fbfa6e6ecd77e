//! Request dispatch: header, version check, one handler per API.
//!
//! The table in `sluice_protocol::SUPPORTED_APIS` is the only list of served
//! APIs: ApiVersions advertises it and this module refuses anything outside
//! it. Each handler lives in `handlers/<api>.rs`, takes a [`RequestContext`]
//! and the decoded request, and returns the response body.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::{Encodable, HeaderVersion};
use sluice_protocol::{
    CodecError, FrameChunks, HeaderError, RequestFrame, decode_request_frame,
    encode_fetch_response, encode_response, is_supported,
};

use crate::broker::Broker;
use crate::handlers;

/// Why a request closes its connection instead of getting a response.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The header did not parse or named an unknown API.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The body did not decode, or the response did not encode.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A version outside the advertised range (ApiVersions answers those itself).
    #[error("unsupported version {version} of {api_key:?}")]
    UnsupportedVersion {
        /// The API.
        api_key: ApiKey,
        /// The version sent.
        version: i16,
    },
    /// An API this broker does not serve.
    #[error("unsupported api {0:?}")]
    UnsupportedApi(ApiKey),
}

/// What a handler knows about the request besides its body.
#[derive(Debug)]
pub struct RequestContext<'a> {
    /// The broker's state (an `Arc` so handlers can move it into blocking tasks).
    pub broker: &'a Arc<Broker>,
    /// The decoded request header (client id, correlation id, version).
    pub header: &'a RequestHeader,
    /// The client's address.
    pub peer: SocketAddr,
}

impl RequestContext<'_> {
    /// The request's API version.
    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }

    /// The client id the request carried, or empty.
    pub fn client_id(&self) -> &str {
        self.header.client_id.as_ref().map_or("", |id| id.as_str())
    }
}

fn respond<R: Encodable + HeaderVersion>(
    frame: &RequestFrame,
    response: &R,
) -> Result<Option<FrameChunks>, RequestError> {
    let encoded = encode_response(frame.correlation_id(), frame.api_version(), response)?;
    Ok(Some(encoded.into()))
}

/// Answers a Fetch with its records as chunks of their own: they are views
/// of mapped segments, and `kafka-protocol` would copy them into the
/// response buffer.
async fn fetch(
    ctx: &RequestContext<'_>,
    frame: &RequestFrame,
) -> Result<Option<FrameChunks>, RequestError> {
    let request = frame.decode_body()?;
    let response = handlers::fetch::handle(ctx, request).await;
    Ok(Some(encode_fetch_response(
        frame.correlation_id(),
        frame.api_version(),
        &response,
    )?))
}

/// Calls a handler with the decoded body and encodes its response.
macro_rules! serve {
    ($ctx:expr, $frame:expr, $handler:path) => {{
        let request = $frame.decode_body()?;
        let response = $handler(&$ctx, request).await;
        respond(&$frame, &response)
    }};
}

/// Whether a request may wait a long time before it is answered (a
/// long-polling Fetch, a JoinGroup or SyncGroup waiting for the group).
///
/// The connection runs these concurrently with later requests; every other
/// request is handled to completion, in arrival order, before the next one
/// is read, so the effects of pipelined produces keep their order (the
/// idempotent producer relies on it), as Kafka's one-at-a-time processing
/// guarantees.
pub fn may_wait(frame: &[u8]) -> bool {
    let [high, low, ..] = *frame else {
        return false;
    };
    let key = i16::from_be_bytes([high, low]);
    [ApiKey::Fetch, ApiKey::JoinGroup, ApiKey::SyncGroup]
        .iter()
        .any(|api| *api as i16 == key)
}

/// Handles one request frame; `Ok(None)` means "send nothing" (acks=0 produce).
///
/// The response comes as frame chunks (without the length prefix): one
/// chunk for most APIs, the envelope pieces and the shared record slices
/// for Fetch.
///
/// # Errors
/// [`RequestError`] when the connection must be closed.
pub async fn dispatch(
    broker: &Arc<Broker>,
    frame: Bytes,
    peer: SocketAddr,
) -> Result<Option<FrameChunks>, RequestError> {
    let frame = decode_request_frame(frame)?;
    if frame.api_key == ApiKey::ApiVersions {
        let controller = broker.controller().is_some();
        return Ok(Some(
            handlers::api_versions::handle(&frame, controller)?.into(),
        ));
    }
    if !is_supported(frame.api_key, frame.api_version()) {
        return Err(RequestError::UnsupportedVersion {
            api_key: frame.api_key,
            version: frame.api_version(),
        });
    }
    let ctx = RequestContext {
        broker,
        header: &frame.header,
        peer,
    };
    match frame.api_key {
        ApiKey::Produce => {
            let request = frame.decode_body()?;
            match handlers::produce::handle(&ctx, request).await {
                Some(response) => respond(&frame, &response),
                None => Ok(None),
            }
        }
        ApiKey::Fetch => fetch(&ctx, &frame).await,
        ApiKey::ListOffsets => serve!(ctx, frame, handlers::list_offsets::handle),
        ApiKey::Metadata => serve!(ctx, frame, handlers::metadata::handle),
        ApiKey::CreateTopics => serve!(ctx, frame, handlers::create_topics::handle),
        ApiKey::DeleteTopics => serve!(ctx, frame, handlers::delete_topics::handle),
        ApiKey::CreatePartitions => serve!(ctx, frame, handlers::create_partitions::handle),
        ApiKey::DeleteRecords => serve!(ctx, frame, handlers::delete_records::handle),
        ApiKey::InitProducerId => serve!(ctx, frame, handlers::init_producer_id::handle),
        ApiKey::DescribeConfigs => serve!(ctx, frame, handlers::describe_configs::handle),
        ApiKey::AlterConfigs => serve!(ctx, frame, handlers::alter_configs::handle),
        ApiKey::IncrementalAlterConfigs => {
            serve!(ctx, frame, handlers::incremental_alter_configs::handle)
        }
        ApiKey::DescribeLogDirs => serve!(ctx, frame, handlers::describe_log_dirs::handle),
        ApiKey::ElectLeaders => serve!(ctx, frame, handlers::elect_leaders::handle),
        ApiKey::DescribeCluster => serve!(ctx, frame, handlers::describe_cluster::handle),
        ApiKey::DescribeProducers => serve!(ctx, frame, handlers::describe_producers::handle),
        // Served only by a controller; ApiVersions does not list it elsewhere.
        ApiKey::DescribeQuorum if broker.controller().is_some() => {
            serve!(ctx, frame, handlers::describe_quorum::handle)
        }
        ApiKey::FindCoordinator => serve!(ctx, frame, handlers::find_coordinator::handle),
        ApiKey::JoinGroup => serve!(ctx, frame, handlers::groups::join_group),
        ApiKey::SyncGroup => serve!(ctx, frame, handlers::groups::sync_group),
        ApiKey::Heartbeat => serve!(ctx, frame, handlers::groups::heartbeat),
        ApiKey::LeaveGroup => serve!(ctx, frame, handlers::groups::leave_group),
        ApiKey::ListGroups => serve!(ctx, frame, handlers::groups::list_groups),
        ApiKey::DescribeGroups => serve!(ctx, frame, handlers::groups::describe_groups),
        ApiKey::DeleteGroups => serve!(ctx, frame, handlers::groups::delete_groups),
        ApiKey::OffsetCommit => serve!(ctx, frame, handlers::offsets::offset_commit),
        ApiKey::OffsetFetch => serve!(ctx, frame, handlers::offsets::offset_fetch),
        ApiKey::OffsetDelete => serve!(ctx, frame, handlers::offsets::offset_delete),
        other => Err(RequestError::UnsupportedApi(other)),
    }
}

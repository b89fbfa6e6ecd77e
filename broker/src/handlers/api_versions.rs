//! ApiVersions: what this broker serves, straight from the protocol table.
//!
//! A request at a version the broker does not know is still answered, at v0
//! with UNSUPPORTED_VERSION and the full table, so the client can pick a
//! version it shares with us (KIP-511). The response always uses header v0.

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, api_versions_response::ApiVersion,
};
use sluice_protocol::{
    CodecError, ErrorCode, RequestFrame, SUPPORTED_APIS, encode_response, is_supported,
};

/// The ApiVersions response body for `error`; DescribeQuorum is listed
/// only when `controller` (this node runs a controller quorum).
pub fn response(error: ErrorCode, controller: bool) -> ApiVersionsResponse {
    let api_keys = SUPPORTED_APIS
        .iter()
        .filter(|api| controller || api.api_key != ApiKey::DescribeQuorum)
        .map(|api| {
            ApiVersion::default()
                .with_api_key(api.api_key as i16)
                .with_min_version(api.min_version)
                .with_max_version(api.max_version)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(error.code())
        .with_api_keys(api_keys)
}

/// Answers an ApiVersions frame, including versions we do not serve;
/// `controller` says whether this node serves DescribeQuorum.
///
/// # Errors
/// [`CodecError`] when the response cannot be encoded.
pub fn handle(frame: &RequestFrame, controller: bool) -> Result<Bytes, CodecError> {
    let version = frame.api_version();
    if !is_supported(frame.api_key, version) {
        return encode_response(
            frame.correlation_id(),
            0,
            &response(ErrorCode::UnsupportedVersion, controller),
        );
    }
    let error = match frame.decode_body::<ApiVersionsRequest>() {
        Ok(_) => ErrorCode::None,
        Err(_) => ErrorCode::InvalidRequest,
    };
    encode_response(
        frame.correlation_id(),
        version,
        &response(error, controller),
    )
}

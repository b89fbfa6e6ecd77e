//! Request headers and response envelopes.
//!
//! A request frame is a request header (v1, or the flexible v2 with tagged
//! fields) followed by the body; which header version applies depends on the
//! API key and version, so the first four bytes are peeked before decoding.
//! A response is a response header (v0, or flexible v1) and the body; the
//! ApiVersions response always uses header v0 so that a client that guessed
//! a too-new version can still read it (KIP-511).

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};

/// Why a request frame's header could not be understood; the connection is closed.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    /// The frame is shorter than the fixed header fields.
    #[error("request frame of {0} bytes is too short for a header")]
    Truncated(usize),
    /// The API key is not one Kafka defines.
    #[error("unknown api key {api_key} (correlation id {correlation_id})")]
    UnknownApiKey {
        /// The key that was sent.
        api_key: i16,
        /// The correlation id, for the log line.
        correlation_id: i32,
    },
    /// The header bytes do not decode.
    #[error("malformed request header for api key {api_key} v{api_version}: {reason}")]
    Malformed {
        /// The key that was sent.
        api_key: i16,
        /// The version that was sent.
        api_version: i16,
        /// What the decoder reported.
        reason: String,
    },
}

/// Why a message could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct CodecError {
    /// What was being encoded or decoded.
    pub what: &'static str,
    /// What the codec reported.
    pub reason: String,
}

/// A request frame split into its decoded header and its still-encoded body.
#[derive(Debug, Clone)]
pub struct RequestFrame {
    /// The API the request is for.
    pub api_key: ApiKey,
    /// The decoded request header.
    pub header: RequestHeader,
    /// The body, to be decoded with the message type of `api_key`.
    pub body: Bytes,
}

impl RequestFrame {
    /// The request's API version.
    pub fn api_version(&self) -> i16 {
        self.header.request_api_version
    }

    /// The id the response must echo.
    pub fn correlation_id(&self) -> i32 {
        self.header.correlation_id
    }

    /// Decodes the body as message `T` at the request's version.
    ///
    /// # Errors
    /// [`CodecError`] when the body is truncated or malformed.
    pub fn decode_body<T: Decodable>(&self) -> Result<T, CodecError> {
        let mut body = self.body.clone();
        T::decode(&mut body, self.api_version()).map_err(|e| CodecError {
            what: "request body",
            reason: e.to_string(),
        })
    }
}

/// Splits a request frame into header and body.
///
/// # Errors
/// [`HeaderError`] when the frame is too short, names an unknown API, or the
/// header does not decode.
pub fn decode_request_frame(mut frame: Bytes) -> Result<RequestFrame, HeaderError> {
    const FIXED_FIELDS_BYTES: usize = 8;
    if frame.len() < FIXED_FIELDS_BYTES {
        return Err(HeaderError::Truncated(frame.len()));
    }
    let mut peek = &frame[..FIXED_FIELDS_BYTES];
    let raw_key = peek.get_i16();
    let api_version = peek.get_i16();
    let correlation_id = peek.get_i32();
    let api_key = ApiKey::try_from(raw_key).map_err(|()| HeaderError::UnknownApiKey {
        api_key: raw_key,
        correlation_id,
    })?;
    let header_version = api_key.request_header_version(api_version);
    let header =
        RequestHeader::decode(&mut frame, header_version).map_err(|e| HeaderError::Malformed {
            api_key: raw_key,
            api_version,
            reason: e.to_string(),
        })?;
    Ok(RequestFrame {
        api_key,
        header,
        body: frame,
    })
}

/// Encodes a response (header and body) for `correlation_id` at `version`,
/// choosing the header version the body type requires.
///
/// # Errors
/// [`CodecError`] when a field cannot be represented at `version`.
pub fn encode_response<R: Encodable + HeaderVersion>(
    correlation_id: i32,
    version: i16,
    body: &R,
) -> Result<Bytes, CodecError> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, R::header_version(version))
        .map_err(|e| CodecError {
            what: "response header",
            reason: e.to_string(),
        })?;
    body.encode(&mut buf, version).map_err(|e| CodecError {
        what: "response body",
        reason: e.to_string(),
    })?;
    Ok(buf.freeze())
}

/// Encodes a request (header and body); used by clients and tests.
///
/// # Errors
/// [`CodecError`] when a field cannot be represented at the header's version.
pub fn encode_request<Q: Encodable + HeaderVersion>(
    header: &RequestHeader,
    body: &Q,
) -> Result<Bytes, CodecError> {
    let mut buf = BytesMut::new();
    encode_request_parts(header, body, &mut buf)?;
    Ok(buf.freeze())
}

/// Appends a request as it goes on the socket to `dst`: the length prefix,
/// the header and the body. The size is computed first, so `dst` grows
/// once and a Produce request's record batches are copied once (a client's
/// hot path: re-growing a buffer of several hundred KiB costs page faults).
///
/// # Errors
/// [`CodecError`] when a field cannot be represented at the header's
/// version, or the request does not fit a frame.
pub fn encode_request_frame<Q: Encodable + HeaderVersion>(
    header: &RequestHeader,
    body: &Q,
    dst: &mut BytesMut,
) -> Result<(), CodecError> {
    let version = header.request_api_version;
    let header_size = header
        .compute_size(Q::header_version(version))
        .map_err(|e| CodecError {
            what: "request header",
            reason: e.to_string(),
        })?;
    let body_size = body.compute_size(version).map_err(|e| CodecError {
        what: "request body",
        reason: e.to_string(),
    })?;
    let size = header_size + body_size;
    let prefix = crate::frame_length_prefix(size).map_err(|e| CodecError {
        what: "request frame",
        reason: e.to_string(),
    })?;
    dst.reserve(prefix.len() + size);
    dst.extend_from_slice(&prefix);
    encode_request_parts(header, body, dst)
}

fn encode_request_parts<Q: Encodable + HeaderVersion>(
    header: &RequestHeader,
    body: &Q,
    dst: &mut BytesMut,
) -> Result<(), CodecError> {
    let version = header.request_api_version;
    header
        .encode(dst, Q::header_version(version))
        .map_err(|e| CodecError {
            what: "request header",
            reason: e.to_string(),
        })?;
    body.encode(dst, version).map_err(|e| CodecError {
        what: "request body",
        reason: e.to_string(),
    })
}

/// Decodes a response frame (header and body) of type `R` at `version`;
/// returns the correlation id and the body. Used by clients and tests.
///
/// # Errors
/// [`CodecError`] when the frame is truncated or malformed.
pub fn decode_response<R: Decodable + HeaderVersion>(
    mut frame: Bytes,
    version: i16,
) -> Result<(i32, R), CodecError> {
    let header =
        ResponseHeader::decode(&mut frame, R::header_version(version)).map_err(|e| CodecError {
            what: "response header",
            reason: e.to_string(),
        })?;
    let body = R::decode(&mut frame, version).map_err(|e| CodecError {
        what: "response body",
        reason: e.to_string(),
    })?;
    Ok((header.correlation_id, body))
}

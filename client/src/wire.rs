//! The client's side of the request/response envelope: the request header it
//! sends (API key and version, correlation id, client id), how it reads a
//! response back strictly, and how it peeks a response's correlation id.
//!
//! Framing — the size prefix and the response size limit checked before
//! allocating — is `sluice_protocol::FrameCodec`, the same codec the broker
//! uses (requests are framed as they are encoded, in one buffer); header
//! and body bytes come from `kafka-protocol` through
//! `sluice_protocol::encode_request_frame`. What is left here is what only a
//! client decides.

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, HeaderVersion, Request, StrBytes};

/// What can be wrong with a request or response envelope. Framing errors are
/// `sluice_protocol::FrameError`.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// A header or body could not be encoded.
    #[error("encode: {0}")]
    Encode(String),
    /// A header or body could not be decoded.
    #[error("decode: {0}")]
    Decode(String),
}

/// Appends one request frame to `dst` as it goes on the socket: the size
/// prefix, the request header at the version the API's request header
/// needs, the body at `version`.
///
/// # Errors
/// [`WireError::Encode`] when a field cannot be represented at `version`.
pub fn encode_request<R: Request>(
    correlation_id: i32,
    client_id: &str,
    version: i16,
    body: &R,
    dst: &mut BytesMut,
) -> Result<(), WireError> {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_string(client_id.to_owned())));
    sluice_protocol::encode_request_frame(&header, body, dst)
        .map_err(|error| WireError::Encode(error.to_string()))
}

fn decode_error(error: impl std::fmt::Display) -> WireError {
    WireError::Decode(format!("{error:#}"))
}

/// The correlation id of a response frame (without its size prefix): both
/// response header versions start with it.
pub fn correlation_id(frame: &[u8]) -> Option<i32> {
    let bytes: [u8; 4] = frame.get(..4)?.try_into().ok()?;
    Some(i32::from_be_bytes(bytes))
}

/// Decodes a response frame (without its size prefix) for request type `R`
/// sent at `version`. ApiVersions responses always use header v0, which
/// `kafka-protocol`'s header table already encodes. Stricter than a broker
/// needs to be: bytes left after the body mean the versions disagree, and
/// reading on would hand the caller a wrong answer.
///
/// # Errors
/// [`WireError::Decode`] when the bytes do not parse or leave bytes unread.
pub fn decode_response<R: Request>(
    mut frame: Bytes,
    version: i16,
) -> Result<(ResponseHeader, R::Response), WireError> {
    let header_version = <R::Response as HeaderVersion>::header_version(version);
    let header = ResponseHeader::decode(&mut frame, header_version).map_err(decode_error)?;
    let body = R::Response::decode(&mut frame, version).map_err(decode_error)?;
    if frame.has_remaining() {
        return Err(WireError::Decode(format!(
            "{} bytes left after the response body",
            frame.remaining()
        )));
    }
    Ok((header, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;
    use kafka_protocol::messages::{MetadataRequest, MetadataResponse};
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn request_carries_size_key_version_and_correlation_id() {
        let mut frame = BytesMut::from(&b"earlier"[..]);
        assert!(encode_request(42, "me", 12, &MetadataRequest::default(), &mut frame).is_ok());
        let frame = frame.split_off(7);
        let size = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        assert_eq!(usize::try_from(size).ok(), Some(frame.len() - 4));
        let request = &frame[4..];
        assert_eq!(&request[0..2], &3i16.to_be_bytes()); // Metadata api key
        assert_eq!(&request[2..4], &12i16.to_be_bytes());
        assert_eq!(correlation_id(&request[4..]), Some(42));
    }

    #[test]
    fn request_decodes_as_the_broker_reads_it() {
        let mut frame = BytesMut::new();
        assert!(encode_request(7, "me", 12, &MetadataRequest::default(), &mut frame).is_ok());
        let frame = sluice_protocol::decode_request_frame(frame.freeze().slice(4..)).ok();
        let client_id = frame.and_then(|frame| frame.header.client_id);
        assert_eq!(client_id.as_deref(), Some("me"));
    }

    #[test]
    fn flexible_response_round_trips_with_header_v1() {
        let response =
            MetadataResponse::default().with_controller_id(kafka_protocol::messages::BrokerId(7));
        let mut frame = BytesMut::new();
        let header = ResponseHeader::default().with_correlation_id(5);
        assert!(header.encode(&mut frame, 1).is_ok());
        assert!(response.encode(&mut frame, 12).is_ok());
        let decoded = decode_response::<MetadataRequest>(frame.freeze(), 12).ok();
        let (header, body) = decoded.unwrap_or_default();
        assert_eq!(header.correlation_id, 5);
        assert_eq!(body.controller_id.0, 7);
    }

    #[test]
    fn trailing_bytes_are_a_decode_error() {
        let mut frame = BytesMut::new();
        assert!(ResponseHeader::default().encode(&mut frame, 0).is_ok());
        assert!(MetadataResponse::default().encode(&mut frame, 1).is_ok());
        frame.put_u8(0);
        assert!(decode_response::<MetadataRequest>(frame.freeze(), 1).is_err());
    }
}

//! The client's framing: Kafka frames are an `i32` big-endian size followed by
//! that many bytes of header and body.
//!
//! Kept in this one module so it can be swapped for `sluice_protocol`'s frame
//! codec once that settles. Message bodies and headers are encoded by
//! `kafka-protocol`; this module only frames them and picks header versions.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio_util::codec::Decoder;

/// Bytes of the size prefix.
const SIZE_PREFIX_BYTES: usize = 4;

/// What can be wrong with a frame.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The size prefix is negative or above the configured limit.
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    FrameTooLarge {
        /// The announced size.
        size: i64,
        /// The configured limit.
        limit: usize,
    },
    /// A header or body could not be encoded.
    #[error("encode: {0}")]
    Encode(String),
    /// A header or body could not be decoded.
    #[error("decode: {0}")]
    Decode(String),
    /// The socket failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// Encodes one request frame: size prefix, request header (at the version the
/// API's request header needs), body at `version`.
///
/// # Errors
/// [`WireError::Encode`] when a field cannot be represented at `version`.
pub fn encode_request<R: Request>(
    correlation_id: i32,
    client_id: &str,
    version: i16,
    body: &R,
) -> Result<Bytes, WireError> {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_string(client_id.to_owned())));
    let header_version = R::header_version(version);
    let size = header.compute_size(header_version).map_err(encode_error)?
        + body.compute_size(version).map_err(encode_error)?;
    let size_prefix = i32::try_from(size)
        .map_err(|_| WireError::Encode(format!("request of {size} bytes is too large")))?;
    let mut frame = BytesMut::with_capacity(SIZE_PREFIX_BYTES + size);
    frame.put_i32(size_prefix);
    header
        .encode(&mut frame, header_version)
        .map_err(encode_error)?;
    body.encode(&mut frame, version).map_err(encode_error)?;
    debug_assert_eq!(
        frame.len(),
        SIZE_PREFIX_BYTES + size,
        "compute_size matches encode"
    );
    Ok(frame.freeze())
}

fn encode_error(error: impl std::fmt::Display) -> WireError {
    WireError::Encode(format!("{error:#}"))
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
/// `kafka-protocol`'s header table already encodes.
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

/// Splits a byte stream into frames (size prefix removed), refusing frames
/// above `max_frame_bytes` before allocating for them.
#[derive(Debug, Clone, Copy)]
pub struct FrameDecoder {
    max_frame_bytes: usize,
}

impl FrameDecoder {
    /// A decoder accepting frames of at most `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> Self {
        FrameDecoder { max_frame_bytes }
    }
}

impl Decoder for FrameDecoder {
    type Item = Bytes;
    type Error = WireError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, WireError> {
        let Some(prefix) = src.get(..SIZE_PREFIX_BYTES) else {
            return Ok(None);
        };
        let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let size = usize::try_from(size)
            .ok()
            .filter(|size| *size <= self.max_frame_bytes)
            .ok_or(WireError::FrameTooLarge {
                size: i64::from(size),
                limit: self.max_frame_bytes,
            })?;
        if src.len() < SIZE_PREFIX_BYTES + size {
            src.reserve(SIZE_PREFIX_BYTES + size - src.len());
            return Ok(None);
        }
        src.advance(SIZE_PREFIX_BYTES);
        Ok(Some(src.split_to(size).freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{MetadataRequest, MetadataResponse};

    #[test]
    fn decoder_waits_for_a_whole_frame() {
        let mut decoder = FrameDecoder::new(64);
        let mut buffer = BytesMut::from(&[0u8, 0, 0, 3, 1, 2][..]);
        assert!(matches!(decoder.decode(&mut buffer), Ok(None)));
        buffer.put_u8(3);
        let frame = decoder.decode(&mut buffer).ok().flatten();
        assert_eq!(frame.as_deref(), Some(&[1u8, 2, 3][..]));
        assert!(buffer.is_empty());
    }

    #[test]
    fn decoder_refuses_oversized_and_negative_sizes() {
        let mut decoder = FrameDecoder::new(8);
        let mut oversized = BytesMut::from(&9i32.to_be_bytes()[..]);
        assert!(matches!(
            decoder.decode(&mut oversized),
            Err(WireError::FrameTooLarge { .. })
        ));
        let mut negative = BytesMut::from(&(-1i32).to_be_bytes()[..]);
        assert!(matches!(
            decoder.decode(&mut negative),
            Err(WireError::FrameTooLarge { .. })
        ));
    }

    #[test]
    fn request_frame_carries_size_key_version_and_correlation_id() {
        let frame = encode_request(42, "me", 12, &MetadataRequest::default()).ok();
        let frame = frame.unwrap_or_default();
        let size = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        assert_eq!(usize::try_from(size).ok(), Some(frame.len() - 4));
        assert_eq!(&frame[4..6], &3i16.to_be_bytes()); // Metadata api key
        assert_eq!(&frame[6..8], &12i16.to_be_bytes());
        assert_eq!(correlation_id(&frame[8..]), Some(42));
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

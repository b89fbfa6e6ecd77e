//! The size-prefixed frame codec.
//!
//! Every Kafka request and response travels as a big-endian `i32` length
//! followed by that many bytes. The decoder checks the announced length against
//! a limit (`socket.request.max.bytes`) *before* reserving any memory, so a
//! hostile or corrupt prefix closes the connection instead of allocating it,
//! and reserves at most 1 MiB ahead of the bytes that have arrived.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Kafka's default for `socket.request.max.bytes` (100 MiB).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 100 * 1024 * 1024;

/// Size of the length prefix in bytes.
const LENGTH_PREFIX_BYTES: usize = 4;

/// The most a decoder reserves ahead of bytes that have not arrived: whole
/// frames up to this size (produce requests, most fetch responses) get their
/// full buffer when their length prefix is read.
const EAGER_RESERVE_MAX_BYTES: usize = 1024 * 1024;

/// Why a frame could not be read or written; each variant closes the connection.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix announced more bytes than the configured limit.
    #[error("frame of {length} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The announced length.
        length: usize,
        /// The configured limit.
        max: usize,
    },
    /// The length prefix was negative, which no Kafka peer sends.
    #[error("negative frame length {0}")]
    NegativeLength(i32),
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Splits a byte stream into Kafka frames (without their length prefix) and
/// prefixes outgoing frames with their length.
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    max_frame_bytes: usize,
}

impl FrameCodec {
    /// A codec that rejects frames longer than `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> Self {
        Self { max_frame_bytes }
    }

    /// The largest frame this codec accepts or sends.
    pub fn max_frame_bytes(&self) -> usize {
        self.max_frame_bytes
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_BYTES)
    }
}

impl Decoder for FrameCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let Some(prefix) = src.get(..LENGTH_PREFIX_BYTES) else {
            return Ok(None);
        };
        let length = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let length = usize::try_from(length).map_err(|_| FrameError::NegativeLength(length))?;
        if length > self.max_frame_bytes {
            return Err(FrameError::TooLarge {
                length,
                max: self.max_frame_bytes,
            });
        }
        let total = LENGTH_PREFIX_BYTES + length;
        if src.len() < total {
            // Room for the rest of a frame of usual size at once, so it
            // arrives in as few reads as the socket allows and is not copied
            // as the buffer grows. A larger announced length reserves only
            // this much: memory grows with the bytes that actually arrive.
            let wanted = total.min(EAGER_RESERVE_MAX_BYTES);
            if src.len() < wanted {
                src.reserve(wanted - src.len());
            }
            return Ok(None);
        }
        src.advance(LENGTH_PREFIX_BYTES);
        Ok(Some(src.split_to(length).freeze()))
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        let too_large = || FrameError::TooLarge {
            length: frame.len(),
            max: i32::MAX as usize,
        };
        let length = i32::try_from(frame.len()).map_err(|_| too_large())?;
        dst.reserve(LENGTH_PREFIX_BYTES + frame.len());
        dst.put_i32(length);
        dst.extend_from_slice(&frame);
        Ok(())
    }
}

/// The big-endian `i32` length prefix of a frame of `length` bytes; for
/// writers that send a frame as several buffers ([`FrameChunks`]) instead of
/// through [`FrameCodec`]'s encoder.
///
/// # Errors
/// [`FrameError::TooLarge`] when `length` does not fit the `i32` prefix.
pub fn frame_length_prefix(length: usize) -> Result<[u8; LENGTH_PREFIX_BYTES], FrameError> {
    let prefix = i32::try_from(length).map_err(|_| FrameError::TooLarge {
        length,
        max: i32::MAX as usize,
    })?;
    Ok(prefix.to_be_bytes())
}

/// One frame's bytes (without the length prefix) held as several buffers, so
/// a response can carry shared slices (a fetch's records, views of mapped
/// segments) next to its freshly encoded parts without copying them into
/// one buffer. Writing the chunks in order, after
/// [`frame_length_prefix`]`(len())`, puts the frame on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrameChunks {
    chunks: Vec<Bytes>,
    len: usize,
}

impl FrameChunks {
    /// An empty frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty frame with room for `chunks` chunks before it reallocates.
    pub fn with_capacity(chunks: usize) -> Self {
        Self {
            chunks: Vec::with_capacity(chunks),
            len: 0,
        }
    }

    /// Appends `chunk` (empty chunks are dropped: they would only cost an
    /// iovec entry).
    pub fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        self.len += chunk.len();
        self.chunks.push(chunk);
    }

    /// The frame's length in bytes (what the length prefix announces).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the frame has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunks, in wire order.
    pub fn chunks(&self) -> &[Bytes] {
        &self.chunks
    }

    /// The chunks, in wire order, by value.
    pub fn into_chunks(self) -> Vec<Bytes> {
        self.chunks
    }

    /// The frame as one contiguous buffer: a copy for tests and for callers
    /// that need contiguous bytes; free when there is a single chunk.
    pub fn to_bytes(&self) -> Bytes {
        match self.chunks.as_slice() {
            [] => Bytes::new(),
            [only] => only.clone(),
            chunks => {
                let mut joined = BytesMut::with_capacity(self.len);
                for chunk in chunks {
                    joined.extend_from_slice(chunk);
                }
                joined.freeze()
            }
        }
    }
}

impl From<Bytes> for FrameChunks {
    fn from(frame: Bytes) -> Self {
        let mut chunks = Self::new();
        chunks.push(frame);
        chunks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut FrameCodec, bytes: &[u8]) -> Result<Vec<Bytes>, FrameError> {
        let mut buf = BytesMut::from(bytes);
        let mut frames = Vec::new();
        while let Some(frame) = codec.decode(&mut buf)? {
            frames.push(frame);
        }
        Ok(frames)
    }

    #[test]
    fn incomplete_frame_waits_for_more_bytes() {
        let mut codec = FrameCodec::default();
        let frames = decode_all(&mut codec, &[0, 0, 0, 5, 1, 2]).unwrap();
        assert!(frames.is_empty());
    }

    #[test]
    fn incomplete_frame_reserves_its_whole_length() {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::from(&[0u8, 0, 64, 0, 1, 2][..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() >= 4 + 16 * 1024, "room for the 16 KiB frame");
    }

    #[test]
    fn huge_announced_frame_reserves_only_the_eager_bound() {
        let mut codec = FrameCodec::default();
        let announced = 90 * 1024 * 1024_i32;
        let mut buf = BytesMut::from(&announced.to_be_bytes()[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() >= EAGER_RESERVE_MAX_BYTES);
        assert!(
            buf.capacity() < 2 * EAGER_RESERVE_MAX_BYTES,
            "{}",
            buf.capacity()
        );
    }

    #[test]
    fn frame_larger_than_the_eager_bound_arrives_in_pieces() {
        let mut codec = FrameCodec::default();
        let length = 3 * EAGER_RESERVE_MAX_BYTES + 17;
        let mut wire = (length as i32).to_be_bytes().to_vec();
        wire.extend((0..length).map(|i| i as u8));
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for piece in wire.chunks(EAGER_RESERVE_MAX_BYTES / 3) {
            buf.extend_from_slice(piece);
            if let Some(frame) = codec.decode(&mut buf).unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0][..], wire[4..]);
        assert!(buf.is_empty());
    }

    #[test]
    fn back_to_back_frames_are_split_exactly() {
        let mut codec = FrameCodec::default();
        let frames = decode_all(&mut codec, &[0, 0, 0, 2, 7, 8, 0, 0, 0, 1, 9]).unwrap();
        assert_eq!(
            frames,
            vec![Bytes::from_static(&[7, 8]), Bytes::from_static(&[9])]
        );
    }

    #[test]
    fn oversized_prefix_is_rejected_before_allocating() {
        let mut codec = FrameCodec::new(16);
        let mut buf = BytesMut::from(&[0x7f, 0xff, 0xff, 0xff][..]);
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(matches!(
            err,
            FrameError::TooLarge {
                length: 0x7fff_ffff,
                max: 16
            }
        ));
        assert!(buf.capacity() < 1024);
    }

    #[test]
    fn negative_prefix_is_rejected() {
        let mut codec = FrameCodec::default();
        let err = decode_all(&mut codec, &[0xff, 0xff, 0xff, 0xfe]).unwrap_err();
        assert!(matches!(err, FrameError::NegativeLength(-2)));
    }

    #[test]
    fn encoded_frame_decodes_to_the_same_bytes() {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        codec
            .encode(Bytes::from_static(b"hello"), &mut buf)
            .unwrap();
        assert_eq!(
            codec.decode(&mut buf).unwrap(),
            Some(Bytes::from_static(b"hello"))
        );
    }
    #[test]
    fn length_prefix_is_big_endian_length() {
        assert_eq!(frame_length_prefix(0x0102_0304).unwrap(), [1, 2, 3, 4]);
    }

    #[test]
    fn chunks_join_in_order_and_count_their_length() {
        let mut chunks = FrameChunks::from(Bytes::from_static(b"he"));
        chunks.push(Bytes::new());
        chunks.push(Bytes::from_static(b"llo"));
        assert_eq!(chunks.len(), 5);
        assert_eq!(chunks.chunks().len(), 2);
        assert_eq!(chunks.to_bytes(), Bytes::from_static(b"hello"));
    }
}

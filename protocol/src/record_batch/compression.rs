//! The compression codecs of Kafka record batches, in Kafka's exact formats.
//!
//! - gzip: a gzip stream (RFC 1952); several concatenated members are
//!   accepted, as Java's `GZIPInputStream` does.
//! - snappy: the Java client writes xerial-framed snappy (a 16-byte
//!   `\x82SNAPPY\0` header, then blocks each prefixed by a big-endian `u32`
//!   length); librdkafka writes raw snappy. We write xerial framing like the
//!   Java client and accept both when reading.
//! - lz4: the LZ4 frame format with independent 64 KiB blocks (what Kafka's
//!   `Lz4BlockOutputStream` writes). Like Kafka we refuse frames whose blocks
//!   depend on each other or that name a dictionary: a Java consumer cannot
//!   read them, so a broker that stored them would poison the partition.
//! - zstd: a zstd frame.
//!
//! Every decompression takes a `max_bytes` limit and stops as soon as the
//! output would pass it, so a small hostile batch cannot make us allocate
//! gigabytes.

use std::cell::RefCell;
use std::io::{self, Read, Write};

use bytes::{BufMut, Bytes, BytesMut};

use crate::record_batch::BatchError;

/// The compression codec of a record batch (attribute bits 0-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Records are stored as they are.
    #[default]
    None,
    /// gzip (code 1).
    Gzip,
    /// snappy (code 2), xerial-framed when we write it.
    Snappy,
    /// LZ4 frame format (code 3).
    Lz4,
    /// Zstandard (code 4).
    Zstd,
}

/// Magic bytes and versions that open a xerial snappy stream.
const XERIAL_HEADER: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";
/// The first 8 bytes of [`XERIAL_HEADER`]; the versions after it may vary.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
/// Uncompressed bytes per xerial block, the Java client's default.
const XERIAL_BLOCK_BYTES: usize = 32 * 1024;

impl Compression {
    /// The codec for an attributes code (0-4).
    ///
    /// # Errors
    /// [`BatchError::UnsupportedCompression`] for codes Kafka does not define.
    pub fn from_code(code: u8) -> Result<Self, BatchError> {
        match code {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            other => Err(BatchError::UnsupportedCompression(other)),
        }
    }

    /// The code stored in the batch attributes.
    pub const fn code(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// Kafka's name for the codec, as in `compression.type`.
    pub const fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Appends `input` compressed with this codec to `out`.
    ///
    /// `level` applies to gzip (0-9, default 6) and zstd (1-22, default 3)
    /// like Kafka's `compression.gzip.level` / `compression.zstd.level`;
    /// other codecs ignore it.
    ///
    /// # Errors
    /// [`BatchError::Compression`] when the codec fails.
    pub fn compress(
        self,
        input: &[u8],
        level: Option<i32>,
        out: &mut BytesMut,
    ) -> Result<(), BatchError> {
        self.compress_with(&mut CodecContext::default(), input, level, out)
    }

    /// [`Compression::compress`] with state kept in `context` between
    /// calls: a batch builder compresses batch after batch with one context.
    ///
    /// # Errors
    /// [`BatchError::Compression`] when the codec fails.
    pub fn compress_with(
        self,
        context: &mut CodecContext,
        input: &[u8],
        level: Option<i32>,
        out: &mut BytesMut,
    ) -> Result<(), BatchError> {
        let result = match self {
            Compression::None => {
                out.extend_from_slice(input);
                Ok(())
            }
            Compression::Gzip => compress_gzip(input, level, out),
            Compression::Snappy => compress_xerial_snappy(input, out),
            Compression::Lz4 => compress_lz4(input, out),
            Compression::Zstd => compress_zstd(context, input, level, out),
        };
        result.map_err(|source| BatchError::Compression {
            compression: self,
            source,
        })
    }

    /// Decompresses `input`, failing once the output would exceed `max_bytes`.
    ///
    /// For [`Compression::None`] this returns `input` itself (no copy).
    ///
    /// # Errors
    /// [`BatchError::DecompressedTooLarge`] past the limit,
    /// [`BatchError::Decompression`] on malformed input.
    pub fn decompress(self, input: &Bytes, max_bytes: usize) -> Result<Bytes, BatchError> {
        let result = match self {
            Compression::None if input.len() > max_bytes => Err(Limited::TooLarge),
            Compression::None => Ok(input.clone()),
            Compression::Gzip => {
                read_limited(flate2::read::MultiGzDecoder::new(&input[..]), max_bytes)
            }
            Compression::Snappy => decompress_snappy(input, max_bytes),
            Compression::Lz4 => check_lz4_frame(input).and_then(|()| {
                read_limited(lz4_flex::frame::FrameDecoder::new(&input[..]), max_bytes)
            }),
            Compression::Zstd => decompress_zstd(input, max_bytes),
        };
        result.map_err(|error| match error {
            Limited::TooLarge => BatchError::DecompressedTooLarge { max_bytes },
            Limited::Io(source) => BatchError::Decompression {
                compression: self,
                source,
            },
        })
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A `compression.type` value that names no codec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown compression type {0:?}, expected none, gzip, snappy, lz4 or zstd")]
pub struct UnknownCompressionName(pub String);

impl std::str::FromStr for Compression {
    type Err = UnknownCompressionName;

    /// Parses Kafka's `compression.type` names, ignoring case.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ]
        .into_iter()
        .find(|compression| compression.name().eq_ignore_ascii_case(name))
        .ok_or_else(|| UnknownCompressionName(name.to_owned()))
    }
}

/// Why a limited decompression stopped.
enum Limited {
    TooLarge,
    Io(io::Error),
}

fn read_limited(reader: impl Read, max_bytes: usize) -> Result<Bytes, Limited> {
    // Reading one byte past the limit tells "exactly at the limit" from "over".
    let cap = u64::try_from(max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut out = Vec::new();
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(Limited::Io)?;
    if out.len() > max_bytes {
        return Err(Limited::TooLarge);
    }
    Ok(Bytes::from(out))
}

fn compress_gzip(input: &[u8], level: Option<i32>, out: &mut BytesMut) -> io::Result<()> {
    let level = level.map_or(flate2::Compression::default(), |level| {
        flate2::Compression::new(level.clamp(0, 9) as u32)
    });
    let mut encoder = flate2::write::GzEncoder::new(out.writer(), level);
    encoder.write_all(input)?;
    encoder.finish().map(drop)
}

fn compress_lz4(input: &[u8], out: &mut BytesMut) -> io::Result<()> {
    let frame_info = lz4_flex::frame::FrameInfo::new()
        .block_size(lz4_flex::frame::BlockSize::Max64KB)
        .block_mode(lz4_flex::frame::BlockMode::Independent);
    let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(frame_info, out.writer());
    encoder.write_all(input)?;
    encoder.finish().map(drop).map_err(io::Error::other)
}

/// Compression state reused from batch to batch. zstd's context holds its
/// tables and window (about a megabyte at level 3): a fresh one per 16 KiB
/// batch costs more than compressing it, in allocations and first-touched
/// pages.
#[derive(Default)]
pub struct CodecContext {
    zstd: Option<(i32, zstd::bulk::Compressor<'static>)>,
}

impl std::fmt::Debug for CodecContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodecContext")
            .field("zstd_level", &self.zstd.as_ref().map(|(level, _)| *level))
            .finish()
    }
}

/// One zstd frame with the content size in its header (readers size their
/// output from it), compressed with `context`'s compressor.
fn compress_zstd(
    context: &mut CodecContext,
    input: &[u8],
    level: Option<i32>,
    out: &mut BytesMut,
) -> io::Result<()> {
    let level = level.unwrap_or(zstd::DEFAULT_COMPRESSION_LEVEL);
    if context.zstd.as_ref().is_none_or(|(kept, _)| *kept != level) {
        context.zstd = Some((level, zstd::bulk::Compressor::new(level)?));
    }
    let Some((_, compressor)) = context.zstd.as_mut() else {
        unreachable!("the compressor was created just above");
    };
    let start = out.len();
    out.resize(start + zstd::zstd_safe::compress_bound(input.len()), 0);
    match compressor.compress_to_buffer(input, &mut out[start..]) {
        Ok(written) => {
            out.truncate(start + written);
            Ok(())
        }
        Err(error) => {
            out.truncate(start);
            Err(error)
        }
    }
}

fn compress_xerial_snappy(input: &[u8], out: &mut BytesMut) -> io::Result<()> {
    out.put_slice(XERIAL_HEADER);
    let mut encoder = snap::raw::Encoder::new();
    for block in input.chunks(XERIAL_BLOCK_BYTES) {
        let length_at = out.len();
        out.put_u32(0);
        let block_at = out.len();
        out.resize(block_at + snap::raw::max_compress_len(block.len()), 0);
        let written = encoder
            .compress(block, &mut out[block_at..])
            .map_err(io::Error::other)?;
        out.truncate(block_at + written);
        let written = u32::try_from(written).map_err(io::Error::other)?;
        out[length_at..block_at].copy_from_slice(&written.to_be_bytes());
    }
    Ok(())
}

/// A decompression context kept larger than this (its window follows the
/// largest frame seen) is dropped after use rather than kept.
const ZSTD_CONTEXT_KEEP_BYTES: usize = 8 << 20;

thread_local! {
    /// Each thread's zstd decompression context. Creating one per batch
    /// allocated and first-touched its tables and window every time: a
    /// fifth of a broker's CPU while it validated zstd batches.
    static ZSTD_CONTEXT: RefCell<Option<zstd::zstd_safe::DCtx<'static>>> =
        const { RefCell::new(None) };
}

fn decompress_zstd(input: &[u8], max_bytes: usize) -> Result<Bytes, Limited> {
    ZSTD_CONTEXT.with(|slot| {
        let Ok(mut slot) = slot.try_borrow_mut() else {
            // Only reached re-entrantly, which nothing does: a context of its own.
            let decoder = zstd::stream::read::Decoder::new(input).map_err(Limited::Io)?;
            return read_limited(decoder, max_bytes);
        };
        let context = slot.get_or_insert_with(zstd::zstd_safe::DCtx::create);
        // `with_context` resets the session: nothing of an earlier,
        // failed frame carries over.
        let out = read_limited(
            zstd::stream::read::Decoder::with_context(input, context),
            max_bytes,
        );
        if context.sizeof() > ZSTD_CONTEXT_KEEP_BYTES {
            *slot = None;
        }
        out
    })
}

/// The LZ4 frame magic number (little-endian on the wire).
const LZ4_FRAME_MAGIC: u32 = 0x184D_2204;
/// FLG bit 5: every block decodes on its own.
const LZ4_BLOCK_INDEPENDENCE: u8 = 1 << 5;
/// FLG bit 0: the frame needs a dictionary.
const LZ4_DICTIONARY_ID: u8 = 1;

/// Refuses the LZ4 frames Kafka's `Lz4BlockInputStream` refuses: dependent
/// blocks (some encoders, such as JavaScript's lz4js, write them) and
/// dictionaries. Anything else malformed is left to the decoder.
fn check_lz4_frame(input: &[u8]) -> Result<(), Limited> {
    let (Some(magic), Some(&flags)) = (input.get(..4), input.get(4)) else {
        return Ok(());
    };
    if magic != LZ4_FRAME_MAGIC.to_le_bytes() {
        return Ok(());
    }
    let refuse = |why: &str| Err(Limited::Io(io::Error::new(io::ErrorKind::InvalidData, why)));
    if flags & LZ4_BLOCK_INDEPENDENCE == 0 {
        return refuse("lz4 frame with dependent blocks: Kafka requires independent blocks");
    }
    if flags & LZ4_DICTIONARY_ID != 0 {
        return refuse("lz4 frame with a dictionary id: Kafka does not support dictionaries");
    }
    Ok(())
}

fn decompress_snappy(input: &[u8], max_bytes: usize) -> Result<Bytes, Limited> {
    let mut out = BytesMut::new();
    if input.len() >= XERIAL_HEADER.len() && input.starts_with(XERIAL_MAGIC) {
        let mut rest = &input[XERIAL_HEADER.len()..];
        while !rest.is_empty() {
            let (length, after) = rest
                .split_first_chunk::<4>()
                .ok_or_else(|| invalid("truncated xerial block length"))?;
            let length = u32::from_be_bytes(*length) as usize;
            let block = after
                .get(..length)
                .ok_or_else(|| invalid("truncated xerial block"))?;
            snappy_block_into(block, max_bytes, &mut out)?;
            rest = &after[length..];
        }
    } else {
        snappy_block_into(input, max_bytes, &mut out)?;
    }
    Ok(out.freeze())
}

/// The most output one byte of a snappy block can make: a 3-byte copy
/// element writes at most 64 bytes, a literal no more than its own length.
const SNAPPY_MAX_EXPANSION: usize = 22;

/// Decompresses one raw snappy block onto `out`, checking the declared
/// length against the limit and against what the block can possibly hold
/// before allocating (a 68-byte block may not claim, and make us zero,
/// 88 MB).
fn snappy_block_into(block: &[u8], max_bytes: usize, out: &mut BytesMut) -> Result<(), Limited> {
    let length = snap::raw::decompress_len(block).map_err(|e| Limited::Io(io::Error::other(e)))?;
    if length > block.len().saturating_mul(SNAPPY_MAX_EXPANSION) {
        return Err(invalid("snappy block declares more bytes than it can hold"));
    }
    let start = out.len();
    if start.saturating_add(length) > max_bytes {
        return Err(Limited::TooLarge);
    }
    out.resize(start + length, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| Limited::Io(io::Error::other(e)))?;
    out.truncate(start + written);
    Ok(())
}

fn invalid(message: &'static str) -> Limited {
    Limited::Io(io::Error::new(io::ErrorKind::InvalidData, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn sample() -> Vec<u8> {
        (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn a_snappy_block_declaring_more_than_it_can_hold_is_refused() {
        // Declares 88 MB (varint) in a handful of bytes.
        let mut block = vec![0xc9, 0xc8, 0x85, 0x2a];
        block.extend_from_slice(&[0; 64]);
        let result = Compression::Snappy.decompress(&Bytes::from(block), 100 << 20);
        assert!(
            matches!(&result, Err(BatchError::Decompression { source, .. })
                if source.to_string().contains("more bytes than it can hold")),
            "{result:?}"
        );
    }

    #[test]
    fn snappy_at_its_highest_ratio_still_decodes() {
        let input = vec![7u8; 1 << 20];
        let mut compressed = BytesMut::new();
        Compression::Snappy
            .compress(&input, None, &mut compressed)
            .unwrap();
        let out = Compression::Snappy
            .decompress(&compressed.freeze(), 2 << 20)
            .unwrap();
        assert_eq!(out.len(), input.len());
    }

    #[test]
    fn a_zstd_context_reused_after_a_bad_frame_still_decodes() {
        let input = sample();
        let mut out = BytesMut::new();
        Compression::Zstd.compress(&input, None, &mut out).unwrap();
        let good = out.freeze();
        let mut truncated = good.to_vec();
        truncated.truncate(good.len() / 2);
        let mut garbled = good.to_vec();
        let middle = garbled.len() / 2;
        garbled[middle..].iter_mut().for_each(|byte| *byte ^= 0xA5);
        for bad in [truncated, garbled] {
            assert!(
                Compression::Zstd
                    .decompress(&Bytes::from(bad), input.len())
                    .is_err()
            );
            let back = Compression::Zstd.decompress(&good, input.len()).unwrap();
            assert_eq!(back, input);
        }
        // Over the limit, then within it, on the same thread's context.
        assert!(
            Compression::Zstd
                .decompress(&good, input.len() - 1)
                .is_err()
        );
        assert_eq!(
            Compression::Zstd.decompress(&good, input.len()).unwrap(),
            input
        );
    }

    #[test]
    fn lz4_frames_with_dependent_blocks_are_refused() {
        let input = sample();
        let mut out = BytesMut::new();
        Compression::Lz4.compress(&input, None, &mut out).unwrap();
        let independent = out.freeze();
        assert!(
            Compression::Lz4
                .decompress(&independent, input.len())
                .is_ok()
        );
        // The same frame written by an encoder with linked blocks.
        let frame_info = lz4_flex::frame::FrameInfo::new()
            .block_size(lz4_flex::frame::BlockSize::Max64KB)
            .block_mode(lz4_flex::frame::BlockMode::Linked);
        let mut encoder =
            lz4_flex::frame::FrameEncoder::with_frame_info(frame_info, BytesMut::new().writer());
        encoder.write_all(&input).unwrap();
        let linked = encoder.finish().unwrap().into_inner().freeze();
        let error = Compression::Lz4
            .decompress(&linked, input.len())
            .unwrap_err();
        assert!(
            matches!(error, BatchError::Decompression { .. }),
            "{error:?}"
        );
        // The codec's reason is the error's source, not part of its text.
        let reason = std::error::Error::source(&error).map(ToString::to_string);
        assert!(
            reason
                .as_deref()
                .is_some_and(|r| r.contains("dependent blocks")),
            "{reason:?}"
        );
    }

    #[test]
    fn every_codec_round_trips() {
        let input = sample();
        for compression in ALL {
            let mut out = BytesMut::new();
            compression.compress(&input, None, &mut out).unwrap();
            let back = compression.decompress(&out.freeze(), input.len()).unwrap();
            assert_eq!(back, input, "{compression:?}");
        }
    }

    #[test]
    fn every_codec_enforces_the_decompressed_limit() {
        let input = sample();
        for compression in ALL {
            let mut out = BytesMut::new();
            compression.compress(&input, None, &mut out).unwrap();
            let result = compression.decompress(&out.freeze(), input.len() - 1);
            assert!(
                matches!(result, Err(BatchError::DecompressedTooLarge { .. })),
                "{compression:?}: {result:?}"
            );
        }
    }

    #[test]
    fn one_context_compresses_batch_after_batch_at_any_level() {
        let mut context = CodecContext::default();
        let input = sample();
        for (round, level) in [None, None, Some(19), Some(1), None]
            .into_iter()
            .enumerate()
        {
            let part = &input[..input.len() / (round + 1)];
            for compression in ALL {
                // After bytes already in the buffer, as a batch's header.
                let mut out = BytesMut::from(&b"header"[..]);
                compression
                    .compress_with(&mut context, part, level, &mut out)
                    .unwrap();
                assert_eq!(&out[..6], b"header");
                let back = compression
                    .decompress(&out.freeze().slice(6..), part.len())
                    .unwrap();
                assert_eq!(back, part, "{compression:?} at {level:?}");
            }
        }
    }

    #[test]
    fn zstd_frames_carry_their_content_size() {
        let input = sample();
        let mut out = BytesMut::new();
        Compression::Zstd.compress(&input, None, &mut out).unwrap();
        let size = zstd::zstd_safe::get_frame_content_size(&out).ok().flatten();
        assert_eq!(size, Some(input.len() as u64));
    }

    #[test]
    fn snappy_writes_xerial_framing() {
        let mut out = BytesMut::new();
        Compression::Snappy
            .compress(b"hello", None, &mut out)
            .unwrap();
        assert!(out.starts_with(XERIAL_HEADER));
    }

    #[test]
    fn snappy_reads_raw_blocks_as_librdkafka_writes_them() {
        let raw = snap::raw::Encoder::new()
            .compress_vec(b"raw snappy")
            .unwrap();
        let back = Compression::Snappy
            .decompress(&Bytes::from(raw), 100)
            .unwrap();
        assert_eq!(&back[..], b"raw snappy");
    }

    #[test]
    fn kafka_names_parse_and_print() {
        for compression in ALL {
            assert_eq!(
                compression.name().parse::<Compression>().unwrap(),
                compression
            );
            assert_eq!(compression.to_string(), compression.name());
        }
        assert_eq!("ZSTD".parse::<Compression>().unwrap(), Compression::Zstd);
        assert!("brotli".parse::<Compression>().is_err());
    }

    #[test]
    fn codes_round_trip_and_unknown_codes_are_rejected() {
        for compression in ALL {
            assert_eq!(
                Compression::from_code(compression.code()).unwrap(),
                compression
            );
        }
        assert!(matches!(
            Compression::from_code(5),
            Err(BatchError::UnsupportedCompression(5))
        ));
    }
}

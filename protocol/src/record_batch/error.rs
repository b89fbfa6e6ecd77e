//! Why a record batch was rejected, in the caller's terms.

use crate::ErrorCode;
use crate::record_batch::Compression;

/// Everything that can be wrong with a RecordBatch v2, or go wrong while
/// building one.
///
/// Each variant maps to the Kafka error code a broker answers a Produce with
/// (see the `From<&BatchError> for ErrorCode` impl), so the broker never has
/// to inspect messages to pick a code.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The buffer ends before a field that must be there.
    #[error("record batch truncated: needs {needed} bytes, has {available}")]
    Truncated {
        /// Bytes the batch needs.
        needed: usize,
        /// Bytes the buffer holds.
        available: usize,
    },
    /// The `batchLength` field disagrees with the buffer or is too small.
    #[error("record batch length field {declared} is invalid for a buffer of {available} bytes")]
    InvalidLength {
        /// The value of the `batchLength` field.
        declared: i32,
        /// Bytes available after the length field.
        available: usize,
    },
    /// The batch is not RecordBatch v2 (message sets v0/v1 are not supported).
    #[error("unsupported record batch magic {0}, only v2 is supported")]
    UnsupportedMagic(i8),
    /// The stored CRC-32C does not match the bytes.
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// The CRC in the batch header.
        stored: u32,
        /// The CRC of the bytes after the CRC field.
        computed: u32,
    },
    /// The attributes name a compression codec Kafka does not define.
    #[error("unsupported compression type {0}")]
    UnsupportedCompression(u8),
    /// The compressed records could not be decompressed.
    #[error("{compression:?} decompression failed")]
    Decompression {
        /// The codec in use.
        compression: Compression,
        /// What the codec reported.
        #[source]
        source: std::io::Error,
    },
    /// Decompressing would exceed the caller's limit (a defence against
    /// zip bombs and the analogue of `message.max.bytes` after decompression).
    #[error("decompressed records exceed the limit of {max_bytes} bytes")]
    DecompressedTooLarge {
        /// The limit that was hit.
        max_bytes: usize,
    },
    /// Compressing the records failed (only seen while building).
    #[error("{compression:?} compression failed")]
    Compression {
        /// The codec in use.
        compression: Compression,
        /// What the codec reported.
        #[source]
        source: std::io::Error,
    },
    /// A record inside the batch is malformed.
    #[error("invalid record {index}: {reason}")]
    InvalidRecord {
        /// Position of the record in the batch (0-based).
        index: u32,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The record count in the header disagrees with the records present.
    #[error("record count mismatch: header says {declared}, {reason}")]
    RecordCountMismatch {
        /// The header's `recordsCount`.
        declared: i32,
        /// What was found instead.
        reason: &'static str,
    },
    /// A batch must hold at least one record when it is built.
    #[error("cannot build an empty record batch")]
    EmptyBatch,
    /// The built batch would not fit Kafka's `i32` size fields.
    #[error("record batch of {size} bytes is too large")]
    TooLarge {
        /// The size that does not fit.
        size: usize,
    },
}

impl From<&BatchError> for ErrorCode {
    fn from(error: &BatchError) -> Self {
        match error {
            BatchError::Truncated { .. }
            | BatchError::InvalidLength { .. }
            | BatchError::UnsupportedMagic(_)
            | BatchError::CrcMismatch { .. } => ErrorCode::CorruptMessage,
            // What Kafka answers (its validator's "failed to decompress
            // record stream"): not retriable, since resending the same
            // bytes cannot help.
            BatchError::Decompression { .. } => ErrorCode::UnknownServerError,
            BatchError::UnsupportedCompression(_) => ErrorCode::UnsupportedCompressionType,
            BatchError::DecompressedTooLarge { .. } | BatchError::TooLarge { .. } => {
                ErrorCode::MessageTooLarge
            }
            BatchError::InvalidRecord { .. }
            | BatchError::RecordCountMismatch { .. }
            | BatchError::EmptyBatch => ErrorCode::InvalidRecord,
            BatchError::Compression { .. } => ErrorCode::UnknownServerError,
        }
    }
}

impl From<BatchError> for ErrorCode {
    fn from(error: BatchError) -> Self {
        ErrorCode::from(&error)
    }
}

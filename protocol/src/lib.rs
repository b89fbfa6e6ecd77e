//! The Kafka wire protocol as Sluice speaks it.
//!
//! This crate holds everything that turns bytes on a socket into typed Kafka
//! requests and back, without owning a socket or a runtime: the size-prefixed
//! frame codec, request and response envelopes, the one table of supported API
//! versions, and a zero-copy view of RecordBatch v2 with a batch builder.
//! Message bodies are encoded and decoded by the `kafka-protocol` crate.
//!
//! ## Record batches
//!
//! [`BatchBuilder`] encodes records into a RecordBatch v2 (optionally
//! compressed) without a per-record allocation; [`RecordBatchView`] reads
//! one in place: header fields, the CRC-32C, leader-assigned offsets, and
//! records as slices of the buffer. [`RecordBatches`] splits a fetch
//! response's records into batches. Decompression always takes a size limit.
//!
//! ```
//! use sluice_protocol::{BatchBuilder, Compression, RecordBatchView};
//!
//! let mut builder = BatchBuilder::new(Compression::Zstd, 16 * 1024);
//! builder.set_producer(1000, 0);
//! builder.set_base_sequence(0);
//! assert!(builder.append(1_700_000_000_000, Some(b"key"), Some(b"value"), &[("trace", None)]));
//! assert!(builder.append(1_700_000_000_001, None, Some(b"second"), &[]));
//! let bytes = builder.build()?;
//!
//! let mut batch = RecordBatchView::parse(bytes)?;
//! batch.verify_crc()?;
//! batch.assign_offsets(42, 7); // what a leader does before appending
//! assert_eq!(batch.record_count(), 2);
//! for record in batch.records(1024 * 1024)? {
//!     let record = record?;
//!     assert!(record.offset >= 42);
//! }
//! # Ok::<(), sluice_protocol::BatchError>(())
//! ```
#![deny(missing_docs)]

mod api_versions;
mod error_code;
mod fetch_response;
mod frame;
mod header;
mod record_batch;

pub use api_versions::{SUPPORTED_APIS, SupportedApi, is_supported, supported_versions};
pub use error_code::ErrorCode;
pub use fetch_response::{
    FETCH_RESPONSE_MAX_VERSION, FETCH_RESPONSE_MIN_VERSION, encode_fetch_response,
};
pub use frame::{
    DEFAULT_MAX_FRAME_BYTES, FrameChunks, FrameCodec, FrameError, frame_length_prefix,
};
pub use header::{
    CodecError, HeaderError, RequestFrame, decode_request_frame, decode_response, encode_request,
    encode_request_frame, encode_response,
};
pub use record_batch::{
    BatchBuilder, BatchError, BatchHeaderMut, BatchSummary, CheckedRecords, CodecContext,
    Compression, Header, HeaderIter, HeaderRef, RECORD_BATCH_OVERHEAD, Record, RecordBatchView,
    RecordBatches, RecordHeaders, RecordIter, TimestampType, UnknownCompressionName,
};

//! Kafka RecordBatch v2: a zero-copy view, a builder, and the compression
//! codecs.
//!
//! The format is Kafka's `DefaultRecordBatch` (magic 2): a 61-byte header
//! (see `layout.rs`) followed by records that may be compressed as a whole.
//! This is a data format rather than a request/response message, and the
//! `kafka-protocol` crate's record codec allocates a struct with owned
//! fields per record, too slow for a producer's hot path or a consumer's
//! fetch loop; so the format is implemented here on `bytes`, and property
//! tests check it against `kafka-protocol` in both directions.

mod batches;
mod builder;
mod compression;
mod error;
mod layout;
mod records;
mod varint;
mod view;

pub use batches::RecordBatches;
pub use builder::{BatchBuilder, HeaderRef};
pub use compression::{CodecContext, Compression, UnknownCompressionName};
pub use error::BatchError;
pub use records::{CheckedRecords, Header, HeaderIter, Record, RecordHeaders, RecordIter};
pub use view::{BatchHeaderMut, BatchSummary, RecordBatchView, TimestampType};

/// Size of a RecordBatch v2 header; the records start at this offset.
pub const RECORD_BATCH_OVERHEAD: usize = layout::RECORDS;

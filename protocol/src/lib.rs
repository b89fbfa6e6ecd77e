//! The Kafka wire protocol as Sluice speaks it.
//!
//! This crate holds everything that turns bytes on a socket into typed Kafka
//! requests and back, without owning a socket or a runtime: the size-prefixed
//! frame codec, request and response envelopes, the one table of supported API
//! versions, and a zero-copy view of RecordBatch v2 with a batch builder.
//! Message bodies are encoded and decoded by the `kafka-protocol` crate.
#![deny(missing_docs)]

mod error_code;

pub use error_code::ErrorCode;

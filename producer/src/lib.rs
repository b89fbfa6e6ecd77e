//! The Sluice producer: partitioner, record accumulator, compression and an
//! idempotent sender with acks 0, 1 or all.
#![deny(missing_docs)]

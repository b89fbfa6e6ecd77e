//! Sluice's partition log: segmented, memory-mapped and crash-safe.
#![deny(missing_docs)]

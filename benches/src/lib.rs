//! Sluice's benchmark harness: the engine behind `sluice bench`, plus the
//! micro-benchmarks of the hot paths under `benches/benches/`.
#![deny(missing_docs)]

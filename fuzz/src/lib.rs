//! A structure-aware fuzzer for Sluice's decoders that runs on stable Rust.
//!
//! libFuzzer needs nightly, so this crate is its own small fuzzer. It feeds
//! four targets (see [`targets`]): the frame codec and request header
//! (`frame`), every request body at every served version (`request`), the
//! RecordBatch validator with every codec (`record_batch`), and the files
//! the broker reads at start (`files`).
//!
//! How it works:
//! - **Seeds** are valid inputs built in code: requests encoded with
//!   `kafka-protocol`, batches from `BatchBuilder`, files written by our own
//!   writers.
//! - **Mutations** ([`mutate`]) are byte-level and length-aware, and each
//!   target repairs what its decoder checks first (CRCs, lengths), all from
//!   one seeded `StdRng`: a seed replays exactly. Inputs that reach a new
//!   outcome (a new error, a larger allocation) join the corpus.
//! - **Findings** are panics (caught with `catch_unwind` under a silent
//!   hook), aborts and hangs, and single allocations over a bound (64 MiB by
//!   default) seen by the counting allocator in [`alloc`]. Inputs run in a
//!   worker process ([`worker`], the same binary with `--worker`), so an
//!   abort kills the worker, not the fuzzer: the parent ([`process`]) knows
//!   which input was running, saves it (minimized) with [`findings`], and
//!   starts a new worker.
//!
//! Run it with `cargo run --release -p sluice-fuzz -- --target all
//! --iterations 1000000 --seed 1`; saved crashes that were fixed live in
//! `fuzz/regressions/<target>/` and are replayed by this crate's tests.
#![deny(missing_docs)]

pub mod alloc;
pub mod campaign;
pub mod findings;
pub mod mutate;
pub mod process;
pub mod targets;
pub mod worker;

pub use campaign::{CampaignConfig, TargetReport, fuzz_target, input_files, replay};
pub use targets::TargetName;

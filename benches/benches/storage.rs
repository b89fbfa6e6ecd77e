//! Storage micro-benchmarks: the hot paths of `sluice-storage`.
//!
//! - `append_16k`: append 16 KiB RecordBatches (validation with CRC-32C included)
//!   into the page cache. Target >= 1.5 GB/s.
//! - `read_sealed_1m`: read 1 MiB of whole batches from sealed segments through the
//!   mmap and touch every cache line, with the data in the page cache
//!   (`page_cache_window_bytes` 0). Target >= 5 GB/s.
//! - `lookup`: `Log::read` of one batch at a random offset (index binary search on
//!   the mmap'd index + header walk + zero-copy slice). Target < 200 ns.
//! - `lookup_sequential`: the same at consecutive offsets (cache-warm), to separate
//!   the lookup's own cost from memory and TLB misses.
//! - `pwrite_16k_baseline`: plain `pwrite` appending the same 16 KiB, the machine's ceiling
//!   for `append_16k`.
//! - `recovery_scan`: `Log::open` after an unclean stop with no checkpoint, so every
//!   batch is walked and CRC-checked and the indexes rebuilt. Size from
//!   `SLUICE_BENCH_RECOVERY_BYTES` (default 1 GiB). Target >= 1 GB/s.
//!
//! Run: `cargo bench -p sluice-benches --bench storage`
//! (quick: `SLUICE_BENCH_RECOVERY_BYTES=67108864 cargo bench -p sluice-benches --bench storage -- --quick`).
//! Files go to `SLUICE_BENCH_DIR` (default: the system temp dir); e.g.
//! `SLUICE_BENCH_DIR=/dev/shm` measures pure page-cache (tmpfs) speed.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sluice_storage::testing::batch_with_values;
use sluice_storage::{Log, LogConfig};

/// A fresh directory under `SLUICE_BENCH_DIR` (default: the system temp dir),
/// so the figures can be taken on the filesystem that matters.
fn bench_dir() -> tempfile::TempDir {
    let result = match std::env::var_os("SLUICE_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    };
    result.unwrap_or_else(|e| panic!("bench dir: {e}"))
}

/// 16 records of 1000 bytes: a 16 KiB batch.
fn batch_16k() -> Vec<u8> {
    batch_with_values(0, 16, 1_700_000_000_000, 1000)
}

fn bench_config() -> LogConfig {
    LogConfig {
        segment_bytes: 128 << 20,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

/// Fills a log with `bytes` of 16 KiB batches; returns the log end offset.
fn fill(log: &mut Log, bytes: u64) -> i64 {
    let mut batch = batch_16k();
    while log.size_bytes() < bytes {
        if let Err(error) = log.append(&mut batch, 0, 0) {
            panic!("bench setup append failed: {error}");
        }
    }
    log.log_end_offset()
}

fn open(dir: &Path) -> Log {
    Log::open(dir, bench_config()).unwrap_or_else(|error| panic!("open {}: {error}", dir.display()))
}

fn append(c: &mut Criterion) {
    let dir = bench_dir();
    let mut log = open(dir.path());
    let mut batch = batch_16k();
    let mut group = c.benchmark_group("storage");
    group.throughput(Throughput::Bytes(batch.len() as u64));
    group.bench_function("append_16k", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                if log.size_bytes() > 512 << 20 {
                    // Keep the benchmark's disk use bounded; not timed.
                    let start = log.log_start_offset();
                    log.truncate_to(start)
                        .unwrap_or_else(|e| panic!("truncate: {e}"));
                }
                let started = Instant::now();
                black_box(
                    log.append(&mut batch, 0, 0)
                        .unwrap_or_else(|e| panic!("append: {e}")),
                );
                elapsed += started.elapsed();
            }
            elapsed
        });
    });
    group.finish();
}

/// Ceiling for `append_16k` on this machine: the same bytes appended with plain
/// `pwrite` to a file (fresh page-cache pages, like the log), no validation,
/// reservation or indexing.
fn pwrite_baseline(c: &mut Criterion) {
    use std::os::unix::fs::FileExt;
    let dir = bench_dir();
    let file = std::fs::File::create(dir.path().join("baseline"))
        .unwrap_or_else(|e| panic!("create: {e}"));
    let batch = batch_16k();
    let wrap = 512u64 << 20;
    let mut position = 0u64;
    let mut group = c.benchmark_group("storage");
    group.throughput(Throughput::Bytes(batch.len() as u64));
    group.bench_function("pwrite_16k_baseline", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                if position >= wrap {
                    // Fresh pages every lap, as appends get; not timed.
                    file.set_len(0).unwrap_or_else(|e| panic!("truncate: {e}"));
                    position = 0;
                }
                let started = Instant::now();
                file.write_all_at(&batch, position)
                    .unwrap_or_else(|e| panic!("pwrite: {e}"));
                elapsed += started.elapsed();
                position += batch.len() as u64;
            }
            elapsed
        });
    });
    group.finish();
}

fn read_and_lookup(c: &mut Criterion) {
    let dir = bench_dir();
    // These measure reading data the page cache holds. With the default
    // drop-behind, data this far behind the log end is on disk (the suite's
    // consumer run measures that path).
    let mut log = Log::open(
        dir.path(),
        LogConfig {
            page_cache_window_bytes: 0,
            ..bench_config()
        },
    )
    .unwrap_or_else(|e| panic!("open: {e}"));
    let end = fill(&mut log, 512 << 20);
    log.set_high_watermark(end);
    let mut group = c.benchmark_group("storage");
    let chunk = 1 << 20;
    group.throughput(Throughput::Bytes(chunk as u64));
    let mut offset = 0;
    group.bench_function("read_sealed_1m", |b| {
        b.iter(|| {
            let slice = log
                .read(offset, chunk, end)
                .unwrap_or_else(|e| panic!("read: {e}"));
            let mut touched = 0u64;
            for bytes in slice.chunks() {
                touched += bytes.iter().step_by(64).map(|b| u64::from(*b)).sum::<u64>();
            }
            offset = if offset + 2048 < end - 2048 {
                offset + 1024
            } else {
                0
            };
            black_box(touched)
        });
    });
    group.throughput(Throughput::Elements(1));
    let offsets: Vec<i64> = (0..4096u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) % end as u64) as i64)
        .collect();
    let mut next = 0;
    let mut sequential = 0;
    group.bench_function("lookup_sequential", |b| {
        b.iter(|| {
            let slice = log
                .read(sequential, 1, end)
                .unwrap_or_else(|e| panic!("read: {e}"));
            sequential = (sequential + 1) % end;
            black_box(slice.len())
        });
    });
    group.bench_function("lookup", |b| {
        b.iter(|| {
            let slice = log
                .read(offsets[next % offsets.len()], 1, end)
                .unwrap_or_else(|e| panic!("read: {e}"));
            next += 1;
            black_box(slice.len())
        });
    });
    group.finish();
}

fn recovery_scan(c: &mut Criterion) {
    let bytes: u64 = std::env::var("SLUICE_BENCH_RECOVERY_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 30);
    let dir = bench_dir();
    let mut log = open(dir.path());
    fill(&mut log, bytes);
    let size = log.size_bytes();
    drop(log); // unclean
    let checkpoint = dir.path().join("recovery-point-offset-checkpoint");
    let mut group = c.benchmark_group("storage");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(size));
    group.bench_function(format!("recovery_scan_{}m", size >> 20), |b| {
        b.iter_batched(
            || {
                let _ = std::fs::remove_file(&checkpoint);
            },
            |()| {
                let log = open(dir.path());
                assert!(log.size_bytes() == size, "recovery kept all data");
                black_box(log)
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group! {
    name = storage;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    targets = append, pwrite_baseline, read_and_lookup, recovery_scan
}
criterion_main!(storage);

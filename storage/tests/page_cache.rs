//! Drop-behind (`page_cache_window_bytes`): data written back and dropped from
//! the page cache behind the writer and behind readers is still read back byte
//! for byte, before and after a reopen; a zero window drops nothing.

use std::sync::Mutex;

use sluice_storage::{Log, LogConfig, page_cache, testing};

/// The eviction counter is per process: tests that read it run one at a time.
static COUNTER: Mutex<()> = Mutex::new(());

fn config(window: u64) -> LogConfig {
    LogConfig {
        segment_bytes: 4 << 20,
        preallocate_step_bytes: 1 << 20,
        page_cache_window_bytes: window,
        ..LogConfig::default()
    }
}

/// Appends batches of 16 records of 1000 bytes until `total` bytes are written;
/// returns the bytes as stored (offsets patched in).
fn fill(log: &mut Log, total: usize) -> Vec<u8> {
    let mut written = Vec::with_capacity(total + (64 << 10));
    let mut i = 0i64;
    while written.len() < total {
        let mut batch = testing::batch_with_values(0, 16, 1_000 + i, 1000);
        log.append(&mut batch, 3, 5_000).expect("append");
        written.extend_from_slice(&batch);
        i += 1;
    }
    log.set_high_watermark(log.log_end_offset());
    written
}

/// Reads the whole log as a consumer would, `max_bytes` per fetch.
fn read_like_a_consumer(log: &Log, max_bytes: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.high_watermark() {
        let slice = log
            .read(offset, max_bytes, log.high_watermark())
            .expect("read");
        for chunk in slice.chunks() {
            out.extend_from_slice(chunk);
        }
        let last = testing::batch_offsets(&out)
            .last()
            .map(|(_, last)| *last)
            .expect("a fetch returns at least one batch");
        offset = last + 1;
    }
    out
}

#[test]
fn data_dropped_behind_the_writer_and_readers_reads_back_unchanged() {
    let _one_at_a_time = COUNTER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = Log::open(dir.path(), config(1 << 20)).expect("open");
    let before = page_cache::evicted_bytes();
    let written = fill(&mut log, 12 << 20);
    page_cache::wait_idle();
    let behind_writer = page_cache::evicted_bytes() - before;
    // Three 4 MiB segments: while active, each is dropped up to a window (1 MiB)
    // behind its end, and the two sealed ones down to their last step (256 KiB).
    assert!(
        behind_writer >= 9 << 20,
        "only {behind_writer} bytes were dropped behind the writer"
    );

    assert!(read_like_a_consumer(&log, 64 << 10) == written);
    page_cache::wait_idle();
    let behind_reader = page_cache::evicted_bytes() - before - behind_writer;
    assert!(
        behind_reader >= 4 << 20,
        "only {behind_reader} bytes were dropped behind the reader"
    );
    // A second pass from the start reads what the first one dropped.
    assert!(read_like_a_consumer(&log, 1 << 20) == written);

    log.close().expect("close");
    let log = Log::open(dir.path(), config(1 << 20)).expect("reopen");
    assert!(read_like_a_consumer(&log, 256 << 10) == written);
}

#[test]
fn scattered_reads_neither_read_ahead_nor_evict() {
    let _one_at_a_time = COUNTER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = Log::open(dir.path(), config(1 << 20)).expect("open");
    let written = fill(&mut log, 12 << 20);
    page_cache::wait_idle();
    let before = page_cache::evicted_bytes();
    // Each 4 MiB segment holds about 4,100 records of 1000 bytes: jump between
    // the start and the end of each sealed one, back and forth.
    let batches = testing::batch_offsets(&written);
    let sealed_ends = [4_000, 8_100];
    for _ in 0..20 {
        for (start, end) in [(0, sealed_ends[0]), (sealed_ends[0] + 200, sealed_ends[1])] {
            for offset in [end, start, end - 50, start + 50] {
                let slice = log
                    .read(offset, 16 << 10, log.high_watermark())
                    .expect("read");
                let first = testing::batch_offsets(slice.chunks()[0].as_ref())[0];
                assert!(batches.contains(&first));
            }
        }
    }
    page_cache::wait_idle();
    assert_eq!(page_cache::evicted_bytes(), before);
}

#[test]
fn a_zero_window_leaves_the_page_cache_to_the_kernel() {
    let _one_at_a_time = COUNTER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = Log::open(dir.path(), config(0)).expect("open");
    let before = page_cache::evicted_bytes();
    let written = fill(&mut log, 6 << 20);
    assert!(read_like_a_consumer(&log, 64 << 10) == written);
    page_cache::wait_idle();
    assert_eq!(page_cache::evicted_bytes(), before);
}

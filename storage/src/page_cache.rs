//! Drop-behind: each partition keeps a bounded share of the page cache.
//!
//! A log is written once at its end and mostly read at its end. Left alone, the
//! kernel keeps every byte written in the page cache until memory runs short, so
//! each new page the writer touches is a page never used before. On virtual
//! machines whose guests hand free memory back to the host (free page reporting,
//! ballooning), that first touch of a returned page is slow: on the 2-vCPU test
//! machine a write into fresh pages runs at about 270 MB/s and was two thirds of
//! the broker's CPU, while writes into recycled pages run at several GB/s.
//!
//! So, like Redpanda's own bounded cache, a log keeps only the last
//! `page_cache_window_bytes` of its active segment cached for tailing readers:
//! data further behind is written back early (`sync_file_range`) and then
//! dropped from the cache (`madvise` + `posix_fadvise`, which never change file
//! contents), a rolled segment keeps only its last step, and a reader working
//! through older data drops what it has passed while the next two steps ahead
//! of it are read from disk.
//! Freed pages are reused by the next writes and reads at once. Nothing here
//! touches durability: the bytes are in the file either way, and the recovery
//! point still moves only on fsync.
//!
//! The syscalls run on one background thread per process (`sluice-page-cache`),
//! fed by a bounded queue: appends and reads only queue a job per step
//! (a quarter of the window), and a full queue makes them try again at the next
//! step.

use std::fs::File;
use std::ops::Range;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};

use bytes::Bytes;

use crate::mapped;

/// Ranges handed to the kernel are multiples of this, which covers 4, 16 and
/// 64 KiB pages.
pub(crate) const ALIGN: u64 = 64 * 1024;

/// Jobs waiting for the thread at most; more are refused until it catches up.
const QUEUE_DEPTH: usize = 256;

/// Bytes between two jobs of one segment: a quarter of the window, at least
/// [`ALIGN`].
pub(crate) fn step(window: u64) -> u64 {
    align_down(window / 4).max(ALIGN)
}

/// `value` rounded down to [`ALIGN`].
pub(crate) fn align_down(value: u64) -> u64 {
    value - value % ALIGN
}

/// Work on one segment's `.log`.
pub(crate) struct Job {
    /// A second handle on the file.
    pub file: File,
    /// The segment's read-only mapping, kept alive until the job ran.
    pub mapping: Bytes,
    /// Read from disk into the cache ahead of a reader, not waited for.
    pub read_ahead: Range<u64>,
    /// Written back (waiting for it) and then dropped from the cache.
    pub evict: Range<u64>,
    /// Writeback started, not waited for: the next job's eviction will find it
    /// done or nearly.
    pub write_back: Range<u64>,
}

enum Message {
    Job(Job),
    /// Answered once every message queued before it has been handled.
    Barrier(mpsc::Sender<()>),
}

static QUEUE: OnceLock<Option<SyncSender<Message>>> = OnceLock::new();

/// Bytes dropped from the page cache so far by this process.
static EVICTED_BYTES: AtomicU64 = AtomicU64::new(0);

fn queue() -> Option<&'static SyncSender<Message>> {
    QUEUE
        .get_or_init(|| {
            let (sender, receiver) = mpsc::sync_channel::<Message>(QUEUE_DEPTH);
            let spawned = std::thread::Builder::new()
                .name("sluice-page-cache".to_owned())
                .spawn(move || {
                    for message in receiver {
                        match message {
                            Message::Job(job) => run(&job),
                            Message::Barrier(done) => {
                                let _ = done.send(());
                            }
                        }
                    }
                });
            match spawned {
                Ok(_) => Some(sender),
                Err(error) => {
                    tracing::warn!(%error, "no thread for page-cache drop-behind; leaving the page cache to the kernel");
                    None
                }
            }
        })
        .as_ref()
}

fn run(job: &Job) {
    if let Err(error) = mapped::read_ahead(&job.file, job.read_ahead.clone()) {
        tracing::debug!(%error, "read-ahead failed");
    }
    let mut evicted = 0;
    if job.evict.end > job.evict.start {
        let outcome = mapped::write_back(&job.file, job.evict.clone(), true)
            .and_then(|()| mapped::evict(&job.file, &job.mapping, job.evict.clone()));
        match outcome {
            Ok(()) => evicted = job.evict.end - job.evict.start,
            Err(error) => tracing::debug!(%error, "page-cache drop-behind failed"),
        }
    }
    if let Err(error) = mapped::write_back(&job.file, job.write_back.clone(), false) {
        tracing::debug!(%error, "starting writeback failed");
    }
    EVICTED_BYTES.fetch_add(evicted, Ordering::Relaxed);
}

/// Queues `job`; `false` when the queue is full or there is no thread, so the
/// caller keeps its cursors and asks again later.
pub(crate) fn submit(job: Job) -> bool {
    let Some(queue) = queue() else {
        return false;
    };
    match queue.try_send(Message::Job(job)) {
        Ok(()) => true,
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
    }
}

/// Bytes of log data this process has dropped from the page cache (after
/// writing them back) so far.
pub fn evicted_bytes() -> u64 {
    EVICTED_BYTES.load(Ordering::Relaxed)
}

/// Waits until every drop-behind job queued before the call has run.
pub fn wait_idle() {
    let Some(queue) = queue() else {
        return;
    };
    let (done, finished) = mpsc::channel();
    if queue.send(Message::Barrier(done)).is_ok() {
        let _ = finished.recv();
    }
}

//! The one owner of the history during a run: a thread that appends every
//! event to the file and feeds the [`Checker`], and the [`Recorder`] handles
//! the workload's tasks send events through. [`Progress`] is what the
//! thread publishes for a progress display and for the drain.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::checker::{Checker, Verdict};
use crate::error::HistoryError;
use crate::event::Event;
use crate::history::HistoryWriter;

/// Counters of a running workload, updated as events are recorded.
#[derive(Debug, Default)]
pub struct Progress {
    sent: AtomicU64,
    acknowledged: AtomicU64,
    consumed: AtomicU64,
    assignments: AtomicU64,
    unread_acknowledged: AtomicU64,
    /// Events handed to the history thread.
    queued: AtomicU64,
    /// Events the history thread has written and checked.
    written: AtomicU64,
}

/// A copy of [`Progress`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// Records sent.
    pub sent: u64,
    /// Records acknowledged.
    pub acknowledged: u64,
    /// Records the group consumed.
    pub consumed: u64,
    /// Assignments handed to consumers.
    pub assignments: u64,
    /// Acknowledged records not read yet.
    pub unread_acknowledged: u64,
}

impl Progress {
    /// The counters now.
    pub fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            sent: self.sent.load(Ordering::Relaxed),
            acknowledged: self.acknowledged.load(Ordering::Relaxed),
            consumed: self.consumed.load(Ordering::Relaxed),
            assignments: self.assignments.load(Ordering::Relaxed),
            unread_acknowledged: self.unread_acknowledged.load(Ordering::Relaxed),
        }
    }

    /// Whether the history thread has caught up with every event recorded
    /// so far, so [`ProgressSnapshot::unread_acknowledged`] is current.
    pub fn caught_up(&self) -> bool {
        self.written.load(Ordering::Acquire) >= self.queued.load(Ordering::Acquire)
    }

    fn count(&self, event: &Event) {
        let counter = match event {
            Event::Send { .. } => &self.sent,
            Event::Ack { .. } => &self.acknowledged,
            Event::Consumed { .. } => &self.consumed,
            Event::Assigned { .. } => &self.assignments,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The wall clock in ms since the Unix epoch, as events carry it.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Sends events to the history thread; cheap to clone, usable from any
/// thread and from synchronous callbacks.
#[derive(Debug, Clone)]
pub struct Recorder {
    events: mpsc::Sender<Event>,
    progress: Arc<Progress>,
}

impl Recorder {
    /// Starts the history thread writing to `writer`. It ends when every
    /// recorder is dropped; join the handle for the verdict.
    pub fn start(
        mut writer: HistoryWriter,
        progress: Arc<Progress>,
    ) -> (Recorder, JoinHandle<Result<Verdict, HistoryError>>) {
        let (events, received) = mpsc::channel::<Event>();
        let recorder = Recorder {
            events,
            progress: progress.clone(),
        };
        let thread = std::thread::spawn(move || {
            let mut checker = Checker::new();
            for event in received {
                writer.append(&event)?;
                checker.observe(&event);
                progress.count(&event);
                let unread = u64::try_from(checker.unread_acknowledged()).unwrap_or(u64::MAX);
                progress
                    .unread_acknowledged
                    .store(unread, Ordering::Relaxed);
                progress.written.fetch_add(1, Ordering::AcqRel);
            }
            writer.flush()?;
            Ok(checker.verdict())
        });
        (recorder, thread)
    }

    /// Appends `event` to the history (dropped only if the history thread
    /// has already failed, which its join reports).
    pub fn record(&self, event: Event) {
        self.progress.queued.fetch_add(1, Ordering::AcqRel);
        if self.events.send(event).is_err() {
            tracing::debug!("history thread gone; event dropped");
        }
    }
}

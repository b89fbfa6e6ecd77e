//! The actors that load the cluster and feed the shared [`Recorder`]: one
//! producer actor per `--producers`, one consumer actor per `--consumers`,
//! each on its own thread ([`thread`]).

pub(crate) mod consumer;
pub(crate) mod producer;
pub(crate) mod thread;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::recorder::Recorder;

/// The recorder all actors of one side share, with the run's start instant
/// so every sample is stamped on the same time axis.
#[derive(Debug, Clone)]
pub(crate) struct SharedRecorder {
    recorder: Arc<Mutex<Recorder>>,
    started: Instant,
}

impl SharedRecorder {
    pub(crate) fn new(recorder: Recorder, started: Instant) -> SharedRecorder {
        SharedRecorder {
            recorder: Arc::new(Mutex::new(recorder)),
            started,
        }
    }

    /// When the run started.
    pub(crate) fn started(&self) -> Instant {
        self.started
    }

    /// The recorder, for a short section with no `.await` inside. A panic
    /// while holding it cannot leave counters half-updated in a way that
    /// matters for a report, so a poisoned lock is taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Recorder> {
        self.recorder
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The recorder once every actor has finished.
    pub(crate) fn into_inner(self) -> Recorder {
        match Arc::try_unwrap(self.recorder) {
            Ok(mutex) => mutex
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            Err(shared) => {
                // An actor still holds a handle (a detached task): take a
                // copy-free snapshot by swapping in an empty recorder.
                let mut guard = shared
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let interval = guard.interval();
                std::mem::replace(&mut *guard, Recorder::new(interval))
            }
        }
    }
}

/// Calls `emit(item, count)` once per run of equal consecutive `items`, in
/// order: the actors record a run of records sent or received together
/// with one histogram update.
pub(crate) fn for_each_run<T: PartialEq>(
    items: impl Iterator<Item = T>,
    mut emit: impl FnMut(T, u64),
) {
    let mut run: Option<(T, u64)> = None;
    for item in items {
        run = match run {
            Some((same, count)) if same == item => Some((same, count + 1)),
            Some((other, count)) => {
                emit(other, count);
                Some((item, 1))
            }
            None => Some((item, 1)),
        };
    }
    if let Some((item, count)) = run {
        emit(item, count);
    }
}

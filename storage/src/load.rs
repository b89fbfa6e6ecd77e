//! Loading a partition directory into segments at open: listing the files,
//! clearing leftovers of interrupted operations, choosing per segment between the
//! trusted open and the full recovery scan, and keeping offsets dense across
//! segments.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::checkpoint::sync_dir;
use crate::config::LogConfig;
use crate::error::{IoContext, StorageError};
use crate::metadata::PartitionMetadata;
use crate::segment::{DELETED_SUFFIX, Segment, remove_segment_files};

/// Lists the segment base offsets in `dir`, removing leftovers of interrupted
/// operations (retired logs, temp files, indexes without a log).
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<i64>, StorageError> {
    let mut bases = Vec::new();
    let mut orphans = Vec::new();
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(DELETED_SUFFIX) || name.ends_with(".tmp") || name.ends_with(".truncating")
        {
            orphans.push(entry.path());
        } else if let Some(stem) = name.strip_suffix(".log") {
            match stem.parse::<i64>() {
                Ok(base) if stem.len() == 20 => bases.push(base),
                _ => tracing::warn!(
                    file = name,
                    "ignoring unexpected file in partition directory"
                ),
            }
        } else if let Some(stem) = name
            .strip_suffix(".index")
            .or_else(|| name.strip_suffix(".timeindex"))
            && !dir.join(format!("{stem}.log")).exists()
        {
            orphans.push(entry.path());
        }
    }
    for path in orphans {
        fs::remove_file(&path).at(&path)?;
    }
    bases.sort_unstable();
    Ok(bases)
}

/// Applies stored topic overrides on top of the given config.
pub(crate) fn apply_overrides(mut config: LogConfig, metadata: &PartitionMetadata) -> LogConfig {
    for (name, value) in &metadata.config_overrides {
        if let Err(error) = config.set(name, value) {
            tracing::warn!(%error, "ignoring stored topic config override");
        }
    }
    config
}

/// Loads every segment: trusted below the recovery point (or after a clean
/// close), recovered from it on, the recoveries spread over up to `threads`
/// threads (each segment's scan is independent; offset continuity across them
/// is checked afterwards, in order). Stops at the first gap in offsets,
/// retiring the segments after it, so the log is always a dense prefix.
pub(crate) fn load_segments(
    dir: &Path,
    bases: &[i64],
    recovery_point: i64,
    empty_base: i64,
    config: &LogConfig,
    threads: usize,
) -> Result<BTreeMap<i64, Segment>, StorageError> {
    let is_trusted = |i: usize| {
        recovery_point == i64::MAX || bases.get(i + 1).is_some_and(|&next| next <= recovery_point)
    };
    let to_scan: Vec<i64> = (0..bases.len())
        .filter(|&i| !is_trusted(i))
        .map(|i| bases[i])
        .collect();
    let mut scanned = recover_in_parallel(dir, &to_scan, config, threads)?;
    let mut segments = BTreeMap::new();
    for (i, &base) in bases.iter().enumerate() {
        let next_base = bases.get(i + 1).copied();
        let last = next_base.is_none();
        let mut segment = match scanned.remove(&base) {
            None => Segment::open_trusted(dir, base, last, config)?,
            Some(mut segment) => {
                if !last && next_base == Some(segment.next_offset) {
                    segment.seal()?;
                }
                segment
            }
        };
        if next_base.is_some_and(|next| next != segment.next_offset) {
            tracing::warn!(dir = %dir.display(), base, "offsets stop before the next segment; dropping later segments");
            if !segment.active {
                drop(segment);
                segment = Segment::open_trusted(dir, base, true, config)?;
            }
            segments.insert(base, segment);
            // Scanned segments after the gap hold no mapping a reader has.
            drop(scanned);
            for &later in &bases[i + 1..] {
                remove_segment_files(dir, later)?;
            }
            break;
        }
        segments.insert(base, segment);
    }
    if segments.is_empty() {
        segments.insert(empty_base, Segment::create(dir, empty_base, config)?);
        sync_dir(dir)?;
    }
    Ok(segments)
}

/// Runs [`Segment::recover`] on each of `bases` with up to `threads` threads.
/// Returns the first error in `bases` order.
fn recover_in_parallel(
    dir: &Path,
    bases: &[i64],
    config: &LogConfig,
    threads: usize,
) -> Result<BTreeMap<i64, Segment>, StorageError> {
    let threads = threads.clamp(1, bases.len().max(1));
    if threads == 1 {
        return bases
            .iter()
            .map(|&base| Segment::recover(dir, base, config).map(|(segment, _)| (base, segment)))
            .collect();
    }
    let results = parallel_map(bases, threads, |&base| Segment::recover(dir, base, config));
    let mut recovered = BTreeMap::new();
    for (&base, result) in bases.iter().zip(results) {
        let (segment, _) = result.ok_or_else(|| StorageError::CorruptFile {
            path: dir.to_owned(),
            reason: "a thread recovering a segment panicked".to_owned(),
        })??;
        recovered.insert(base, segment);
    }
    Ok(recovered)
}

/// `work` applied to every item by up to `threads` scoped threads taking the
/// next item in turn; one result per item, in order (`None` where a thread
/// panicked before storing it).
pub(crate) fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    work: impl Fn(&T) -> R + Sync,
) -> Vec<Option<R>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.clamp(1, items.len().max(1)))
            .map(|_| {
                scope.spawn(|| {
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(index) else {
                            break;
                        };
                        let result = work(item);
                        results.lock().unwrap_or_else(PoisonError::into_inner)[index] =
                            Some(result);
                    }
                })
            })
            .collect();
        // Joined here, a panicked worker leaves `None`s instead of unwinding.
        for worker in workers {
            let _ = worker.join();
        }
    });
    results.into_inner().unwrap_or_else(PoisonError::into_inner)
}

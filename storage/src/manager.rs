//! [`LogManager`]: the data directory, its lock, and every partition in it.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::checkpoint::{read_checked, sync_dir, write_checked};
use crate::config::LogConfig;
use crate::error::{IoContext, StorageError};
use crate::load::parallel_map;
use crate::log::Log;

const LOCK_FILE: &str = ".lock";
const META_FILE: &str = "meta.properties";
const META_BODY: &str = "version=1\nsluice.log.format=1\n";
/// Suffix of a partition directory being deleted.
const DELETED_DIR_SUFFIX: &str = ".deleted";

/// A topic partition; its directory is `<topic>-<partition>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// Builds a topic partition.
    pub fn new(topic: impl Into<String>, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    /// The directory name, `<topic>-<partition>` as Kafka names it.
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }

    /// Parses a directory name; `None` for anything that is not a partition.
    pub fn from_dir_name(name: &str) -> Option<TopicPartition> {
        let (topic, partition) = name.rsplit_once('-')?;
        let partition: i32 = partition.parse().ok()?;
        (!topic.is_empty()
            && partition >= 0
            && partition.to_string().len() == name.len() - topic.len() - 1)
            .then(|| TopicPartition::new(topic, partition))
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Owns a data directory: holds its lock file for as long as it lives so two
/// brokers cannot share one directory, opens every partition at start, and
/// creates and deletes partition logs. The logs themselves are handed to the
/// caller (the broker's replica manager owns them).
#[derive(Debug)]
pub struct LogManager {
    data_dir: PathBuf,
    default_config: LogConfig,
    /// Held (and flock'ed) for the manager's lifetime; the lock is released when
    /// the file is closed.
    _lock: File,
}

impl LogManager {
    /// Locks the data dir (lock file), checks or writes `meta.properties`,
    /// removes partitions left half-deleted, and opens every
    /// `<topic>-<partition>` directory in parallel (each with its own recovery,
    /// stored overrides applied on top of `default_config`).
    ///
    /// # Errors
    /// `DirectoryLocked` when another process holds the lock; `Io` naming the
    /// directory that cannot be read; any partition's open error.
    pub fn open(
        data_dir: &Path,
        default_config: LogConfig,
    ) -> Result<(LogManager, Vec<(TopicPartition, Log)>), StorageError> {
        fs::create_dir_all(data_dir).at(data_dir)?;
        let lock = lock_data_dir(data_dir)?;
        check_meta(data_dir)?;
        let partitions = list_partitions(data_dir)?;
        let logs = open_in_parallel(partitions, &default_config)?;
        let manager = LogManager {
            data_dir: data_dir.to_owned(),
            default_config,
            _lock: lock,
        };
        Ok((manager, logs))
    }

    /// Creates an empty log for `tp` with `config`.
    ///
    /// # Errors
    /// `LogAlreadyExists` when the directory exists; I/O errors.
    pub fn create_log(&self, tp: &TopicPartition, config: LogConfig) -> Result<Log, StorageError> {
        let dir = self.data_dir.join(tp.dir_name());
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StorageError::LogAlreadyExists { path: dir });
            }
            Err(e) => return Err(StorageError::io(dir, e)),
        }
        let log = match Log::open(&dir, config) {
            Ok(log) => log,
            Err(error) => {
                // Leave no half-created log behind (e.g. on ENOSPC) for a
                // retry to find "already existing".
                if let Err(cleanup) = fs::remove_dir_all(&dir) {
                    tracing::warn!(path = %dir.display(), error = %cleanup, "cannot remove a log that failed to open");
                }
                return Err(error);
            }
        };
        sync_dir(&self.data_dir)?;
        Ok(log)
    }

    /// Deletes a partition's log. The directory is renamed first (a restart
    /// finishes the job) and then removed; readers still holding a
    /// [`crate::FetchSlice`] keep valid bytes because an unlinked file lives on
    /// until its last mapping is dropped, so the space goes when they do.
    ///
    /// # Errors
    /// I/O errors renaming or removing the directory.
    pub fn delete_log(&self, tp: &TopicPartition, log: Log) -> Result<(), StorageError> {
        let dir = self.data_dir.join(tp.dir_name());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let doomed = self
            .data_dir
            .join(format!("{}.{nanos}{DELETED_DIR_SUFFIX}", tp.dir_name()));
        drop(log);
        fs::rename(&dir, &doomed).at(&dir)?;
        sync_dir(&self.data_dir)?;
        fs::remove_dir_all(&doomed).at(&doomed)
    }

    /// Clean shutdown: closes every log (fsync, trim, checkpoint, clean marker)
    /// and releases the lock. Every log is closed even if one fails; the first
    /// error is returned.
    ///
    /// # Errors
    /// The first close error.
    pub fn shutdown(self, logs: Vec<(TopicPartition, Log)>) -> Result<(), StorageError> {
        let mut first_error = None;
        for (tp, log) in logs {
            if let Err(error) = log.close() {
                tracing::error!(%tp, %error, "could not close log cleanly");
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The config new logs get unless the caller passes another.
    pub fn default_config(&self) -> &LogConfig {
        &self.default_config
    }
}

fn lock_data_dir(data_dir: &Path) -> Result<File, StorageError> {
    let path = data_dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .at(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(StorageError::DirectoryLocked {
            path: data_dir.to_owned(),
        }),
        Err(fs::TryLockError::Error(e)) => Err(StorageError::io(path, e)),
    }
}

fn check_meta(data_dir: &Path) -> Result<(), StorageError> {
    let path = data_dir.join(META_FILE);
    match read_checked(&path)? {
        Some(body) if body == META_BODY => Ok(()),
        Some(_) => Err(StorageError::CorruptFile {
            path,
            reason: "unsupported meta.properties version".to_owned(),
        }),
        None => write_checked(&path, META_BODY),
    }
}

/// Directories of the data directory that belong to other components, not
/// partitions: the controller's Raft log and snapshots (`sluice-controller`),
/// as Kafka keeps its metadata log beside the partitions.
const RESERVED_DIRS: &[&str] = &["__cluster_metadata"];

/// Partition directories under `data_dir`; half-deleted ones are removed.
fn list_partitions(data_dir: &Path) -> Result<Vec<(TopicPartition, PathBuf)>, StorageError> {
    let mut partitions = Vec::new();
    for entry in fs::read_dir(data_dir).at(data_dir)? {
        let entry = entry.at(data_dir)?;
        let path = entry.path();
        if !entry.file_type().at(&path)?.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(DELETED_DIR_SUFFIX) {
            fs::remove_dir_all(&path).at(&path)?;
        } else if RESERVED_DIRS.contains(&name.as_str()) {
            continue;
        } else if let Some(tp) = TopicPartition::from_dir_name(&name) {
            partitions.push((tp, path));
        } else {
            tracing::warn!(dir = %path.display(), "ignoring directory that is not <topic>-<partition>");
        }
    }
    partitions.sort();
    Ok(partitions)
}

/// Opens the logs with `num.recovery.threads.per.data.dir` threads in all: one
/// partition per thread at a time, and the threads left over when there are
/// fewer partitions than threads scan a partition's segments in parallel.
fn open_in_parallel(
    partitions: Vec<(TopicPartition, PathBuf)>,
    config: &LogConfig,
) -> Result<Vec<(TopicPartition, Log)>, StorageError> {
    let threads = config.num_recovery_threads_per_data_dir.max(1);
    let per_partition = (threads / partitions.len().max(1)).max(1);
    let results = parallel_map(&partitions, threads, |(_, dir)| {
        Log::open_with_threads(dir, config.clone(), per_partition)
    });
    let mut logs = Vec::with_capacity(partitions.len());
    for ((tp, dir), result) in partitions.into_iter().zip(results) {
        match result {
            Some(Ok(log)) => logs.push((tp, log)),
            Some(Err(error)) => return Err(error),
            None => {
                return Err(StorageError::CorruptFile {
                    path: dir,
                    reason: "a thread opening a partition panicked".to_owned(),
                });
            }
        }
    }
    Ok(logs)
}

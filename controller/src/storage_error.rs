//! Errors of the Raft log and snapshot files.

use std::path::PathBuf;

/// Why a Raft log, snapshot or vote file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The operating system refused a file operation.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`open`, `fsync`, ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file's header or checksum is wrong where no torn write can explain
    /// it (a header, a snapshot, a vote): the file is corrupt.
    #[error("{path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Entries appended out of order: the index must follow the last one.
    #[error("log entry index {got} does not follow {expected}")]
    NotContiguous {
        /// The index the next entry must have.
        expected: u64,
        /// The index it has.
        got: u64,
    },
    /// Entries appended with a term below the last entry's term.
    #[error("log entry term {got} is below the last term {last}")]
    TermGoesBack {
        /// The last entry's term.
        last: u64,
        /// The new entry's term.
        got: u64,
    },
    /// An entry larger than `metadata.log.max.entry.bytes`.
    #[error("log entry of {bytes} bytes is over the limit of {limit}")]
    EntryTooLarge {
        /// The entry's payload size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// A truncation that would remove purged (snapshotted) entries.
    #[error("cannot truncate at {index}: entries up to {purged} are purged")]
    BelowPurged {
        /// Where truncation was asked.
        index: u64,
        /// The last purged index.
        purged: u64,
    },
}

/// Attaches an action and a path to I/O errors.
pub(crate) trait IoContext<T> {
    /// Wraps the error with what was done to which path.
    fn at(self, action: &'static str, path: &std::path::Path) -> Result<T, StorageError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, action: &'static str, path: &std::path::Path) -> Result<T, StorageError> {
        self.map_err(|source| StorageError::Io {
            action,
            path: path.to_path_buf(),
            source,
        })
    }
}

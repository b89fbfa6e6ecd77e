//! The crate's error type and its mapping to Kafka error codes.

use std::io;
use std::path::PathBuf;

/// Why a topic-level configuration could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The name is not a topic-level config this log understands; the broker may
    /// handle it itself (e.g. `min.insync.replicas`) before asking storage.
    #[error("unknown topic config `{name}`")]
    Unknown {
        /// The Kafka name that was given.
        name: String,
    },
    /// The value does not parse or is outside the range Kafka allows.
    #[error("invalid value `{value}` for topic config `{name}`: {reason}")]
    InvalidValue {
        /// The Kafka name of the config.
        name: String,
        /// The rejected value.
        value: String,
        /// What a valid value looks like.
        reason: &'static str,
    },
}

/// Everything that can go wrong in the partition log.
///
/// Variants are phrased in the caller's terms; [`StorageError::kafka_error_code`]
/// maps each one to the code the broker puts in a response.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A record batch failed a structural check (length, CRC-32C): the bytes were
    /// damaged in flight or the client is broken. Nothing was written.
    #[error("corrupt record batch at byte {position} of the request: {reason}")]
    CorruptBatch {
        /// Byte offset of the bad batch inside the appended buffer.
        position: usize,
        /// Which check failed.
        reason: &'static str,
    },
    /// A record batch is well formed but breaks a record-level rule (no records,
    /// offset deltas not dense from 0, wrong magic). Nothing was written.
    #[error("invalid record batch at byte {position} of the request: {reason}")]
    InvalidRecord {
        /// Byte offset of the bad batch inside the appended buffer.
        position: usize,
        /// Which rule was broken.
        reason: &'static str,
    },
    /// The requested offset is outside `[log_start_offset, log_end_offset]`.
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        /// The offset that was asked for.
        offset: i64,
        /// The first offset still in the log.
        log_start_offset: i64,
        /// The offset the next appended record will get.
        log_end_offset: i64,
    },
    /// A follower append did not start at the log end offset, so accepting it would
    /// leave a gap or overlap.
    #[error("follower append starts at offset {found}, expected {expected}")]
    UnexpectedAppendOffset {
        /// The log end offset.
        expected: i64,
        /// The base offset of the first batch given.
        found: i64,
    },
    /// A batch (or the whole append) is bigger than `max.message.bytes` or than a
    /// segment can hold.
    #[error("record batch of {size} bytes exceeds the limit of {max_bytes} bytes")]
    MessageTooLarge {
        /// Size of the offending batch or append in bytes.
        size: u64,
        /// The limit that was exceeded.
        max_bytes: u64,
    },
    /// A file operation failed (including `ENOSPC` on a full disk).
    #[error("I/O error on {path}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Another process (another broker) holds the data directory's lock file.
    #[error("data directory {path} is locked by another process")]
    DirectoryLocked {
        /// The data directory.
        path: PathBuf,
    },
    /// A file of ours does not parse or fails its checksum.
    #[error("corrupt file {path}: {reason}")]
    CorruptFile {
        /// The damaged file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A partition directory already exists where a new log was to be created.
    #[error("a log already exists at {path}")]
    LogAlreadyExists {
        /// The partition directory.
        path: PathBuf,
    },
    /// A stored or requested configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Kafka's `OFFSET_OUT_OF_RANGE`.
const OFFSET_OUT_OF_RANGE: i16 = 1;
/// Kafka's `CORRUPT_MESSAGE`.
const CORRUPT_MESSAGE: i16 = 2;
/// Kafka's `MESSAGE_TOO_LARGE`.
const MESSAGE_TOO_LARGE: i16 = 10;
/// Kafka's `TOPIC_ALREADY_EXISTS`.
const TOPIC_ALREADY_EXISTS: i16 = 36;
/// Kafka's `INVALID_CONFIG`.
const INVALID_CONFIG: i16 = 40;
/// Kafka's `KAFKA_STORAGE_ERROR`.
const KAFKA_STORAGE_ERROR: i16 = 56;
/// Kafka's `INVALID_RECORD`.
const INVALID_RECORD: i16 = 87;

impl StorageError {
    /// The Kafka error code a response should carry for this error, so the broker
    /// maps storage failures in one place.
    pub fn kafka_error_code(&self) -> i16 {
        match self {
            StorageError::CorruptBatch { .. } => CORRUPT_MESSAGE,
            StorageError::InvalidRecord { .. } => INVALID_RECORD,
            StorageError::OffsetOutOfRange { .. } | StorageError::UnexpectedAppendOffset { .. } => {
                OFFSET_OUT_OF_RANGE
            }
            StorageError::MessageTooLarge { .. } => MESSAGE_TOO_LARGE,
            StorageError::LogAlreadyExists { .. } => TOPIC_ALREADY_EXISTS,
            StorageError::Config(_) => INVALID_CONFIG,
            StorageError::Io { .. }
            | StorageError::DirectoryLocked { .. }
            | StorageError::CorruptFile { .. } => KAFKA_STORAGE_ERROR,
        }
    }

    /// True when the error is the disk being full (`ENOSPC`): the log is intact
    /// and appends will succeed again once space is freed.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StorageError::Io { source, .. } if source.raw_os_error() == Some(libc::ENOSPC))
    }

    /// Wraps an I/O error with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> StorageError {
        StorageError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Adds the path to an `io::Result`, the one way this crate reports I/O errors.
pub(crate) trait IoContext<T> {
    /// Converts the error into [`StorageError::Io`] naming `path`.
    fn at(self, path: &std::path::Path) -> Result<T, StorageError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T, StorageError> {
        self.map_err(|source| StorageError::io(path, source))
    }
}

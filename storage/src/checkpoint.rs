//! Small durable files of our own: the partition checkpoint and the clean-shutdown
//! marker, plus the helpers that make any small file crash-safe.
//!
//! Every such file is text ending in a `crc32 <hex>` line (CRC-32/IEEE from
//! `crc32fast` over everything before it) and is replaced atomically: written
//! to `<name>.tmp`, fsynced, renamed over, and the directory fsynced.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{IoContext, StorageError};

/// Per-partition checkpoint file name (Kafka keeps one per data dir; we keep one
/// per partition so a [`crate::Log`] is self-contained).
pub(crate) const CHECKPOINT_FILE: &str = "recovery-point-offset-checkpoint";
/// Present only between a clean close and the next open: the scan can be skipped.
pub(crate) const CLEAN_SHUTDOWN_FILE: &str = ".clean-shutdown";

/// The most bytes [`read_checked`] reads. The files it reads (checkpoints,
/// `partition.metadata`, `meta.properties`) are a few lines long; a larger
/// one is damaged, and reading it whole would size memory by the damage.
pub(crate) const MAX_CHECKED_FILE_BYTES: u64 = 1024 * 1024;

/// Fsyncs a directory so renames and creations in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

/// Atomically replaces `path` with `body` plus its CRC line.
pub(crate) fn write_checked(path: &Path, body: &str) -> Result<(), StorageError> {
    let crc = crc32fast::hash(body.as_bytes());
    let temp = temp_path(path);
    let mut file = File::create(&temp).at(&temp)?;
    file.write_all(format!("{body}crc32 {crc:08x}\n").as_bytes())
        .at(&temp)?;
    file.sync_all().at(&temp)?;
    fs::rename(&temp, path).at(path)?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Reads a file written by [`write_checked`]: `Ok(None)` when it does not exist,
/// `CorruptFile` when its CRC line is missing or wrong.
///
/// At most [`MAX_CHECKED_FILE_BYTES`] are read: a larger file is `CorruptFile`,
/// whatever its length on disk.
pub(crate) fn read_checked(path: &Path) -> Result<Option<String>, StorageError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io(path, e)),
    };
    let corrupt = |reason: &str| StorageError::CorruptFile {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    // One byte past the limit tells "at the limit" from "over it".
    let mut text = String::new();
    file.take(MAX_CHECKED_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .at(path)?;
    if text.len() as u64 > MAX_CHECKED_FILE_BYTES {
        return Err(corrupt("larger than any file we write"));
    }
    let body_end = text.trim_end_matches('\n').rfind('\n').map_or(0, |i| i + 1);
    let (body, crc_line) = text.split_at(body_end);
    let stored = crc_line
        .trim()
        .strip_prefix("crc32 ")
        .ok_or_else(|| corrupt("missing crc32 line"))?;
    let stored = u32::from_str_radix(stored, 16).map_err(|_| corrupt("unreadable crc32"))?;
    if stored != crc32fast::hash(body.as_bytes()) {
        return Err(corrupt("crc32 mismatch"));
    }
    Ok(Some(body.to_owned()))
}

/// What a partition remembers across restarts besides its segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartitionCheckpoint {
    /// Everything below is known to be on disk; recovery scans from here.
    pub recovery_point: i64,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

impl PartitionCheckpoint {
    /// Durably writes the checkpoint into the partition directory.
    pub fn write(&self, dir: &Path) -> Result<(), StorageError> {
        let body = format!(
            "0\nrecovery_point {}\nhigh_watermark {}\nlog_start_offset {}\n",
            self.recovery_point, self.high_watermark, self.log_start_offset
        );
        write_checked(&dir.join(CHECKPOINT_FILE), &body)
    }

    /// Reads the checkpoint; `Ok(None)` when absent.
    pub fn read(dir: &Path) -> Result<Option<PartitionCheckpoint>, StorageError> {
        let path = dir.join(CHECKPOINT_FILE);
        let Some(body) = read_checked(&path)? else {
            return Ok(None);
        };
        let mut lines = body.lines();
        let bad = || StorageError::CorruptFile {
            path: path.clone(),
            reason: "unexpected checkpoint content".to_owned(),
        };
        if lines.next() != Some("0") {
            return Err(bad());
        }
        let mut field = |name: &str| -> Result<i64, StorageError> {
            lines
                .next()
                .and_then(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(bad)
        };
        Ok(Some(PartitionCheckpoint {
            recovery_point: field("recovery_point ")?,
            high_watermark: field("high_watermark ")?,
            log_start_offset: field("log_start_offset ")?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trips() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string()).unwrap();
        let checkpoint = PartitionCheckpoint {
            recovery_point: 10,
            high_watermark: 7,
            log_start_offset: 3,
        };
        checkpoint
            .write(dir.path())
            .map_err(|e| e.to_string())
            .unwrap();
        assert_eq!(
            PartitionCheckpoint::read(dir.path()).ok().flatten(),
            Some(checkpoint)
        );
    }

    #[test]
    fn checked_file_over_the_limit_is_corrupt_without_being_read_whole() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string()).unwrap();
        let path = dir.path().join(CHECKPOINT_FILE);
        // Sparse: a gigabyte on paper, nothing on disk.
        File::create(&path)
            .and_then(|file| file.set_len(1 << 30))
            .map_err(|e| e.to_string())
            .unwrap();
        match PartitionCheckpoint::read(dir.path()) {
            Err(StorageError::CorruptFile { reason, .. }) => {
                assert_eq!(reason, "larger than any file we write");
            }
            other => panic!("expected CorruptFile, got {other:?}"),
        }
    }

    #[test]
    fn damaged_checkpoint_is_reported_corrupt() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string()).unwrap();
        let checkpoint = PartitionCheckpoint {
            recovery_point: 10,
            high_watermark: 7,
            log_start_offset: 3,
        };
        checkpoint
            .write(dir.path())
            .map_err(|e| e.to_string())
            .unwrap();
        let path = dir.path().join(CHECKPOINT_FILE);
        let text = fs::read_to_string(&path)
            .unwrap_or_default()
            .replace("10", "11");
        fs::write(&path, text).map_err(|e| e.to_string()).unwrap();
        assert!(matches!(
            PartitionCheckpoint::read(dir.path()),
            Err(StorageError::CorruptFile { .. })
        ));
    }
}

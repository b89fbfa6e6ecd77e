//! The Raft log on disk: one append-only file of checksummed entries.
//!
//! `raft.log` starts with a fixed header (magic `SLCTLLOG`, format version,
//! the log id of the last purged entry if any, CRC-32 of those) and is
//! followed by frames, back to back:
//!
//! ```text
//! length: u32 LE   bytes after the CRC (16 + payload)
//! crc:    u32 LE   CRC-32 (IEEE) of term, index and payload
//! term:   u64 LE
//! index:  u64 LE
//! payload
//! ```
//!
//! Appends are fsynced before they return. Opening reads every frame and
//! cuts the file at the first one that is incomplete, over the size limit,
//! longer than what is left of the file, fails its CRC, or does not follow
//! the one before it (index + 1, term not lower) — a torn tail, as a segment
//! cuts one. The first entry may have any index above the purged one
//! (openraft decides where a log starts). Raft then fetches what was cut from the leader. A conflict
//! truncates a suffix; a snapshot purges a prefix by rewriting the kept
//! suffix under a new header into a temp file, fsyncing it and renaming it
//! over the log. No length read from the file is allocated before it is
//! checked against the limit and the bytes left in the file.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checked_file::temp_path;
use crate::storage_error::{IoContext, StorageError};

/// The log file's name inside the controller's directory.
pub const RAFT_LOG_FILE_NAME: &str = "raft.log";
const MAGIC: &[u8; 8] = b"SLCTLLOG";
const VERSION: u8 = 0;
/// Magic, version, has-purged flag, term, index, CRC.
const HEADER_BYTES: u64 = 8 + 1 + 1 + 8 + 8 + 4;
/// Length and CRC.
const FRAME_PREFIX_BYTES: usize = 8;
/// Term and index.
const ENTRY_ID_BYTES: usize = 16;

/// Limits of the Raft log and snapshot files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RaftStorageConfig {
    /// Largest payload of one log entry (`metadata.log.max.entry.bytes`, a
    /// Sluice setting). A frame claiming more is a corrupt tail. Default
    /// 8 MiB.
    #[serde(rename = "metadata.log.max.entry.bytes")]
    pub max_entry_bytes: usize,
    /// Largest snapshot (`metadata.snapshot.max.bytes`, a Sluice setting).
    /// Default 1 GiB.
    #[serde(rename = "metadata.snapshot.max.bytes")]
    pub max_snapshot_bytes: u64,
}

impl Default for RaftStorageConfig {
    fn default() -> Self {
        Self {
            max_entry_bytes: 8 * 1024 * 1024,
            max_snapshot_bytes: 1024 * 1024 * 1024,
        }
    }
}

/// A Raft log position: the term and index of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LogId {
    /// The term the entry was written in.
    pub term: u64,
    /// The entry's index.
    pub index: u64,
}

/// One entry of the Raft log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Its position.
    pub id: LogId,
    /// Its bytes (for metadata, an encoded record batch; for Raft's own
    /// entries, whatever the glue writes).
    pub payload: Vec<u8>,
}

/// What opening the log found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRecovery {
    /// Entries kept.
    pub entries: usize,
    /// Bytes cut from a torn or corrupt tail (0 when the file was clean).
    pub truncated_bytes: u64,
}

#[derive(Debug, Clone, Copy)]
struct EntryPosition {
    term: u64,
    position: u64,
    frame_bytes: u64,
}

/// The Raft log file, open. Synchronous: call it from a blocking task.
#[derive(Debug)]
pub struct RaftLogFile {
    path: PathBuf,
    file: File,
    config: RaftStorageConfig,
    purged: Option<LogId>,
    /// The index of the first entry in the file (meaningful when it holds
    /// any).
    first: u64,
    /// Where entry `first + i` is, for every entry in the file.
    positions: Vec<EntryPosition>,
    end: u64,
}

impl RaftLogFile {
    /// Opens (or creates) `dir/raft.log`, cutting a torn tail.
    ///
    /// # Errors
    ///
    /// [`StorageError::Io`] when the file cannot be created, read, cut or
    /// fsynced; [`StorageError::Corrupt`] when its header is wrong (a header
    /// is only ever written whole, through a rename, so no crash explains it).
    pub fn open(
        dir: &Path,
        config: RaftStorageConfig,
    ) -> Result<(Self, LogRecovery), StorageError> {
        let path = dir.join(RAFT_LOG_FILE_NAME);
        let _ = fs::remove_file(temp_path(&path));
        if !path.exists() {
            write_fresh(&path, None, None)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .at("open", &path)?;
        let file_bytes = file.metadata().at("stat", &path)?.len();
        let mut reader = BufReader::new(&file);
        let purged = read_header(&mut reader, &path, file_bytes)?;
        let mut log = Self {
            path,
            file: file.try_clone().at("open", dir)?,
            config,
            purged,
            first: 0,
            positions: Vec::new(),
            end: HEADER_BYTES,
        };
        log.scan(&mut reader, file_bytes)?;
        drop(reader);
        let truncated_bytes = file_bytes - log.end;
        if truncated_bytes > 0 {
            tracing::warn!(
                path = %log.path.display(),
                kept_entries = log.positions.len(),
                truncated_bytes,
                "raft log: cut a torn or corrupt tail"
            );
            log.file.set_len(log.end).at("truncate", &log.path)?;
            log.file.sync_all().at("fsync", &log.path)?;
        }
        let recovery = LogRecovery {
            entries: log.positions.len(),
            truncated_bytes,
        };
        Ok((log, recovery))
    }

    /// Reads frames until the first one that is not whole and valid.
    fn scan(&mut self, reader: &mut impl Read, file_bytes: u64) -> Result<(), StorageError> {
        let max_frame = (self.config.max_entry_bytes + ENTRY_ID_BYTES) as u64;
        let mut buffer = Vec::new();
        loop {
            let mut prefix = [0u8; FRAME_PREFIX_BYTES];
            let left = file_bytes - self.end;
            if left < FRAME_PREFIX_BYTES as u64 {
                return Ok(());
            }
            reader.read_exact(&mut prefix).at("read", &self.path)?;
            let (length, crc) = split_prefix(&prefix);
            let length = u64::from(length);
            if length < ENTRY_ID_BYTES as u64
                || length > max_frame
                || length > left - FRAME_PREFIX_BYTES as u64
            {
                return Ok(());
            }
            buffer.resize(length as usize, 0);
            reader.read_exact(&mut buffer).at("read", &self.path)?;
            if crc32fast::hash(&buffer) != crc {
                return Ok(());
            }
            let id = entry_id(&buffer);
            if self.check_follows(id).is_err() {
                return Ok(());
            }
            let frame_bytes = FRAME_PREFIX_BYTES as u64 + length;
            if self.positions.is_empty() {
                self.first = id.index;
            }
            self.positions.push(EntryPosition {
                term: id.term,
                position: self.end,
                frame_bytes,
            });
            self.end += frame_bytes;
        }
    }

    /// Whether `id` may be the next entry: the last index + 1 after an
    /// entry; above the purged index in a log that holds none (any index in
    /// a fresh log: openraft decides where a log starts).
    fn check_follows(&self, id: LogId) -> Result<(), StorageError> {
        let expected = self.last_log_id().map_or(0, |l| l.index.saturating_add(1));
        let fits = if self.positions.is_empty() {
            id.index >= expected || self.purged.is_none()
        } else {
            id.index == expected
        };
        if !fits {
            return Err(StorageError::NotContiguous {
                expected,
                got: id.index,
            });
        }
        let last_term = self.last_log_id().map_or(0, |l| l.term);
        if id.term < last_term {
            return Err(StorageError::TermGoesBack {
                last: last_term,
                got: id.term,
            });
        }
        Ok(())
    }

    /// The last purged entry (the snapshot's end), if any.
    pub fn purged(&self) -> Option<LogId> {
        self.purged
    }

    /// The index of the first entry in the file, if it holds any.
    pub fn first_index(&self) -> Option<u64> {
        (!self.positions.is_empty()).then_some(self.first)
    }

    /// The last entry's id, or the last purged one when the file holds none.
    pub fn last_log_id(&self) -> Option<LogId> {
        match (self.first_index(), self.positions.last()) {
            (Some(first), Some(last)) => Some(LogId {
                term: last.term,
                index: first + self.positions.len() as u64 - 1,
            }),
            _ => self.purged,
        }
    }

    /// Appends entries and fsyncs them before returning.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotContiguous`], [`StorageError::TermGoesBack`] or
    /// [`StorageError::EntryTooLarge`] (nothing is written then), or
    /// [`StorageError::Io`] (the file is cut back to where it was).
    pub fn append(&mut self, entries: &[LogEntry]) -> Result<(), StorageError> {
        let mut bytes = Vec::new();
        let mut added = Vec::with_capacity(entries.len());
        let mut position = self.end;
        let saved = self.positions.len();
        for entry in entries {
            if entry.payload.len() > self.config.max_entry_bytes {
                self.positions.truncate(saved);
                return Err(StorageError::EntryTooLarge {
                    bytes: entry.payload.len(),
                    limit: self.config.max_entry_bytes,
                });
            }
            if let Err(e) = self.check_follows(entry.id) {
                self.positions.truncate(saved);
                return Err(e);
            }
            let frame_bytes = encode_frame(entry, &mut bytes);
            if self.positions.is_empty() {
                self.first = entry.id.index;
            }
            let at = EntryPosition {
                term: entry.id.term,
                position,
                frame_bytes,
            };
            // Pushed now so the next entry's check sees it; undone on error.
            self.positions.push(at);
            added.push(at);
            position += frame_bytes;
        }
        let written = self
            .file
            .write_all_at(&bytes, self.end)
            .and_then(|()| self.file.sync_data());
        if let Err(source) = written {
            self.positions.truncate(saved);
            let _ = self.file.set_len(self.end);
            return Err(source).at("append", &self.path);
        }
        self.end = position;
        Ok(())
    }

    /// Reads entries with index in `from..to` (those the file holds).
    ///
    /// # Errors
    ///
    /// [`StorageError::Io`] on a read error, [`StorageError::Corrupt`] when a
    /// frame that was valid at open no longer checks out.
    pub fn read_range(&self, from: u64, to: u64) -> Result<Vec<LogEntry>, StorageError> {
        let Some(first) = self.first_index() else {
            return Ok(Vec::new());
        };
        let start = from.max(first);
        let stop = to.min(first + self.positions.len() as u64);
        (start..stop)
            .map(|index| self.read_at(self.positions[(index - first) as usize]))
            .collect()
    }

    /// Reads the entry at `index`, if the file holds it.
    ///
    /// # Errors
    ///
    /// As [`RaftLogFile::read_range`].
    pub fn read(&self, index: u64) -> Result<Option<LogEntry>, StorageError> {
        Ok(self
            .read_range(index, index.saturating_add(1))?
            .into_iter()
            .next())
    }

    fn read_at(&self, at: EntryPosition) -> Result<LogEntry, StorageError> {
        let mut frame = vec![0u8; at.frame_bytes as usize];
        self.file
            .read_exact_at(&mut frame, at.position)
            .at("read", &self.path)?;
        let (prefix, body) = frame.split_at(FRAME_PREFIX_BYTES);
        let (_, crc) = split_prefix(prefix);
        if crc32fast::hash(body) != crc {
            return Err(StorageError::Corrupt {
                path: self.path.clone(),
                reason: format!("entry at byte {} fails its CRC", at.position),
            });
        }
        Ok(LogEntry {
            id: entry_id(body),
            payload: body[ENTRY_ID_BYTES..].to_vec(),
        })
    }

    /// Removes entries from `index` on (a Raft conflict) and fsyncs.
    ///
    /// # Errors
    ///
    /// [`StorageError::BelowPurged`] when `index` is at or below the purged
    /// prefix; [`StorageError::Io`] when the cut fails.
    pub fn truncate_from(&mut self, index: u64) -> Result<(), StorageError> {
        if let Some(purged) = self.purged
            && index <= purged.index
        {
            return Err(StorageError::BelowPurged {
                index,
                purged: purged.index,
            });
        }
        let Some(first) = self.first_index() else {
            return Ok(());
        };
        let keep = index.saturating_sub(first) as usize;
        if keep >= self.positions.len() {
            return Ok(());
        }
        let end = self.positions[keep].position;
        self.file.set_len(end).at("truncate", &self.path)?;
        self.file.sync_all().at("fsync", &self.path)?;
        self.positions.truncate(keep);
        self.end = end;
        Ok(())
    }

    /// Removes entries up to and including `upto` (covered by a snapshot):
    /// the kept suffix is written under a new header to a temp file, fsynced
    /// and renamed over the log. `upto` may be past the last entry (a
    /// snapshot installed from the leader); the log is then empty and the
    /// next entry must be `upto.index + 1`.
    ///
    /// # Errors
    ///
    /// [`StorageError::Io`]; the old file is untouched unless the rename
    /// happened.
    pub fn purge_through(&mut self, upto: LogId) -> Result<(), StorageError> {
        if self.purged.is_some_and(|p| p.index >= upto.index) {
            return Ok(());
        }
        let drop_count = match self.first_index() {
            Some(first) if upto.index >= first => (upto.index - first)
                .saturating_add(1)
                .min(self.positions.len() as u64)
                as usize,
            _ => 0,
        };
        let kept_from = self
            .positions
            .get(drop_count)
            .map_or(self.end, |p| p.position);
        let mut suffix = vec![0u8; (self.end - kept_from) as usize];
        self.file
            .read_exact_at(&mut suffix, kept_from)
            .at("read", &self.path)?;
        write_fresh(&self.path, Some(upto), Some(&suffix))?;
        self.file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .at("open", &self.path)?;
        let shift = kept_from - HEADER_BYTES;
        self.positions.drain(..drop_count);
        for p in &mut self.positions {
            p.position -= shift;
        }
        self.end -= shift;
        self.first = self.first.saturating_add(drop_count as u64);
        self.purged = Some(upto);
        Ok(())
    }
}

/// Writes a log file with `purged` in its header and `frames` after it,
/// through a temp file, fsync and rename.
fn write_fresh(
    path: &Path,
    purged: Option<LogId>,
    frames: Option<&[u8]>,
) -> Result<(), StorageError> {
    let mut header = Vec::with_capacity(HEADER_BYTES as usize);
    header.extend_from_slice(MAGIC);
    header.push(VERSION);
    header.push(u8::from(purged.is_some()));
    let id = purged.unwrap_or(LogId { term: 0, index: 0 });
    header.extend_from_slice(&id.term.to_le_bytes());
    header.extend_from_slice(&id.index.to_le_bytes());
    let crc = crc32fast::hash(&header);
    header.extend_from_slice(&crc.to_le_bytes());
    header.extend_from_slice(frames.unwrap_or_default());
    crate::checked_file::write_atomically(path, &header)?;
    Ok(())
}

fn read_header(
    reader: &mut impl Read,
    path: &Path,
    file_bytes: u64,
) -> Result<Option<LogId>, StorageError> {
    let corrupt = |reason: &str| StorageError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    };
    if file_bytes < HEADER_BYTES {
        return Err(corrupt("shorter than its header"));
    }
    let mut header = [0u8; HEADER_BYTES as usize];
    reader.read_exact(&mut header).at("read", path)?;
    let (fields, crc) = header.split_at(HEADER_BYTES as usize - 4);
    if &fields[..8] != MAGIC || fields[8] != VERSION {
        return Err(corrupt("wrong magic or format version"));
    }
    if crc32fast::hash(fields).to_le_bytes() != crc {
        return Err(corrupt("header CRC mismatch"));
    }
    let id = entry_id(&fields[10..26]);
    Ok((fields[9] == 1).then_some(id))
}

/// Appends `entry`'s frame to `out`; returns the frame's size.
fn encode_frame(entry: &LogEntry, out: &mut Vec<u8>) -> u64 {
    let start = out.len();
    let length = (ENTRY_ID_BYTES + entry.payload.len()) as u32;
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&entry.id.term.to_le_bytes());
    out.extend_from_slice(&entry.id.index.to_le_bytes());
    out.extend_from_slice(&entry.payload);
    let crc = crc32fast::hash(&out[start + FRAME_PREFIX_BYTES..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    (out.len() - start) as u64
}

/// Length and CRC from a frame's first 8 bytes (callers pass at least 8).
fn split_prefix(prefix: &[u8]) -> (u32, u32) {
    let length = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    let crc = u32::from_le_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]);
    (length, crc)
}

/// Term and index from the first 16 bytes of a frame body.
fn entry_id(body: &[u8]) -> LogId {
    let mut term = [0u8; 8];
    let mut index = [0u8; 8];
    term.copy_from_slice(&body[..8]);
    index.copy_from_slice(&body[8..16]);
    LogId {
        term: u64::from_le_bytes(term),
        index: u64::from_le_bytes(index),
    }
}

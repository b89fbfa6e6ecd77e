//! Snapshots and the Raft vote on disk.
//!
//! A snapshot is one checked file (see `checked_file.rs`: magic, version,
//! length, CRC-32, body; written to a temp file, fsynced, renamed, directory
//! fsynced) named `snapshot-<index>-<term>.snap`, whose body is the last
//! included log id (term, index as u64 LE) followed by the state machine's
//! bytes. After a new snapshot is durable, older ones are deleted. Loading
//! takes the newest snapshot that checks out and skips (and reports) any
//! that do not. The vote (Raft's term and candidate) is a checked file
//! `vote` of opaque bytes the glue encodes.

use std::fs;
use std::path::{Path, PathBuf};

use crate::checked_file;
use crate::raft_log::{LogId, RaftStorageConfig};
use crate::storage_error::{IoContext, StorageError};

const SNAPSHOT_MAGIC: &[u8; 8] = b"SLCTLSNP";
const VOTE_MAGIC: &[u8; 8] = b"SLCTLVOT";
/// The vote file's name.
pub const VOTE_FILE_NAME: &str = "vote";
/// A vote is a term and a node id or two; anything larger is corrupt.
const MAX_VOTE_BYTES: u64 = 4096;

/// A snapshot read back from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The last log entry the snapshot includes.
    pub last_included: LogId,
    /// The state machine's bytes.
    pub data: Vec<u8>,
}

/// The directory holding snapshots and the vote.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    dir: PathBuf,
    config: RaftStorageConfig,
}

impl SnapshotStore {
    /// Snapshots in `dir` (created by the caller), with `config`'s limits.
    pub fn new(dir: &Path, config: RaftStorageConfig) -> Self {
        Self {
            dir: dir.to_path_buf(),
            config,
        }
    }

    fn path_of(&self, id: LogId) -> PathBuf {
        self.dir
            .join(format!("snapshot-{:020}-{:020}.snap", id.index, id.term))
    }

    /// Writes a snapshot durably, then deletes older ones.
    ///
    /// # Errors
    ///
    /// [`StorageError::Io`]; earlier snapshots are kept when writing fails.
    pub fn save(&self, snapshot: &Snapshot) -> Result<PathBuf, StorageError> {
        let mut body = Vec::with_capacity(16 + snapshot.data.len());
        body.extend_from_slice(&snapshot.last_included.term.to_le_bytes());
        body.extend_from_slice(&snapshot.last_included.index.to_le_bytes());
        body.extend_from_slice(&snapshot.data);
        let path = self.path_of(snapshot.last_included);
        checked_file::write(&path, SNAPSHOT_MAGIC, &body)?;
        for (_, older) in self
            .list()?
            .into_iter()
            .filter(|(id, _)| *id < snapshot.last_included)
        {
            fs::remove_file(&older).at("remove", &older)?;
        }
        Ok(path)
    }

    /// The newest snapshot that checks out, if any.
    ///
    /// # Errors
    ///
    /// [`StorageError::Io`] when the directory cannot be listed. A corrupt
    /// snapshot is skipped with a warning, not an error.
    pub fn load_latest(&self) -> Result<Option<Snapshot>, StorageError> {
        let mut snapshots = self.list()?;
        snapshots.sort();
        for (id, path) in snapshots.into_iter().rev() {
            match self.read(&path) {
                Ok(snapshot) if snapshot.last_included == id => return Ok(Some(snapshot)),
                Ok(_) => {
                    tracing::warn!(path = %path.display(), "snapshot name and contents disagree; skipped")
                }
                Err(error) => tracing::warn!(%error, "snapshot skipped"),
            }
        }
        Ok(None)
    }

    fn read(&self, path: &Path) -> Result<Snapshot, StorageError> {
        let body = checked_file::read(path, SNAPSHOT_MAGIC, self.config.max_snapshot_bytes + 16)?
            .ok_or_else(|| StorageError::Corrupt {
            path: path.to_path_buf(),
            reason: "vanished while loading".into(),
        })?;
        if body.len() < 16 {
            return Err(StorageError::Corrupt {
                path: path.to_path_buf(),
                reason: "body shorter than a log id".into(),
            });
        }
        let (id, data) = body.split_at(16);
        let mut term = [0u8; 8];
        let mut index = [0u8; 8];
        term.copy_from_slice(&id[..8]);
        index.copy_from_slice(&id[8..]);
        Ok(Snapshot {
            last_included: LogId {
                term: u64::from_le_bytes(term),
                index: u64::from_le_bytes(index),
            },
            data: data.to_vec(),
        })
    }

    /// Snapshot files by the log id in their names; removes leftover temp
    /// files of interrupted writes.
    fn list(&self) -> Result<Vec<(LogId, PathBuf)>, StorageError> {
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.dir).at("list", &self.dir)? {
            let path = entry.at("list", &self.dir)?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.starts_with("snapshot-") && name.ends_with(".tmp") {
                let _ = fs::remove_file(&path);
                continue;
            }
            if let Some(id) = parse_snapshot_name(name) {
                found.push((id, path));
            }
        }
        Ok(found)
    }

    /// Stores the Raft vote durably.
    ///
    /// # Errors
    ///
    /// [`StorageError::Io`].
    pub fn save_vote(&self, vote: &[u8]) -> Result<(), StorageError> {
        checked_file::write(&self.dir.join(VOTE_FILE_NAME), VOTE_MAGIC, vote)
    }

    /// The stored vote, if one was ever saved.
    ///
    /// # Errors
    ///
    /// [`StorageError::Corrupt`] when the vote file does not check out: a
    /// node that forgot its vote could vote twice in one term, so this is
    /// not skipped.
    pub fn load_vote(&self) -> Result<Option<Vec<u8>>, StorageError> {
        checked_file::read(&self.dir.join(VOTE_FILE_NAME), VOTE_MAGIC, MAX_VOTE_BYTES)
    }
}

/// `snapshot-<index>-<term>.snap` → its log id.
fn parse_snapshot_name(name: &str) -> Option<LogId> {
    let rest = name.strip_prefix("snapshot-")?.strip_suffix(".snap")?;
    let (index, term) = rest.split_once('-')?;
    Some(LogId {
        term: term.parse().ok()?,
        index: index.parse().ok()?,
    })
}

//! openraft's log storage over [`RaftLogFile`].
//!
//! An entry's payload in the file is a kind byte then its data: 0 blank,
//! 1 metadata records ([`crate::encode_batch`]), 2 a membership change
//! (openraft's type, as JSON). The vote is a JSON [`SnapshotStore`] vote
//! file. File I/O runs on tokio's blocking threads.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, Mutex};

use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{EntryPayload, RaftLogReader};

use super::types::{Entry, LogIdOf, MetadataBatch, TypeConfig, Vote, to_openraft, to_ours};
use crate::codec::{decode_batch, encode_batch};
use crate::raft_log::{LogEntry, RaftLogFile};
use crate::snapshot::SnapshotStore;

const BLANK: u8 = 0;
const RECORDS: u8 = 1;
const MEMBERSHIP: u8 = 2;

/// The Raft log and vote of one node; clones share the files.
#[derive(Debug, Clone)]
pub(crate) struct LogStore {
    log: Arc<Mutex<RaftLogFile>>,
    votes: SnapshotStore,
}

fn invalid(error: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error.to_string())
}

impl LogStore {
    pub(crate) fn new(log: RaftLogFile, votes: SnapshotStore) -> Self {
        Self {
            log: Arc::new(Mutex::new(log)),
            votes,
        }
    }

    /// Runs `f` on the log file on a blocking thread.
    async fn with_log<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut RaftLogFile) -> Result<T, crate::StorageError> + Send + 'static,
    ) -> Result<T, io::Error> {
        let log = Arc::clone(&self.log);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave the file half
            // changed in memory: every method updates its state last.
            let mut log = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut log).map_err(io::Error::other)
        })
        .await
        .map_err(io::Error::other)?
    }
}

fn encode_entry(entry: &Entry) -> Result<LogEntry, io::Error> {
    let mut payload = Vec::new();
    match &entry.payload {
        EntryPayload::Blank => payload.push(BLANK),
        EntryPayload::Normal(batch) => {
            payload.push(RECORDS);
            payload.extend_from_slice(&encode_batch(&batch.0));
        }
        EntryPayload::Membership(membership) => {
            payload.push(MEMBERSHIP);
            payload.extend_from_slice(&serde_json::to_vec(membership).map_err(invalid)?);
        }
    }
    Ok(LogEntry {
        id: to_ours(&entry.log_id),
        payload,
    })
}

fn decode_entry(entry: LogEntry) -> Result<Entry, io::Error> {
    let (&kind, data) = entry
        .payload
        .split_first()
        .ok_or_else(|| invalid("empty raft log payload"))?;
    let payload = match kind {
        BLANK => EntryPayload::Blank,
        RECORDS => EntryPayload::Normal(MetadataBatch(decode_batch(data).map_err(invalid)?)),
        MEMBERSHIP => EntryPayload::Membership(serde_json::from_slice(data).map_err(invalid)?),
        other => return Err(invalid(format!("unknown raft log payload kind {other}"))),
    };
    Ok(Entry {
        log_id: to_openraft(entry.id),
        payload,
    })
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let from = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let to = match range.end_bound() {
            Bound::Included(i) => i.saturating_add(1),
            Bound::Excluded(i) => *i,
            Bound::Unbounded => u64::MAX,
        };
        let entries = self.with_log(move |log| log.read_range(from, to)).await?;
        entries.into_iter().map(decode_entry).collect()
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        let votes = self.votes.clone();
        let bytes = tokio::task::spawn_blocking(move || votes.load_vote())
            .await
            .map_err(io::Error::other)?
            .map_err(io::Error::other)?;
        bytes
            .map(|b| serde_json::from_slice(&b).map_err(invalid))
            .transpose()
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let (purged, last) = self
            .with_log(|log| Ok((log.purged(), log.last_log_id())))
            .await?;
        Ok(LogState {
            last_purged_log_id: purged.map(to_openraft),
            last_log_id: last.map(to_openraft),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let bytes = serde_json::to_vec(vote).map_err(invalid)?;
        let votes = self.votes.clone();
        tokio::task::spawn_blocking(move || votes.save_vote(&bytes))
            .await
            .map_err(io::Error::other)?
            .map_err(io::Error::other)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let encoded = entries
            .into_iter()
            .map(|e| encode_entry(&e))
            .collect::<Result<Vec<_>, _>>()?;
        let result = self.with_log(move |log| log.append(&encoded)).await;
        let flushed = result
            .as_ref()
            .map(|_| ())
            .map_err(|e| io::Error::new(e.kind(), e.to_string()));
        callback.io_completed(flushed);
        result
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf>) -> Result<(), io::Error> {
        let from = last_log_id.map_or(0, |id| id.index.saturating_add(1));
        self.with_log(move |log| log.truncate_from(from)).await
    }

    async fn purge(&mut self, log_id: LogIdOf) -> Result<(), io::Error> {
        let upto = to_ours(&log_id);
        self.with_log(move |log| log.purge_through(upto)).await
    }
}

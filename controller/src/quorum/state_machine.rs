//! openraft's state machine: committed entries into a [`MetadataImage`].
//!
//! Each committed batch of records is applied in order and published to
//! subscribers. A record the image refuses means the log and the image
//! disagree (a bug); it is logged and skipped so every node stays in step
//! with the same log. A snapshot is the image plus the membership, postcard
//! encoded, stored through [`SnapshotStore`]; the newest one is loaded at
//! start.

use std::io::{self, Cursor};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::{Stream, TryStreamExt};
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, RaftSnapshotBuilder};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::CommittedBatch;
use super::types::{
    LogIdOf, Snapshot, SnapshotData, SnapshotMeta, StoredMembership, TypeConfig, to_openraft,
    to_ours,
};
use crate::image::MetadataImage;
use crate::snapshot::{self, SnapshotStore};

/// What a snapshot holds besides its last log id (which is in the file).
#[derive(Debug, Serialize, Deserialize)]
struct SnapshotBody {
    /// openraft's membership, as JSON.
    membership: Vec<u8>,
    /// The image.
    image: MetadataImage,
}

#[derive(Debug)]
struct Inner {
    image: MetadataImage,
    last_applied: Option<LogIdOf>,
    membership: StoredMembership,
    current: Option<(SnapshotMeta, Vec<u8>)>,
}

/// The metadata state machine; clones share it.
#[derive(Debug, Clone)]
pub(crate) struct StateMachine {
    inner: Arc<Mutex<Inner>>,
    store: SnapshotStore,
    committed: broadcast::Sender<CommittedBatch>,
}

fn invalid(error: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error.to_string())
}

impl StateMachine {
    /// A state machine starting from the newest snapshot in `store`.
    pub(crate) fn open(
        store: SnapshotStore,
        committed: broadcast::Sender<CommittedBatch>,
    ) -> Result<Self, io::Error> {
        let mut inner = Inner {
            image: MetadataImage::new(),
            last_applied: None,
            membership: StoredMembership::default(),
            current: None,
        };
        if let Some(saved) = store.load_latest().map_err(io::Error::other)? {
            let body: SnapshotBody = postcard::from_bytes(&saved.data).map_err(invalid)?;
            let meta = SnapshotMeta {
                last_log_id: Some(to_openraft(saved.last_included)),
                last_membership: serde_json::from_slice(&body.membership).map_err(invalid)?,
            };
            inner.image = body.image;
            inner.last_applied = meta.last_log_id;
            inner.membership = meta.last_membership.clone();
            inner.current = Some((meta, saved.data));
        }
        Ok(Self {
            inner: Arc::new(Mutex::new(inner)),
            store,
            committed,
        })
    }

    /// Writes a snapshot ending at `last` to disk (a blocking task: it
    /// fsyncs) before it is taken as current.
    async fn save_snapshot(&self, last: &LogIdOf, data: &[u8]) -> Result<(), io::Error> {
        let store = self.store.clone();
        let saved = snapshot::Snapshot {
            last_included: to_ours(last),
            data: data.to_vec(),
        };
        tokio::task::spawn_blocking(move || store.save(&saved))
            .await
            .map_err(io::Error::other)?
            .map_err(io::Error::other)?;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update below finishes before the guard drops; a poisoned
        // lock still holds a consistent image.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A copy of the applied image.
    pub(crate) fn image(&self) -> MetadataImage {
        self.lock().image.clone()
    }

    /// The last applied entry's index.
    pub(crate) fn applied_offset(&self) -> Option<u64> {
        self.lock().last_applied.map(|id| id.index)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let (meta, data) = {
            let inner = self.lock();
            let body = SnapshotBody {
                membership: serde_json::to_vec(&inner.membership).map_err(invalid)?,
                image: inner.image.clone(),
            };
            let meta = SnapshotMeta {
                last_log_id: inner.last_applied,
                last_membership: inner.membership.clone(),
            };
            (meta, postcard::to_allocvec(&body).map_err(invalid)?)
        };
        if let Some(last) = meta.last_log_id {
            self.save_snapshot(&last, &data).await?;
        }
        self.lock().current = Some((meta.clone(), data.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Cursor::new(data),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogIdOf>, StoredMembership), io::Error> {
        let inner = self.lock();
        Ok((inner.last_applied, inner.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + Send,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            let batch = {
                let mut inner = self.lock();
                inner.last_applied = Some(entry.log_id);
                match &entry.payload {
                    EntryPayload::Blank => None,
                    EntryPayload::Normal(batch) => {
                        for record in &batch.0 {
                            if let Err(error) = inner.image.apply(record) {
                                tracing::error!(%error, ?record, index = entry.log_id.index, "committed metadata record does not fit the image; skipped");
                            }
                        }
                        Some(CommittedBatch {
                            offset: entry.log_id.index,
                            records: batch.0.clone(),
                        })
                    }
                    EntryPayload::Membership(membership) => {
                        inner.membership =
                            StoredMembership::new(Some(entry.log_id), membership.clone());
                        None
                    }
                }
            };
            if let Some(batch) = batch {
                // No subscriber is fine: the image holds the result.
                let _ = self.committed.send(batch);
            }
            if let Some(responder) = responder {
                responder.send(());
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Self::SnapshotData,
    ) -> Result<(), io::Error> {
        let data = snapshot.into_inner();
        let body: SnapshotBody = postcard::from_bytes(&data).map_err(invalid)?;
        if let Some(last) = meta.last_log_id {
            self.save_snapshot(&last, &data).await?;
        }
        let mut inner = self.lock();
        inner.image = body.image;
        inner.last_applied = meta.last_log_id;
        inner.membership = meta.last_membership.clone();
        inner.current = Some((meta.clone(), data));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        Ok(self.lock().current.clone().map(|(meta, data)| Snapshot {
            meta,
            snapshot: Cursor::new(data),
        }))
    }
}

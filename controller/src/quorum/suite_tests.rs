//! openraft's own storage conformance suite run against our log store and
//! state machine (STYLE.md 22: one suite per trait).

use openraft::StorageError;
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::type_config::TypeConfigExt;
use tempfile::TempDir;
use tokio::sync::broadcast;

use super::log_store::LogStore;
use super::state_machine::StateMachine;
use super::types::TypeConfig;
use crate::raft_log::{RaftLogFile, RaftStorageConfig};
use crate::snapshot::SnapshotStore;

struct FileStoreBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for FileStoreBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError<TypeConfig>> {
        let dir =
            tempfile::tempdir().map_err(|e| StorageError::read(TypeConfig::err_from_error(&e)))?;
        let config = RaftStorageConfig::default();
        let (log, _) = RaftLogFile::open(dir.path(), config.clone())
            .map_err(|e| StorageError::read(TypeConfig::err_from_error(&e)))?;
        let store = SnapshotStore::new(dir.path(), config);
        let (committed, _) = broadcast::channel(16);
        let state_machine = StateMachine::open(store.clone(), committed)
            .map_err(|e| StorageError::read(TypeConfig::err_from_error(&e)))?;
        Ok((dir, LogStore::new(log, store), state_machine))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_store_and_state_machine_pass_openraft_storage_suite()
-> Result<(), StorageError<TypeConfig>> {
    Suite::test_all(FileStoreBuilder).await
}

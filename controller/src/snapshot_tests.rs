//! Snapshots and the vote on disk.

use std::fs;

use crate::raft_log::{LogId, RaftStorageConfig};
use crate::snapshot::{Snapshot, SnapshotStore, VOTE_FILE_NAME};
use crate::storage_error::StorageError;

fn snapshot(index: u64, data: &[u8]) -> Snapshot {
    Snapshot {
        last_included: LogId { term: 3, index },
        data: data.to_vec(),
    }
}

#[test]
fn saved_snapshot_loads_back_and_replaces_older_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::new(dir.path(), RaftStorageConfig::default());
    assert_eq!(store.load_latest().unwrap(), None);
    store.save(&snapshot(5, b"five")).unwrap();
    store.save(&snapshot(9, b"nine")).unwrap();
    assert_eq!(store.load_latest().unwrap(), Some(snapshot(9, b"nine")));
    let files = fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, 1, "the older snapshot is deleted");
}

#[test]
fn corrupt_newest_snapshot_falls_back_to_an_older_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::new(dir.path(), RaftStorageConfig::default());
    let older = store.save(&snapshot(5, b"five")).unwrap();
    let kept = fs::read(&older).unwrap();
    let newer = store.save(&snapshot(9, b"nine")).unwrap();
    fs::write(&older, kept).unwrap();
    let bytes = fs::read(&newer).unwrap();
    for cut in 0..bytes.len() {
        fs::write(&newer, &bytes[..cut]).unwrap();
        assert_eq!(
            store.load_latest().unwrap(),
            Some(snapshot(5, b"five")),
            "cut {cut}"
        );
    }
    let mut garbled = bytes.clone();
    let last = garbled.len() - 1;
    garbled[last] ^= 1;
    fs::write(&newer, garbled).unwrap();
    assert_eq!(store.load_latest().unwrap(), Some(snapshot(5, b"five")));
}

#[test]
fn snapshot_over_the_limit_is_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let small = RaftStorageConfig {
        max_snapshot_bytes: 4,
        ..RaftStorageConfig::default()
    };
    SnapshotStore::new(dir.path(), RaftStorageConfig::default())
        .save(&snapshot(1, b"too large"))
        .unwrap();
    assert_eq!(
        SnapshotStore::new(dir.path(), small).load_latest().unwrap(),
        None
    );
}

#[test]
fn leftover_temp_files_are_ignored_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::new(dir.path(), RaftStorageConfig::default());
    let temp = dir
        .path()
        .join("snapshot-00000000000000000007-00000000000000000003.snap.tmp");
    fs::write(&temp, b"half written").unwrap();
    assert_eq!(store.load_latest().unwrap(), None);
    assert!(!temp.exists());
}

#[test]
fn vote_round_trips_and_a_corrupt_vote_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::new(dir.path(), RaftStorageConfig::default());
    assert_eq!(store.load_vote().unwrap(), None);
    store.save_vote(b"term 4, voted for 2").unwrap();
    store.save_vote(b"term 5, voted for 3").unwrap();
    assert_eq!(
        store.load_vote().unwrap().as_deref(),
        Some(&b"term 5, voted for 3"[..])
    );
    let path = dir.path().join(VOTE_FILE_NAME);
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&path, bytes).unwrap();
    assert!(matches!(
        store.load_vote(),
        Err(StorageError::Corrupt { .. })
    ));
}

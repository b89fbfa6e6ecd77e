//! The data directory: locking, opening every partition, creating and deleting logs.

use std::fs;

use sluice_storage::testing::{batch_bytes, small_config};
use sluice_storage::{LogManager, StorageError, TopicPartition};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn a_locked_data_dir_cannot_be_opened_twice() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (manager, logs) = LogManager::open(dir.path(), small_config())?;
    let second = LogManager::open(dir.path(), small_config());
    assert!(matches!(second, Err(StorageError::DirectoryLocked { .. })));
    manager.shutdown(logs)?;
    let (manager, logs) = LogManager::open(dir.path(), small_config())?;
    manager.shutdown(logs)?;
    Ok(())
}

#[test]
fn open_finds_every_partition_with_its_data() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (manager, _) = LogManager::open(dir.path(), small_config())?;
    let mut logs = Vec::new();
    for partition in 0..12 {
        let tp = TopicPartition::new("or-ders.v1", partition);
        let mut log = manager.create_log(&tp, small_config())?;
        for _ in 0..=partition {
            log.append(&mut batch_bytes(0, 2, 0), 0, 0)?;
        }
        logs.push((tp, log));
    }
    let unclean = logs.split_off(6);
    drop(unclean); // half the partitions stop uncleanly
    manager.shutdown(logs)?;
    let (manager, logs) = LogManager::open(dir.path(), small_config())?;
    assert_eq!(logs.len(), 12);
    for (tp, log) in &logs {
        assert_eq!(tp.topic, "or-ders.v1");
        assert_eq!(
            log.log_end_offset(),
            2 * (i64::from(tp.partition) + 1),
            "{tp}"
        );
    }
    manager.shutdown(logs)?;
    Ok(())
}

#[test]
fn creating_an_existing_log_fails() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (manager, _) = LogManager::open(dir.path(), small_config())?;
    let tp = TopicPartition::new("t", 0);
    let log = manager.create_log(&tp, small_config())?;
    let error = manager
        .create_log(&tp, small_config())
        .err()
        .ok_or("created twice")?;
    assert!(matches!(error, StorageError::LogAlreadyExists { .. }));
    manager.shutdown(vec![(tp, log)])?;
    Ok(())
}

#[test]
fn deleted_log_is_gone_but_held_reads_stay_valid() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (manager, _) = LogManager::open(dir.path(), small_config())?;
    let tp = TopicPartition::new("t", 3);
    let mut log = manager.create_log(&tp, small_config())?;
    log.append(&mut batch_bytes(0, 2, 0), 0, 0)?;
    let held = log.read(0, usize::MAX, i64::MAX)?;
    let copy = held.chunks()[0].to_vec();
    manager.delete_log(&tp, log)?;
    assert!(!dir.path().join("t-3").exists());
    assert_eq!(held.chunks()[0].to_vec(), copy);
    drop(manager);
    let (_manager, logs) = LogManager::open(dir.path(), small_config())?;
    assert!(logs.is_empty());
    Ok(())
}

#[test]
fn an_unreadable_partition_is_reported_with_its_path() -> TestResult {
    let dir = tempfile::tempdir()?;
    let partition = dir.path().join("t-0");
    fs::create_dir(&partition)?;
    fs::create_dir(partition.join("00000000000000000000.log"))?; // a directory where a segment should be
    let error = LogManager::open(dir.path(), small_config())
        .err()
        .ok_or("opened a broken partition")?;
    assert!(
        error.to_string().contains("t-0"),
        "error names the directory: {error}"
    );
    assert_eq!(error.kafka_error_code(), 56);
    Ok(())
}

#[test]
fn directory_names_round_trip_and_reject_non_partitions() {
    let tp = TopicPartition::new("a-b", 7);
    assert_eq!(TopicPartition::from_dir_name(&tp.dir_name()), Some(tp));
    assert_eq!(TopicPartition::from_dir_name("lost+found"), None);
    assert_eq!(TopicPartition::from_dir_name("t-01"), None);
    assert_eq!(TopicPartition::from_dir_name("t-0.123.deleted"), None);
}

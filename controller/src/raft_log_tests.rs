//! The Raft log file: appends, torn tails, truncation, purging.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use proptest::prelude::*;

use crate::raft_log::{LogEntry, LogId, RAFT_LOG_FILE_NAME, RaftLogFile, RaftStorageConfig};
use crate::storage_error::StorageError;

fn entry(term: u64, index: u64) -> LogEntry {
    LogEntry {
        id: LogId { term, index },
        payload: format!("entry {index} of term {term}").into_bytes(),
    }
}

fn entries(term: u64, from: u64, to: u64) -> Vec<LogEntry> {
    (from..to).map(|i| entry(term, i)).collect()
}

fn open(dir: &Path) -> (RaftLogFile, crate::raft_log::LogRecovery) {
    RaftLogFile::open(dir, RaftStorageConfig::default()).unwrap()
}

fn all(log: &RaftLogFile) -> Vec<LogEntry> {
    log.read_range(0, u64::MAX).unwrap()
}

fn file_len(dir: &Path) -> u64 {
    fs::metadata(dir.join(RAFT_LOG_FILE_NAME)).unwrap().len()
}

#[test]
fn appended_entries_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, recovery) = open(dir.path());
    assert_eq!(recovery.entries, 0);
    log.append(&entries(1, 0, 5)).unwrap();
    log.append(&entries(2, 5, 7)).unwrap();
    drop(log);
    let (log, recovery) = open(dir.path());
    assert_eq!(recovery.truncated_bytes, 0);
    assert_eq!(all(&log), [entries(1, 0, 5), entries(2, 5, 7)].concat());
    assert_eq!(log.last_log_id(), Some(LogId { term: 2, index: 6 }));
    assert_eq!(log.read(3).unwrap(), Some(entry(1, 3)));
    assert_eq!(log.read(7).unwrap(), None);
}

#[test]
fn append_refuses_gaps_lower_terms_and_oversized_entries_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = RaftStorageConfig {
        max_entry_bytes: 64,
        ..RaftStorageConfig::default()
    };
    let (mut log, _) = RaftLogFile::open(dir.path(), config).unwrap();
    log.append(&entries(2, 0, 2)).unwrap();
    let before = file_len(dir.path());
    assert!(matches!(
        log.append(&[entry(2, 3)]),
        Err(StorageError::NotContiguous {
            expected: 2,
            got: 3
        })
    ));
    assert!(matches!(
        log.append(&[entry(2, 2), entry(1, 3)]),
        Err(StorageError::TermGoesBack { .. })
    ));
    let big = LogEntry {
        id: LogId { term: 2, index: 2 },
        payload: vec![0; 65],
    };
    assert!(matches!(
        log.append(&[big]),
        Err(StorageError::EntryTooLarge { .. })
    ));
    assert_eq!(file_len(dir.path()), before);
    log.append(&[entry(2, 2)]).unwrap();
    assert_eq!(all(&log).len(), 3);
}

#[test]
fn torn_tail_at_every_byte_of_the_last_entry_keeps_the_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path());
    log.append(&entries(1, 0, 3)).unwrap();
    let prefix_end = file_len(dir.path());
    log.append(&[entry(1, 3)]).unwrap();
    let full = fs::read(dir.path().join(RAFT_LOG_FILE_NAME)).unwrap();
    drop(log);
    for cut in prefix_end..full.len() as u64 {
        fs::write(dir.path().join(RAFT_LOG_FILE_NAME), &full[..cut as usize]).unwrap();
        let (log, recovery) = open(dir.path());
        assert_eq!(all(&log), entries(1, 0, 3), "cut at {cut}");
        assert_eq!(recovery.truncated_bytes, cut - prefix_end);
        assert_eq!(file_len(dir.path()), prefix_end);
    }
}

#[test]
fn garbled_byte_in_the_last_entry_cuts_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path());
    log.append(&entries(1, 0, 3)).unwrap();
    let prefix_end = file_len(dir.path()) as usize;
    log.append(&[entry(1, 3)]).unwrap();
    let full = fs::read(dir.path().join(RAFT_LOG_FILE_NAME)).unwrap();
    drop(log);
    for at in prefix_end..full.len() {
        let mut garbled = full.clone();
        garbled[at] ^= 0x5a;
        fs::write(dir.path().join(RAFT_LOG_FILE_NAME), &garbled).unwrap();
        let (log, _) = open(dir.path());
        assert_eq!(all(&log), entries(1, 0, 3), "garbled byte {at}");
    }
}

#[test]
fn huge_length_in_the_tail_is_cut_without_allocating_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path());
    log.append(&entries(1, 0, 2)).unwrap();
    drop(log);
    let mut file = OpenOptions::new()
        .append(true)
        .open(dir.path().join(RAFT_LOG_FILE_NAME))
        .unwrap();
    file.write_all(&u32::MAX.to_le_bytes()).unwrap();
    file.write_all(&[0xab; 40]).unwrap();
    drop(file);
    let (log, recovery) = open(dir.path());
    assert_eq!(all(&log), entries(1, 0, 2));
    assert_eq!(recovery.truncated_bytes, 44);
}

#[test]
fn valid_frame_that_does_not_follow_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    // A log whose only entry is index 5: its frame is valid on its own.
    let (mut stray, _) = open(other.path());
    stray.purge_through(LogId { term: 1, index: 4 }).unwrap();
    stray.append(&[entry(1, 5)]).unwrap();
    let stray_bytes = fs::read(other.path().join(RAFT_LOG_FILE_NAME)).unwrap();
    let (mut log, _) = open(dir.path());
    log.append(&entries(1, 0, 2)).unwrap();
    drop(log);
    let mut file = OpenOptions::new()
        .append(true)
        .open(dir.path().join(RAFT_LOG_FILE_NAME))
        .unwrap();
    file.write_all(&stray_bytes[30..]).unwrap(); // skip its header
    drop(file);
    let (log, recovery) = open(dir.path());
    assert_eq!(all(&log), entries(1, 0, 2));
    assert!(recovery.truncated_bytes > 0);
}

#[test]
fn truncating_a_suffix_survives_reopen_and_the_log_continues_from_there() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path());
    log.append(&entries(1, 0, 6)).unwrap();
    log.truncate_from(4).unwrap();
    assert_eq!(log.last_log_id(), Some(LogId { term: 1, index: 3 }));
    log.append(&entries(3, 4, 6)).unwrap();
    drop(log);
    let (log, _) = open(dir.path());
    assert_eq!(all(&log), [entries(1, 0, 4), entries(3, 4, 6)].concat());
}

#[test]
fn purging_a_prefix_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path());
    log.append(&entries(1, 0, 10)).unwrap();
    log.purge_through(LogId { term: 1, index: 5 }).unwrap();
    assert_eq!(log.first_index(), Some(6));
    assert_eq!(log.read(5).unwrap(), None);
    log.append(&[entry(2, 10)]).unwrap();
    drop(log);
    let (log, _) = open(dir.path());
    assert_eq!(log.purged(), Some(LogId { term: 1, index: 5 }));
    assert_eq!(all(&log), [entries(1, 6, 10), vec![entry(2, 10)]].concat());
}

#[test]
fn purging_past_the_end_empties_the_log_and_it_continues_after_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path());
    log.append(&entries(1, 0, 3)).unwrap();
    let snapshot = LogId { term: 4, index: 20 };
    log.purge_through(snapshot).unwrap();
    assert_eq!(log.first_index(), None);
    assert_eq!(log.last_log_id(), Some(snapshot));
    assert!(log.append(&[entry(4, 3)]).is_err());
    log.append(&[entry(4, 21)]).unwrap();
    drop(log);
    let (log, _) = open(dir.path());
    assert_eq!(all(&log), vec![entry(4, 21)]);
}

#[test]
fn truncating_into_the_purged_prefix_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path());
    log.append(&entries(1, 0, 5)).unwrap();
    log.purge_through(LogId { term: 1, index: 2 }).unwrap();
    assert!(matches!(
        log.truncate_from(2),
        Err(StorageError::BelowPurged {
            index: 2,
            purged: 2
        })
    ));
    log.truncate_from(3).unwrap();
    assert_eq!(log.last_log_id(), Some(LogId { term: 1, index: 2 }));
}

#[test]
fn corrupt_header_is_an_error_not_a_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path());
    log.append(&entries(1, 0, 2)).unwrap();
    drop(log);
    let path = dir.path().join(RAFT_LOG_FILE_NAME);
    let mut bytes = fs::read(&path).unwrap();
    bytes[12] ^= 1;
    fs::write(&path, &bytes).unwrap();
    let result = RaftLogFile::open(dir.path(), RaftStorageConfig::default());
    assert!(matches!(result, Err(StorageError::Corrupt { .. })));
    assert_eq!(
        fs::read(&path).unwrap(),
        bytes,
        "a corrupt log is left as it is"
    );
}

#[derive(Debug, Clone)]
enum Op {
    Append(u8),
    Truncate(u8),
    Purge(u8),
    Reopen,
    TearTail(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1..4u8).prop_map(Op::Append),
        1 => any::<u8>().prop_map(Op::Truncate),
        1 => any::<u8>().prop_map(Op::Purge),
        1 => Just(Op::Reopen),
        1 => (1..40u8).prop_map(Op::TearTail),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The file behaves like a vector of entries after a purged prefix; a
    /// torn tail loses at most the last entry.
    #[test]
    fn log_file_matches_a_model_through_random_operations(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = open(dir.path());
        let mut model: Vec<LogEntry> = Vec::new();
        let mut purged: Option<LogId> = None;
        let mut term = 1;
        for op in ops {
            match op {
                Op::Append(n) => {
                    let next = model.last().map(|e| e.id.index + 1)
                        .or(purged.map(|p| p.index + 1)).unwrap_or(0);
                    term += u64::from(n % 2);
                    let new = entries(term, next, next + u64::from(n));
                    log.append(&new).unwrap();
                    model.extend(new);
                }
                Op::Truncate(k) => {
                    if let Some(first) = model.first().map(|e| e.id.index) {
                        let at = first + u64::from(k) % (model.len() as u64 + 1);
                        let at = at.max(first + 1);
                        log.truncate_from(at).unwrap();
                        model.retain(|e| e.id.index < at);
                    }
                }
                Op::Purge(k) => {
                    if !model.is_empty() {
                        let upto = model[usize::from(k) % model.len()].id;
                        log.purge_through(upto).unwrap();
                        model.retain(|e| e.id.index > upto.index);
                        purged = Some(upto);
                    }
                }
                Op::Reopen => {
                    drop(log);
                    log = open(dir.path()).0;
                }
                Op::TearTail(bytes) => {
                    drop(log);
                    let path = dir.path().join(RAFT_LOG_FILE_NAME);
                    let len = fs::metadata(&path).unwrap().len();
                    let last_frame = model.last().map_or(0, |e| 24 + e.payload.len() as u64);
                    let cut = u64::from(bytes).min(last_frame);
                    OpenOptions::new().write(true).open(&path).unwrap().set_len(len - cut).unwrap();
                    log = open(dir.path()).0;
                    if cut > 0 {
                        model.pop();
                    }
                }
            }
            prop_assert_eq!(all(&log), model.clone());
            prop_assert_eq!(log.purged(), purged);
        }
    }
}

#[test]
fn fresh_log_may_start_at_any_index_and_reopens_there() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path());
    log.append(&entries(2, 7, 10)).unwrap();
    assert_eq!(log.first_index(), Some(7));
    drop(log);
    let (log, _) = open(dir.path());
    assert_eq!(log.first_index(), Some(7));
    assert_eq!(all(&log), entries(2, 7, 10));
}

#[test]
fn purge_below_the_first_entry_keeps_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path());
    log.append(&entries(2, 7, 10)).unwrap();
    log.purge_through(LogId { term: 1, index: 3 }).unwrap();
    assert_eq!(all(&log), entries(2, 7, 10));
    drop(log);
    let (log, _) = open(dir.path());
    assert_eq!(log.purged(), Some(LogId { term: 1, index: 3 }));
    assert_eq!(all(&log), entries(2, 7, 10));
}

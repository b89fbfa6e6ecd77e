//! ENOSPC (DESIGN.md invariant 4): on a small tmpfs that fills up, append returns
//! a disk-full error instead of crashing, nothing already written is damaged,
//! and appends succeed again once space is freed. This holds whether the log
//! file or one of the memory-mapped indexes needed to grow (a write through a
//! map into an unreserved page would be a SIGBUS instead).
//!
//! Needs root to mount the tmpfs; without it the test says so and does nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use sluice_storage::testing::{batch_bytes, batch_with_values};
use sluice_storage::{Log, LogConfig, StorageError};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A mounted tmpfs, unmounted on drop (also when the test fails).
struct Tmpfs {
    _parent: tempfile::TempDir,
    mount_point: PathBuf,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Option<Tmpfs>, Box<dyn std::error::Error>> {
        let parent = tempfile::tempdir()?;
        let mount_point = parent.path().join("mnt");
        std::fs::create_dir(&mount_point)?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&mount_point)
            .stderr(std::process::Stdio::null())
            .status();
        match status {
            Ok(status) if status.success() => Ok(Some(Tmpfs {
                _parent: parent,
                mount_point,
            })),
            _ => Ok(None),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount_point).status();
    }
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 64 * 1024,
        segment_index_bytes: 4096,
        index_interval_bytes: 1024,
        preallocate_step_bytes: 16 * 1024,
        ..LogConfig::default()
    }
}

fn batch(i: usize) -> Vec<u8> {
    batch_with_values(0, 4, i as i64, 500)
}

fn log_bytes(log: &Log) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    Ok(log
        .read(log.log_start_offset(), usize::MAX, i64::MAX)?
        .chunks()
        .iter()
        .flat_map(|c| c.to_vec())
        .collect())
}

/// Appends `make(i)` for i = 0, 1, ... until the disk is full; returns how many
/// appends succeeded and the disk-full error.
fn fill_until_disk_full(
    log: &mut Log,
    make: impl Fn(usize) -> Vec<u8>,
) -> Result<(usize, StorageError), Box<dyn std::error::Error>> {
    for i in 0..100_000 {
        match log.append(&mut make(i), 0, 0) {
            Ok(_) => {}
            Err(error) if error.is_disk_full() => return Ok((i, error)),
            Err(error) => return Err(error.into()),
        }
    }
    Err("the filesystem never filled up".into())
}

/// Writes page-sized chunks to `path` until the filesystem is full.
fn fill_filesystem(path: &Path) -> TestResult {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    let page = vec![1u8; 4096];
    loop {
        match file.write_all(&page) {
            Ok(()) => {}
            Err(error) if error.raw_os_error() == Some(libc::ENOSPC) => return Ok(()),
            Err(error) => return Err(error.into()),
        }
    }
}

#[test]
#[allow(
    clippy::print_stderr,
    reason = "a skipped test must say why it did nothing"
)]
fn invariant_4_full_disk_is_an_error_and_appends_resume_after_space_is_freed() -> TestResult {
    let Some(tmpfs) = Tmpfs::mount("1m")? else {
        eprintln!("SKIPPED disk-full test: cannot mount a tmpfs (needs root and mount permission)");
        return Ok(());
    };
    let root = tmpfs.mount_point.as_path();
    let filler = root.join("filler");
    std::fs::write(&filler, vec![1u8; 256 * 1024])?;
    let dir = root.join("topic-0");
    let mut log = Log::open(&dir, config())?;

    let (appended, _) = fill_until_disk_full(&mut log, batch)?;
    assert!(appended > 0);
    let before = log_bytes(&log)?;
    let end = log.log_end_offset();
    assert!(
        log.append(&mut batch(appended), 0, 0)
            .is_err_and(|e| e.is_disk_full()),
        "still full"
    );
    assert_eq!(log_bytes(&log)?, before, "a failed append changes nothing");
    assert_eq!(log.log_end_offset(), end);

    std::fs::remove_file(&filler)?;
    let info = log.append(&mut batch(appended), 0, 0)?;
    assert_eq!(
        info.base_offset, end,
        "appends resume at the log end once space is freed"
    );
    drop(log); // as after a kill

    let reopened = Log::open(&dir, config())?;
    let after = log_bytes(&reopened)?;
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "nothing written before the disk filled is damaged"
    );
    assert_eq!(reopened.log_end_offset(), end + 4);
    check_unchanged_after_close(reopened, &dir, config())
}

fn check_unchanged_after_close(log: Log, dir: &Path, config: LogConfig) -> TestResult {
    let bytes = log_bytes(&log)?;
    log.close()?;
    assert_eq!(log_bytes(&Log::open(dir, config)?)?, bytes);
    Ok(())
}

/// The whole segment is reserved by the first append, and every batch gets
/// index entries, so once the disk is full the log write still fits and the
/// first thing to fail is an index growing by a page-sized step.
fn index_growth_config() -> LogConfig {
    LogConfig {
        segment_bytes: 256 * 1024,
        preallocate_initial_bytes: 256 * 1024,
        preallocate_step_bytes: 256 * 1024,
        segment_index_bytes: 64 * 1024,
        index_interval_bytes: 0,
        index_preallocate_step_bytes: 4096,
        ..LogConfig::default()
    }
}

/// A small batch (about 80 bytes): one record stamped `1000 + i`.
fn small_batch(i: usize) -> Vec<u8> {
    batch_bytes(0, 1, 1_000 + i as i64)
}

#[test]
#[allow(
    clippy::print_stderr,
    reason = "a skipped test must say why it did nothing"
)]
fn invariant_4_full_disk_while_an_index_grows_is_an_error_and_the_log_is_unchanged() -> TestResult {
    let Some(tmpfs) = Tmpfs::mount("1m")? else {
        eprintln!("SKIPPED disk-full test: cannot mount a tmpfs (needs root and mount permission)");
        return Ok(());
    };
    let root = tmpfs.mount_point.as_path();
    let dir = root.join("topic-0");
    let mut log = Log::open(&dir, index_growth_config())?;
    log.append(&mut small_batch(0), 0, 0)?;
    let filler = root.join("filler");
    fill_filesystem(&filler)?;

    let (appended, error) = fill_until_disk_full(&mut log, |i| small_batch(i + 1))?;
    let StorageError::Io { path, .. } = &error else {
        return Err(format!("disk full is an I/O error, got {error}").into());
    };
    assert!(
        path.extension()
            .is_some_and(|e| e == "index" || e == "timeindex"),
        "the index growth failed, not the log write: {}",
        path.display()
    );
    assert!(
        appended > 100,
        "appends went on into the reserved log space"
    );
    let before = log_bytes(&log)?;
    let end = log.log_end_offset();
    assert_eq!(end, appended as i64 + 1);
    assert!(
        log.append(&mut small_batch(end as usize), 0, 0)
            .is_err_and(|e| e.is_disk_full()),
        "still full"
    );
    assert_eq!(log_bytes(&log)?, before, "a failed append changes nothing");
    assert_eq!(log.log_end_offset(), end);
    for offset in [0, end / 2, end - 1] {
        let first = log.read(offset, 1, i64::MAX)?.into_contiguous();
        assert_eq!(
            i64::from_be_bytes(first[..8].try_into()?),
            offset,
            "lookups still work"
        );
    }

    std::fs::remove_file(&filler)?;
    let info = log.append(&mut small_batch(end as usize), 0, 0)?;
    assert_eq!(info.base_offset, end, "appends resume once space is freed");
    drop(log); // as after a kill: the indexes are rebuilt on open

    let reopened = Log::open(&dir, index_growth_config())?;
    let after = log_bytes(&reopened)?;
    assert_eq!(&after[..before.len()], &before[..], "nothing is damaged");
    assert_eq!(reopened.log_end_offset(), end + 1);
    let found = reopened.offset_for_timestamp(1_000 + end / 2)?;
    assert_eq!(found.map(|t| t.offset), Some(end / 2));
    check_unchanged_after_close(reopened, &dir, index_growth_config())
}

//! ENOSPC (DESIGN.md invariant 4): on a small tmpfs that fills up, append returns
//! a disk-full error instead of crashing, nothing already written is damaged,
//! and appends succeed again once space is freed.
//!
//! Needs root to mount the tmpfs; without it the test says so and does nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use sluice_storage::testing::batch_with_values;
use sluice_storage::{Log, LogConfig};

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

fn fill_until_disk_full(log: &mut Log) -> Result<usize, Box<dyn std::error::Error>> {
    for i in 0..100_000 {
        match log.append(&mut batch(i), 0, 0) {
            Ok(_) => {}
            Err(error) if error.is_disk_full() => return Ok(i),
            Err(error) => return Err(error.into()),
        }
    }
    Err("the filesystem never filled up".into())
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

    let appended = fill_until_disk_full(&mut log)?;
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
    check_unchanged_after_close(reopened, &dir)
}

fn check_unchanged_after_close(log: Log, dir: &Path) -> TestResult {
    let bytes = log_bytes(&log)?;
    log.close()?;
    assert_eq!(log_bytes(&Log::open(dir, config())?)?, bytes);
    Ok(())
}

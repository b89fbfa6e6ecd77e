//! How big the filesystem holding the data directory is and how much of it is
//! free, for DescribeLogDirs (KIP-827). The `statvfs` call is this module's
//! only `unsafe`, wrapped in one safe function.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{IoContext, StorageError};

/// The size of a filesystem and the space an unprivileged writer may still use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    /// Size of the filesystem in bytes (Java's `FileStore.getTotalSpace`).
    pub total_bytes: u64,
    /// Bytes still available to an unprivileged writer, without the blocks
    /// reserved for root (Java's `FileStore.getUsableSpace`).
    pub usable_bytes: u64,
}

/// The space of the filesystem that holds `path`.
///
/// # Errors
/// [`StorageError::Io`] when `path` cannot be examined (missing, no access,
/// or a NUL byte in it).
pub fn disk_space(path: &Path) -> Result<DiskSpace, StorageError> {
    statvfs(path).at(path)
}

// `fsblkcnt_t` and `c_ulong` are 32 bits wide on some targets, 64 on others.
#[allow(clippy::useless_conversion)]
fn statvfs(path: &Path) -> io::Result<DiskSpace> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut stat = MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call, and
    // `stat` is writable memory of exactly the type `statvfs` fills in.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `statvfs` returned 0, so it initialised every field of `stat`.
    let stat = unsafe { stat.assume_init() };
    let fragment_bytes = u64::from(stat.f_frsize);
    Ok(DiskSpace {
        total_bytes: u64::from(stat.f_blocks).saturating_mul(fragment_bytes),
        usable_bytes: u64::from(stat.f_bavail).saturating_mul(fragment_bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_reports_usable_space_within_the_total() {
        let dir = tempfile::tempdir().unwrap();
        let space = disk_space(dir.path()).unwrap();
        assert!(space.total_bytes > 0);
        assert!(space.usable_bytes <= space.total_bytes);
    }

    #[test]
    fn a_missing_directory_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        match disk_space(&missing) {
            Err(StorageError::Io { path, .. }) => assert_eq!(path, missing),
            other => panic!("expected an I/O error, got {other:?}"),
        }
    }
}

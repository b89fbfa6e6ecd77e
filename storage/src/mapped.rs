//! The unsafe code of memory maps (memmap2) and of the `fallocate`,
//! `sync_file_range`, `madvise` and `posix_fadvise` syscalls, each wrapped in a
//! small safe function (`disk_space` holds the crate's only other `unsafe`, one
//! `statvfs` call).
//!
//! Soundness rests on one rule kept by the rest of the crate: a mapped byte is
//! only read while it is inside the file and below the log's data end. Log files
//! are never shrunk below data that a reader can hold (truncation rewrites the kept
//! prefix into a new file and renames it over, leaving the old inode to live until
//! its last mapping drops), and index maps are private to the single writer,
//! which only grows an index file while it is mapped writable (a growth maps the
//! larger size anew) and drops the map before trimming it at seal.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use bytes::Bytes;
use memmap2::{Mmap, MmapMut, MmapOptions};

/// A read-only mapping of a log file plus whatever must outlive it (the segment's
/// deferred-deletion guard), so the file is unlinked only after the last reader's
/// `Bytes` is dropped.
struct LogMapping<G> {
    map: Mmap,
    _keep_alive: Arc<G>,
}

impl<G> AsRef<[u8]> for LogMapping<G> {
    fn as_ref(&self) -> &[u8] {
        &self.map
    }
}

/// Maps the first `len` bytes of a log file read-only and returns them as
/// reference-counted `Bytes`: every slice handed to a reader keeps the mapping
/// (and `keep_alive`) alive, so nothing is copied and nothing is unmapped under
/// a reader.
pub(crate) fn map_log<G: Send + Sync + 'static>(
    file: &File,
    len: u64,
    keep_alive: Arc<G>,
) -> io::Result<Bytes> {
    if len == 0 {
        return Ok(Bytes::new());
    }
    let len = usize::try_from(len)
        .map_err(|_| io::Error::other("mapping larger than the address space"))?;
    // SAFETY: the file is at least `len` bytes long now (the caller reserved or
    // wrote them) and, per the module rule, bytes a reader can reach are never cut
    // from this inode while the mapping lives; the mapping is read-only and writes
    // go through `pwrite` to bytes past every reader's view.
    let map = unsafe { MmapOptions::new().len(len).map(file)? };
    Ok(Bytes::from_owner(LogMapping {
        map,
        _keep_alive: keep_alive,
    }))
}

/// Maps the first `len` bytes of an index file for writing.
pub(crate) fn map_index_mut(file: &File, len: u64) -> io::Result<Option<MmapMut>> {
    if len == 0 {
        return Ok(None);
    }
    let len = usize::try_from(len)
        .map_err(|_| io::Error::other("index larger than the address space"))?;
    // SAFETY: the index file was sized to at least `len` bytes with `fallocate`
    // (so writes cannot hit a hole on a full disk), only the log's single writer
    // holds this mapping, and while it exists the file only grows (the next
    // growth step); it is trimmed only after the mapping is dropped.
    let map = unsafe { MmapOptions::new().len(len).map_mut(file)? };
    Ok(Some(map))
}

/// Maps the first `len` bytes of a sealed index file read-only.
pub(crate) fn map_index(file: &File, len: u64) -> io::Result<Option<Mmap>> {
    if len == 0 {
        return Ok(None);
    }
    let len = usize::try_from(len)
        .map_err(|_| io::Error::other("index larger than the address space"))?;
    // SAFETY: the file is `len` bytes long and sealed: it is not resized while
    // this mapping exists (a rebuild drops the mapping first).
    let map = unsafe { MmapOptions::new().len(len).map(file)? };
    Ok(Some(map))
}

/// Reserves `[offset, offset + len)` of `file` on disk, extending its size, so
/// later writes there cannot fail for lack of space and a full disk surfaces here
/// as `ENOSPC`. Falls back to `set_len` (a sparse file) on filesystems without
/// `fallocate`.
pub(crate) fn reserve(file: &File, offset: u64, len: u64) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    let (Ok(start), Ok(length)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len))
    else {
        return Err(io::Error::other(
            "reservation beyond the largest file offset",
        ));
    };
    // SAFETY: `fallocate` reads no memory of ours; the descriptor is valid for the
    // duration of the call because `file` is borrowed.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, start, length) };
    if rc == 0 {
        return Ok(());
    }
    let error = io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::EOPNOTSUPP) {
        tracing::warn!("fallocate is not supported here; reserving sparse file space");
        let wanted = offset + len;
        if file.metadata()?.len() < wanted {
            file.set_len(wanted)?;
        }
        return Ok(());
    }
    Err(error)
}

/// Starts writeback of the dirty pages of `range` (`sync_file_range`); with
/// `wait`, also waits for writeback already under way there before and for its
/// own after, so the range's pages are clean when it returns. This is not an
/// fsync: it neither flushes the disk cache nor writes metadata, and the log's
/// durability does not rest on it.
pub(crate) fn write_back(file: &File, range: Range<u64>, wait: bool) -> io::Result<()> {
    let Some((start, length)) = offsets(&range) else {
        return Ok(());
    };
    let flags = if wait {
        libc::SYNC_FILE_RANGE_WAIT_BEFORE
            | libc::SYNC_FILE_RANGE_WRITE
            | libc::SYNC_FILE_RANGE_WAIT_AFTER
    } else {
        libc::SYNC_FILE_RANGE_WRITE
    };
    // SAFETY: `sync_file_range` reads no memory of ours; the descriptor is valid
    // for the duration of the call because `file` is borrowed.
    let rc = unsafe { libc::sync_file_range(file.as_raw_fd(), start, length, flags) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Tells the kernel that `range` of a log file will not be read soon: unmaps it
/// from `mapping` (a read-only shared map of the same file starting at byte 0,
/// as made by [`map_log`]) and drops its clean pages from the page cache. The
/// file's contents do not change; a later read brings the pages back from disk.
/// Dirty pages are left cached (write them back first to drop them).
pub(crate) fn evict(file: &File, mapping: &Bytes, range: Range<u64>) -> io::Result<()> {
    let Some((start, length)) = offsets(&range) else {
        return Ok(());
    };
    let mapped_end = (mapping.len() as u64).min(range.end);
    let base = mapping.as_ptr();
    // Both ends are page multiples (the caller aligns them) and the map starts on
    // a page, so the unmapped range holds exactly the file's pages in `range`.
    let page_aligned = (base as usize).is_multiple_of(4096) && range.start.is_multiple_of(4096);
    if page_aligned && mapped_end > range.start {
        let length = (mapped_end - range.start) as usize;
        let address = base.wrapping_add(range.start as usize);
        // SAFETY: `[address, address + length)` lies inside `mapping`, a live
        // read-only MAP_SHARED mapping of `file` (the borrow keeps it mapped for
        // the call). On a shared file mapping MADV_DONTNEED only removes page
        // table entries: the next access faults the same file bytes back in, so
        // every reader of these bytes, now or later, sees them unchanged. Log
        // bytes below the data end are never rewritten in place.
        let rc = unsafe {
            libc::madvise(
                address.cast_mut().cast::<libc::c_void>(),
                length,
                libc::MADV_DONTNEED,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    fadvise(file, start, length, libc::POSIX_FADV_DONTNEED)
}

/// Starts reading `range` of a file into the page cache (`POSIX_FADV_WILLNEED`)
/// without waiting for it; pages already cached are left as they are.
pub(crate) fn read_ahead(file: &File, range: Range<u64>) -> io::Result<()> {
    let Some((start, length)) = offsets(&range) else {
        return Ok(());
    };
    fadvise(file, start, length, libc::POSIX_FADV_WILLNEED)
}

/// `posix_fadvise(advice)` over `length` bytes from `start`.
fn fadvise(
    file: &File,
    start: libc::off_t,
    length: libc::off_t,
    advice: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `posix_fadvise` reads no memory of ours; the descriptor is valid
    // for the duration of the call because `file` is borrowed.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), start, length, advice) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// `range` as the `off_t` start and length syscalls take; `None` when empty.
fn offsets(range: &Range<u64>) -> Option<(libc::off_t, libc::off_t)> {
    if range.end <= range.start {
        return None;
    }
    let start = libc::off_t::try_from(range.start).ok()?;
    let length = libc::off_t::try_from(range.end - range.start).ok()?;
    Some((start, length))
}

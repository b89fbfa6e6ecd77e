//! The sparse, memory-mapped index files of a segment.
//!
//! `.index` maps a relative offset (u32) to the file position (u32) of the batch
//! with that base offset, one entry every `index.interval.bytes`. `.timeindex` maps
//! a timestamp (i64) to the relative base offset (u32) of the batch where the
//! segment's running maximum timestamp first reached it. Both are big-endian.
//!
//! While the segment is active each file is written through a shared writable
//! map. Its space is reserved with `fallocate` (never left sparse: a store
//! through a map into a hole on a full disk is a SIGBUS, not an error): first
//! a page, then each growth doubles the file until it grows by whole steps of
//! `index_preallocate_step_bytes`, up to `segment.index.bytes`. Growing
//! reserves the larger size first, then replaces the map, so a full disk is an
//! `ENOSPC` from [`IndexFile::reserve_entries`] and the old map stays valid. The
//! map is private to the log's single writer and only reached through `&self`
//! borrows, so the borrow checker guarantees no slice of an old map survives a
//! growth (`&mut self`). Sealing trims each file to its entries.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapMut};

use crate::config::first_index_step_bytes;
use crate::error::{IoContext, StorageError};
use crate::mapped;

/// Bytes per `.index` entry.
pub(crate) const OFFSET_ENTRY_BYTES: usize = 8;
/// Bytes per `.timeindex` entry.
pub(crate) const TIME_ENTRY_BYTES: usize = 12;

enum Map {
    Empty,
    ReadOnly(Mmap),
    Writable(MmapMut),
}

impl Map {
    fn bytes(&self) -> &[u8] {
        match self {
            Map::Empty => &[],
            Map::ReadOnly(map) => map,
            Map::Writable(map) => map,
        }
    }
}

/// A file of fixed-size entries behind a memory map.
pub(crate) struct IndexFile {
    path: PathBuf,
    file: File,
    map: Map,
    entry_bytes: usize,
    /// Entries written.
    entries: usize,
    /// Entries reserved on disk and covered by the map (`entries <= allocated`).
    allocated: usize,
    /// Entries the file may grow to (`segment.index.bytes`); equal to `entries`
    /// once sealed.
    max_entries: usize,
    /// Entries of the first reservation (a page, or a step if smaller): the
    /// smallest growth.
    first_entries: usize,
    /// Entries added by one growth step at most.
    step_entries: usize,
}

impl std::fmt::Debug for IndexFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexFile")
            .field("path", &self.path)
            .field("entries", &self.entries)
            .field("allocated", &self.allocated)
            .field("max_entries", &self.max_entries)
            .finish()
    }
}

impl IndexFile {
    /// Opens (creating if missing) an index file for appending. The first `keep`
    /// entries already in the file are kept, the rest is zeroed, and space is
    /// reserved for at least one more entry (see [`IndexFile::reserve_entries`]
    /// for how much), never beyond `max_bytes`.
    pub fn open_writable(
        path: &Path,
        entry_bytes: usize,
        keep: usize,
        max_bytes: u64,
        step_bytes: u64,
    ) -> Result<IndexFile, StorageError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .at(path)?;
        let keep_bytes = (keep * entry_bytes) as u64;
        file.set_len(keep_bytes).at(path)?;
        let step_entries = entries_in(step_bytes, entry_bytes).max(1);
        let mut index = IndexFile {
            path: path.to_owned(),
            file,
            map: Map::Empty,
            entry_bytes,
            entries: keep,
            allocated: keep,
            max_entries: entries_in(max_bytes, entry_bytes).max(keep),
            first_entries: entries_in(first_index_step_bytes(step_bytes), entry_bytes)
                .clamp(1, step_entries),
            step_entries,
        };
        if index.is_full() {
            if let Some(map) = mapped::map_index_mut(&index.file, keep_bytes).at(path)? {
                index.map = Map::Writable(map);
            }
        } else {
            index.reserve_entries(1)?;
        }
        Ok(index)
    }

    /// Opens a sealed index read-only; its size says how many entries it has.
    /// Returns `None` when the file is missing or its size is not a whole number
    /// of entries, so the caller rebuilds it.
    pub fn open_sealed(path: &Path, entry_bytes: usize) -> Result<Option<IndexFile>, StorageError> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StorageError::io(path, e)),
        };
        let len = file.metadata().at(path)?.len();
        if len % entry_bytes as u64 != 0 {
            return Ok(None);
        }
        let map = match mapped::map_index(&file, len).at(path)? {
            Some(map) => Map::ReadOnly(map),
            None => Map::Empty,
        };
        let entries = len as usize / entry_bytes;
        Ok(Some(IndexFile {
            path: path.to_owned(),
            file,
            map,
            entry_bytes,
            entries,
            allocated: entries,
            max_entries: entries,
            first_entries: 1,
            step_entries: 1,
        }))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// How many entries the file may ever hold (`segment.index.bytes`).
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// True when the file may not grow any more (the segment must roll).
    pub fn is_full(&self) -> bool {
        self.entries >= self.max_entries
    }

    /// Makes sure `additional` more entries (as many as `segment.index.bytes`
    /// allows) fit the reserved, mapped space, growing the file by whole
    /// growth steps: a step is as many entries as the file has room for
    /// already (at least the first reservation, a page; at most
    /// `index_preallocate_step_bytes`), so the file doubles until it grows by
    /// whole steps and an index reserves what its segment receives. On error
    /// (`ENOSPC` on a full disk) nothing changed: the entries and the current
    /// map are as before.
    pub fn reserve_entries(&mut self, additional: usize) -> Result<(), StorageError> {
        let wanted = self
            .entries
            .saturating_add(additional)
            .min(self.max_entries);
        if wanted <= self.allocated {
            return Ok(());
        }
        let step = self
            .allocated
            .max(self.first_entries)
            .min(self.step_entries);
        let steps = (wanted - self.allocated).div_ceil(step);
        let target = self
            .allocated
            .saturating_add(steps.saturating_mul(step))
            .min(self.max_entries);
        self.grow_to(target)
    }

    /// Reserves the file up to `target` entries, then maps the larger size. A
    /// failed `fallocate` may leave the file partly extended, which is harmless:
    /// the next growth reserves from the same offset again and sealing trims the
    /// file to its entries.
    fn grow_to(&mut self, target: usize) -> Result<(), StorageError> {
        debug_assert!(
            !matches!(self.map, Map::ReadOnly(_)),
            "growth of a sealed index {}",
            self.path.display()
        );
        let old_bytes = (self.allocated * self.entry_bytes) as u64;
        let new_bytes = (target * self.entry_bytes) as u64;
        mapped::reserve(&self.file, old_bytes, new_bytes - old_bytes).at(&self.path)?;
        // The old map stays valid until the new one replaces it: the file only
        // grew, and writes through either reach the same page cache.
        if let Some(map) = mapped::map_index_mut(&self.file, new_bytes).at(&self.path)? {
            self.map = Map::Writable(map);
        }
        self.allocated = target;
        tracing::trace!(path = %self.path.display(), entries = target, "grew index");
        Ok(())
    }

    /// The bytes of all entries, for searches that walk many of them.
    pub fn entries_bytes(&self) -> &[u8] {
        &self.map.bytes()[..self.entries * self.entry_bytes]
    }

    /// The raw bytes of entry `i`.
    pub fn entry(&self, i: usize) -> &[u8] {
        &self.map.bytes()[i * self.entry_bytes..(i + 1) * self.entry_bytes]
    }

    /// Appends one entry into space reserved beforehand with
    /// [`IndexFile::reserve_entries`] (the map may not grow here: this cannot fail).
    pub fn push(&mut self, entry: &[u8]) {
        debug_assert_eq!(entry.len(), self.entry_bytes);
        let at = self.entries * self.entry_bytes;
        match &mut self.map {
            Map::Writable(map) if self.entries < self.allocated => {
                map[at..at + self.entry_bytes].copy_from_slice(entry);
                self.entries += 1;
            }
            _ => debug_assert!(
                false,
                "push on a sealed index or past its reserved space {}",
                self.path.display()
            ),
        }
    }

    /// Writes dirty pages to disk.
    pub fn flush(&self) -> Result<(), StorageError> {
        if let Map::Writable(map) = &self.map {
            map.flush().at(&self.path)?;
        }
        Ok(())
    }

    /// Writes dirty pages and the file to disk.
    pub fn sync(&self) -> Result<(), StorageError> {
        self.flush()?;
        self.file.sync_data().at(&self.path)
    }

    /// A second handle on the file, for an fsync off the append path.
    pub fn try_clone_file(&self) -> Result<File, StorageError> {
        self.file.try_clone().at(&self.path)
    }

    /// Trims the file to its entries and remaps it read-only. Dirty pages of the
    /// writable map stay in the page cache; a later fsync of the file writes them.
    pub fn seal(&mut self) -> Result<(), StorageError> {
        self.map = Map::Empty;
        let len = (self.entries * self.entry_bytes) as u64;
        self.file.set_len(len).at(&self.path)?;
        self.map = match mapped::map_index(&self.file, len).at(&self.path)? {
            Some(map) => Map::ReadOnly(map),
            None => Map::Empty,
        };
        self.allocated = self.entries;
        self.max_entries = self.entries;
        Ok(())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// How many whole entries of `entry_bytes` fit in `bytes`.
fn entries_in(bytes: u64, entry_bytes: usize) -> usize {
    usize::try_from(bytes / entry_bytes as u64).unwrap_or(usize::MAX)
}

/// `.index`: relative offset to file position.
pub(crate) struct OffsetIndex(pub IndexFile);

impl OffsetIndex {
    /// Entry `i` as (relative offset, position).
    pub fn get(&self, i: usize) -> (u32, u32) {
        let e = self.0.entry(i);
        (
            u32::from_be_bytes([e[0], e[1], e[2], e[3]]),
            u32::from_be_bytes([e[4], e[5], e[6], e[7]]),
        )
    }

    /// Records that the batch with base offset `base + relative_offset` starts at `position`.
    pub fn push(&mut self, relative_offset: u32, position: u32) {
        debug_assert!(
            self.0.len() == 0 || self.get(self.0.len() - 1).0 < relative_offset,
            "offset index must increase"
        );
        let mut entry = [0u8; OFFSET_ENTRY_BYTES];
        entry[..4].copy_from_slice(&relative_offset.to_be_bytes());
        entry[4..].copy_from_slice(&position.to_be_bytes());
        self.0.push(&entry);
    }

    /// Position of the last indexed batch at or before `relative_offset` (0 if
    /// none): where a scan for that offset starts. Binary search on the map.
    pub fn lookup(&self, relative_offset: u32) -> u32 {
        let entries = self.0.entries_bytes();
        let key = |i: usize| {
            let at = i * OFFSET_ENTRY_BYTES;
            u32::from_be_bytes([
                entries[at],
                entries[at + 1],
                entries[at + 2],
                entries[at + 3],
            ])
        };
        let (mut low, mut high) = (0usize, entries.len() / OFFSET_ENTRY_BYTES);
        while low < high {
            let mid = low + (high - low) / 2;
            if key(mid) <= relative_offset {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        if low == 0 { 0 } else { self.get(low - 1).1 }
    }
}

/// `.timeindex`: timestamp to relative base offset.
pub(crate) struct TimeIndex(pub IndexFile);

impl TimeIndex {
    /// Entry `i` as (timestamp, relative offset).
    pub fn get(&self, i: usize) -> (i64, u32) {
        let e = self.0.entry(i);
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&e[..8]);
        (
            i64::from_be_bytes(ts),
            u32::from_be_bytes([e[8], e[9], e[10], e[11]]),
        )
    }

    /// The newest entry, if any.
    pub fn last(&self) -> Option<(i64, u32)> {
        self.0.len().checked_sub(1).map(|i| self.get(i))
    }

    /// Records that the running max timestamp first reached `timestamp` in the
    /// batch at `relative_offset`. Ignored unless it increases the last entry.
    pub fn push(&mut self, timestamp: i64, relative_offset: u32) {
        if self.last().is_some_and(|(last, _)| last >= timestamp) {
            return;
        }
        let mut entry = [0u8; TIME_ENTRY_BYTES];
        entry[..8].copy_from_slice(&timestamp.to_be_bytes());
        entry[8..].copy_from_slice(&relative_offset.to_be_bytes());
        self.0.push(&entry);
    }

    /// Relative offset from which a search for the first timestamp `>= target_ms`
    /// may start: every batch before it has a smaller max timestamp.
    pub fn lookup(&self, target_ms: i64) -> u32 {
        let count = self.0.len();
        let (mut low, mut high) = (0usize, count);
        while low < high {
            let mid = low + (high - low) / 2;
            if self.get(mid).0 < target_ms {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        if low == 0 { 0 } else { self.get(low - 1).1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two entries per growth step, so a few entries already cross steps.
    fn offset_index(dir: &Path, entries: &[(u32, u32)]) -> OffsetIndex {
        let file = IndexFile::open_writable(&dir.join("x.index"), OFFSET_ENTRY_BYTES, 0, 1024, 16)
            .map_err(|e| e.to_string())
            .unwrap();
        let mut index = OffsetIndex(file);
        for &(offset, position) in entries {
            reserve(&mut index, 1);
            index.push(offset, position);
        }
        index
    }

    fn reserve(index: &mut OffsetIndex, entries: usize) {
        index
            .0
            .reserve_entries(entries)
            .map_err(|e| e.to_string())
            .unwrap();
    }

    fn file_len(path: &Path) -> u64 {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(u64::MAX)
    }

    #[test]
    fn offset_lookup_finds_last_entry_at_or_before_target() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string()).unwrap();
        let index = offset_index(dir.path(), &[(0, 0), (10, 4096), (20, 8192)]);
        assert_eq!(index.lookup(0), 0);
        assert_eq!(index.lookup(9), 0);
        assert_eq!(index.lookup(10), 4096);
        assert_eq!(index.lookup(25), 8192);
    }

    #[test]
    fn sealed_index_is_trimmed_and_reopens_with_same_entries() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string()).unwrap();
        let mut index = offset_index(dir.path(), &[(0, 0), (10, 4096)]);
        index.0.seal().map_err(|e| e.to_string()).unwrap();
        let path = dir.path().join("x.index");
        assert_eq!(std::fs::metadata(&path).map(|m| m.len()).ok(), Some(16));
        let reopened = IndexFile::open_sealed(&path, OFFSET_ENTRY_BYTES)
            .map_err(|e| e.to_string())
            .unwrap();
        let reopened = OffsetIndex(reopened.unwrap_or_else(|| panic!("index exists")));
        assert_eq!(reopened.get(1), (10, 4096));
    }

    #[test]
    fn index_reports_full_at_segment_index_bytes() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string()).unwrap();
        let file =
            IndexFile::open_writable(&dir.path().join("y.index"), OFFSET_ENTRY_BYTES, 0, 16, 8)
                .map_err(|e| e.to_string())
                .unwrap();
        let mut index = OffsetIndex(file);
        index.push(0, 0);
        assert!(!index.0.is_full());
        reserve(&mut index, 1);
        index.push(1, 100);
        assert!(index.0.is_full());
    }

    #[test]
    fn new_index_reserves_one_step_and_grows_by_whole_steps() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string()).unwrap();
        let path = dir.path().join("z.index");
        // 36 bytes round down to 4 entries (32 bytes) per step.
        let file = IndexFile::open_writable(&path, OFFSET_ENTRY_BYTES, 0, 1024, 36)
            .map_err(|e| e.to_string())
            .unwrap();
        let mut index = OffsetIndex(file);
        assert_eq!(file_len(&path), 32);
        for i in 0..4 {
            reserve(&mut index, 1);
            index.push(i, i * 10);
        }
        assert_eq!(file_len(&path), 32, "four entries fit the first step");
        reserve(&mut index, 9);
        assert_eq!(file_len(&path), 128, "13 entries need two more steps");
        for i in 4..13 {
            index.push(i, i * 10);
        }
        assert_eq!(
            (0..13).map(|i| index.get(i as usize)).collect::<Vec<_>>(),
            (0..13).map(|i| (i, i * 10)).collect::<Vec<_>>(),
            "entries written before a growth survive it"
        );
        assert_eq!(index.lookup(125), 120);
    }

    #[test]
    fn new_index_starts_at_a_page_and_doubles_up_to_its_step() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string()).unwrap();
        let path = dir.path().join("d.index");
        let file = IndexFile::open_writable(&path, OFFSET_ENTRY_BYTES, 0, 1 << 20, 16 * 1024)
            .map_err(|e| e.to_string())
            .unwrap();
        let mut index = OffsetIndex(file);
        let mut sizes = vec![file_len(&path)];
        for i in 0..7_000 {
            reserve(&mut index, 1);
            index.push(i, i);
            if sizes.last() != Some(&file_len(&path)) {
                sizes.push(file_len(&path));
            }
        }
        assert_eq!(
            sizes,
            [4096, 8192, 16_384, 32_768, 49_152, 65_536],
            "a page, doubling while below the 16 KiB step, then whole steps"
        );
        assert_eq!(index.lookup(6_999), 6_999);
    }

    #[test]
    fn growth_stops_at_segment_index_bytes() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string()).unwrap();
        let path = dir.path().join("w.index");
        let file = IndexFile::open_writable(&path, OFFSET_ENTRY_BYTES, 0, 40, 32)
            .map_err(|e| e.to_string())
            .unwrap();
        let mut index = OffsetIndex(file);
        reserve(&mut index, 10);
        assert_eq!(file_len(&path), 40);
        for i in 0..5 {
            index.push(i, i);
        }
        assert!(index.0.is_full());
    }

    #[test]
    fn reopened_active_index_keeps_entries_and_room_for_one_more() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string()).unwrap();
        let mut index = offset_index(dir.path(), &[(0, 0), (10, 4096)]);
        index.0.seal().map_err(|e| e.to_string()).unwrap();
        drop(index);
        let path = dir.path().join("x.index");
        let file = IndexFile::open_writable(&path, OFFSET_ENTRY_BYTES, 2, 1024, 16)
            .map_err(|e| e.to_string())
            .unwrap();
        let mut index = OffsetIndex(file);
        assert_eq!(file_len(&path), 32, "two entries kept, one step of room");
        index.push(20, 8192);
        assert_eq!(index.lookup(15), 4096);
        assert_eq!(index.get(2), (20, 8192));
    }
}

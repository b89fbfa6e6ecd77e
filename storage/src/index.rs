//! The sparse, memory-mapped index files of a segment.
//!
//! `.index` maps a relative offset (u32) to the file position (u32) of the batch
//! with that base offset, one entry every `index.interval.bytes`. `.timeindex` maps
//! a timestamp (i64) to the relative base offset (u32) of the batch where the
//! segment's running maximum timestamp first reached it. Both are big-endian,
//! preallocated to `segment.index.bytes` with `fallocate` while the segment is
//! active, and trimmed to their entries when it is sealed.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapMut};

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
    entries: usize,
    capacity: usize,
}

impl std::fmt::Debug for IndexFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexFile")
            .field("path", &self.path)
            .field("entries", &self.entries)
            .finish()
    }
}

impl IndexFile {
    /// Opens (creating if missing) an index file for appending. The first `keep`
    /// entries already in the file are kept, the rest is zeroed, and the file is
    /// reserved up to `max_bytes`.
    pub fn open_writable(
        path: &Path,
        entry_bytes: usize,
        keep: usize,
        max_bytes: u64,
    ) -> Result<IndexFile, StorageError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .at(path)?;
        let capacity = (max_bytes as usize / entry_bytes).max(keep);
        let keep_bytes = (keep * entry_bytes) as u64;
        file.set_len(keep_bytes).at(path)?;
        let full = (capacity * entry_bytes) as u64;
        mapped::reserve(&file, keep_bytes, full - keep_bytes).at(path)?;
        let map = match mapped::map_index_mut(&file, full).at(path)? {
            Some(map) => Map::Writable(map),
            None => Map::Empty,
        };
        Ok(IndexFile {
            path: path.to_owned(),
            file,
            map,
            entry_bytes,
            entries: keep,
            capacity,
        })
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
            capacity: entries,
        }))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// How many entries fit.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// True when no more entries fit (the segment must roll).
    pub fn is_full(&self) -> bool {
        self.entries >= self.capacity
    }

    /// The bytes of all entries, for searches that walk many of them.
    pub fn entries_bytes(&self) -> &[u8] {
        &self.map.bytes()[..self.entries * self.entry_bytes]
    }

    /// The raw bytes of entry `i`.
    pub fn entry(&self, i: usize) -> &[u8] {
        &self.map.bytes()[i * self.entry_bytes..(i + 1) * self.entry_bytes]
    }

    /// Appends one entry. The caller checks [`IndexFile::is_full`] first.
    pub fn push(&mut self, entry: &[u8]) {
        debug_assert_eq!(entry.len(), self.entry_bytes);
        let at = self.entries * self.entry_bytes;
        match &mut self.map {
            Map::Writable(map) if self.entries < self.capacity => {
                map[at..at + self.entry_bytes].copy_from_slice(entry);
                self.entries += 1;
            }
            _ => debug_assert!(
                false,
                "push on a sealed or full index {}",
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
        self.capacity = self.entries;
        Ok(())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
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

    fn offset_index(dir: &Path, entries: &[(u32, u32)]) -> OffsetIndex {
        let file = IndexFile::open_writable(&dir.join("x.index"), OFFSET_ENTRY_BYTES, 0, 1024)
            .map_err(|e| e.to_string())
            .unwrap();
        let mut index = OffsetIndex(file);
        for &(offset, position) in entries {
            index.push(offset, position);
        }
        index
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
    fn index_reports_full_at_capacity() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string()).unwrap();
        let file = IndexFile::open_writable(&dir.path().join("y.index"), OFFSET_ENTRY_BYTES, 0, 16)
            .map_err(|e| e.to_string())
            .unwrap();
        let mut index = OffsetIndex(file);
        index.push(0, 0);
        assert!(!index.0.is_full());
        index.push(1, 100);
        assert!(index.0.is_full());
    }
}

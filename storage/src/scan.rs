//! Reading a segment for the recovery scan: large sequential reads into one
//! reused buffer instead of page faults through the mapping.
//!
//! Recovery reads each byte once, to check its CRC-32C. Through the mapping
//! that costs a page fault per few pages and the page cache's bookkeeping for
//! every page (most of the scan's CPU time when measured), and leaves gigabytes
//! of old data cached. Here the file is read in [`SCAN_CHUNK_BYTES`] reads with
//! `O_DIRECT` where the filesystem allows it (the disk writes straight into
//! our buffer; the kernel first writes back any dirty cached pages of the
//! range, so what a killed process left in the page cache is read too), else
//! with plain reads, which the kernel's read-ahead serves sequentially.
//! Batches larger than the buffer are checked through the mapping.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use crate::batch::{self, BatchHeader, CheckedBatch, Defect};
use crate::recovery::Walk;

/// Bytes read at a time by the recovery scan.
pub(crate) const SCAN_CHUNK_BYTES: usize = 8 << 20;
/// Alignment of `O_DIRECT` reads: buffer address, file offset and length.
const DIRECT_ALIGN: usize = 4096;

/// A window of a file held in an aligned, reused buffer.
struct ChunkReader {
    file: File,
    path: std::path::PathBuf,
    /// Whether `file` was opened with `O_DIRECT`.
    direct: bool,
    len: u64,
    /// Over-allocated so that an aligned stretch of `capacity` bytes fits.
    storage: Vec<u8>,
    /// Where the aligned stretch starts in `storage`.
    aligned_at: usize,
    /// Bytes one fill reads: `max_want` plus one block, because a fill starts
    /// at the block holding the position asked for.
    capacity: usize,
    /// The most bytes [`ChunkReader::bytes_from`] can promise.
    max_want: usize,
    /// File offset of the first buffered byte, and how many are buffered.
    start: u64,
    filled: usize,
}

impl ChunkReader {
    /// Opens `path` for direct reads, or for plain sequential reads when the
    /// filesystem refuses `O_DIRECT` (tmpfs, some network filesystems).
    fn open(path: &Path, len: u64, capacity: usize) -> io::Result<ChunkReader> {
        let direct = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(path);
        let (file, direct) = match direct {
            Ok(file) => (file, true),
            Err(_) => (File::open(path)?, false),
        };
        let max_want = capacity.div_ceil(DIRECT_ALIGN).max(1) * DIRECT_ALIGN;
        let capacity = max_want + DIRECT_ALIGN;
        let storage = vec![0u8; capacity + DIRECT_ALIGN];
        let aligned_at = storage.as_ptr().align_offset(DIRECT_ALIGN);
        Ok(ChunkReader {
            file,
            path: path.to_owned(),
            direct,
            len,
            storage,
            aligned_at,
            capacity,
            max_want,
            start: 0,
            filled: 0,
        })
    }

    /// The buffered bytes from `position` on, holding at least
    /// `min(want, len - position)` of them; `want` is at most `max_want`.
    fn bytes_from(&mut self, position: u64, want: usize) -> io::Result<&[u8]> {
        let want = (want as u64).min(self.len.saturating_sub(position)) as usize;
        let buffered_end = self.start + self.filled as u64;
        if position < self.start || position + want as u64 > buffered_end {
            self.fill_from(position - position % DIRECT_ALIGN as u64)?;
        }
        let at = (position - self.start) as usize;
        let buffer = &self.storage[self.aligned_at..self.aligned_at + self.filled];
        Ok(buffer.get(at..).unwrap_or(&[]))
    }

    /// Reads a whole buffer (or up to the end of the file) from `start`, an
    /// aligned offset.
    fn fill_from(&mut self, start: u64) -> io::Result<()> {
        self.start = start;
        self.filled = 0;
        let wanted = (self.capacity as u64).min(self.len.saturating_sub(start)) as usize;
        let buffer = &mut self.storage[self.aligned_at..self.aligned_at + self.capacity];
        while self.filled < wanted {
            // Direct reads need aligned lengths: ask for whole blocks; a read
            // at the end of the file returns what there is.
            let ask = (wanted - self.filled).div_ceil(DIRECT_ALIGN) * DIRECT_ALIGN;
            let ask = ask.min(self.capacity - self.filled);
            let read = match self.file.read_at(
                &mut buffer[self.filled..self.filled + ask],
                start + self.filled as u64,
            ) {
                Ok(read) => read,
                // Some filesystems accept O_DIRECT at open and refuse the reads.
                Err(error) if self.direct && error.raw_os_error() == Some(libc::EINVAL) => {
                    tracing::debug!(path = %self.path.display(), "direct reads refused; reading through the page cache");
                    self.file = File::open(&self.path)?;
                    self.direct = false;
                    continue;
                }
                Err(error) => return Err(error),
            };
            if read == 0 {
                break;
            }
            self.filled += read;
        }
        self.filled = self.filled.min(wanted);
        Ok(())
    }
}

/// Walks the batches of the segment file at `path` from its start with full
/// checks (length, magic, CRC-32C, records, dense offsets from
/// `expected_offset`), calling `visit` for each good one, exactly as
/// [`crate::recovery::walk`] does over `mapping` (the file's first
/// `mapping.len()` bytes), but reading the file in large chunks.
pub(crate) fn scan_file(
    path: &Path,
    mapping: &[u8],
    expected_offset: i64,
    chunk_bytes: usize,
    mut visit: impl FnMut(&CheckedBatch),
) -> io::Result<Walk> {
    let len = mapping.len() as u64;
    let mut reader = ChunkReader::open(path, len, chunk_bytes.max(batch::HEADER_LEN))?;
    let mut position = 0u64;
    let mut next_offset = expected_offset;
    while position < len {
        let head = reader.bytes_from(position, batch::HEADER_LEN)?;
        let size = BatchHeader::parse(head).map_or(batch::HEADER_LEN, |h| h.size());
        let (checked, zeros) = if size > reader.max_want {
            let checked = batch::check_batch(mapping, position as usize);
            (checked, starts_with_zeros(&mapping[position as usize..]))
        } else {
            let data = reader.bytes_from(position, size)?;
            (batch::check_batch(data, 0), starts_with_zeros(data))
        };
        let defect = match checked {
            Ok(batch) if batch.header.base_offset == next_offset => {
                visit(&CheckedBatch {
                    position: position as usize,
                    ..batch
                });
                next_offset = batch.header.last_offset() + 1;
                position += batch.header.size() as u64;
                continue;
            }
            Ok(_) => Defect::BadOffsetDeltas,
            Err(defect) => defect,
        };
        return Ok(Walk {
            end: position as usize,
            next_offset,
            defect: (!zeros).then_some(defect),
        });
    }
    Ok(Walk {
        end: position as usize,
        next_offset,
        defect: None,
    })
}

/// Whether what follows the data looks like preallocated space, not a torn batch.
fn starts_with_zeros(rest: &[u8]) -> bool {
    rest[..rest.len().min(batch::LOG_OVERHEAD)]
        .iter()
        .all(|b| *b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recovery::walk;
    use crate::testing::batch_with_values;

    /// Batches of varied sizes back to back, then `tail`.
    fn segment_bytes(tail: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut offset = 0;
        for i in 0..40 {
            let records = 1 + i % 5;
            bytes.extend(batch_with_values(
                offset,
                records,
                1_000,
                10 + 37 * i as usize,
            ));
            offset += i64::from(records);
        }
        bytes.extend_from_slice(tail);
        bytes
    }

    fn scan_matches_walk(bytes: &[u8], chunk: usize) {
        let dir = tempfile::tempdir().map_err(|e| e.to_string()).unwrap();
        let path = dir.path().join("segment.log");
        std::fs::write(&path, bytes)
            .map_err(|e| e.to_string())
            .unwrap();
        let mut walked = Vec::new();
        let expected = walk(bytes, 0, 0, true, |b| walked.push((b.position, b.header)));
        let mut scanned = Vec::new();
        let result = scan_file(&path, bytes, 0, chunk, |b| {
            scanned.push((b.position, b.header))
        })
        .map_err(|e| e.to_string())
        .unwrap();
        assert_eq!(result, expected, "chunk {chunk}");
        assert_eq!(scanned, walked, "chunk {chunk}");
    }

    #[test]
    fn scan_finds_what_the_mapped_walk_finds_with_batches_across_chunk_ends() {
        for tail in [&[][..], &[0u8; 100][..], &[7u8; 30][..]] {
            let bytes = segment_bytes(tail);
            for chunk in [61, 100, 4096, 5000, 1 << 20] {
                scan_matches_walk(&bytes, chunk);
            }
        }
    }

    #[test]
    fn scan_stops_at_a_torn_or_garbled_batch_like_the_mapped_walk() {
        let whole = segment_bytes(&[]);
        for cut in [whole.len() - 1, whole.len() - 300, 70] {
            scan_matches_walk(&whole[..cut], 4096);
        }
        let mut garbled = whole.clone();
        garbled[whole.len() / 2] ^= 0x5a;
        scan_matches_walk(&garbled, 4096);
        scan_matches_walk(&garbled, 100);
    }
}

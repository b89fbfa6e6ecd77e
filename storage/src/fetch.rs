//! The result of a read: whole record batches as zero-copy `Bytes` over the
//! segments' read-only mappings.

use bytes::{Bytes, BytesMut};

/// Whole record batches, back to back, possibly from several segments (one chunk
/// per segment). Each chunk keeps its segment mapped, and its file alive, for as
/// long as it exists, so it can be written to a socket after the log's lock is
/// released.
#[derive(Clone, Debug, Default)]
pub struct FetchSlice {
    chunks: Vec<Bytes>,
    len: usize,
}

impl FetchSlice {
    pub(crate) fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.len += chunk.len();
            self.chunks.push(chunk);
        }
    }

    /// Total bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no batch was returned (caught up, or `max_offset` reached).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunks in order; concatenated they are whole batches.
    pub fn chunks(&self) -> &[Bytes] {
        &self.chunks
    }

    /// The chunks, for vectored writes.
    pub fn into_bytes_vec(self) -> Vec<Bytes> {
        self.chunks
    }

    /// One contiguous buffer: zero-copy when the slice has a single chunk (the
    /// common case: one segment), a copy otherwise.
    pub fn into_contiguous(self) -> Bytes {
        match self.chunks.len() {
            0 => Bytes::new(),
            1 => self.chunks.into_iter().next().unwrap_or_default(),
            _ => {
                let mut out = BytesMut::with_capacity(self.len);
                for chunk in &self.chunks {
                    out.extend_from_slice(chunk);
                }
                out.freeze()
            }
        }
    }
}

//! Splitting a buffer of back-to-back batches (a fetch response's records,
//! a log segment) into batch views.

use bytes::Bytes;

use crate::record_batch::layout::{BATCH_LENGTH, LOG_OVERHEAD, RECORDS, read_i32};
use crate::record_batch::{BatchError, RecordBatchView};

/// Iterator over concatenated record batches.
///
/// A fetch response may end with a partial batch (the broker cuts at
/// `max_bytes`); that tail is skipped silently, as Kafka clients do. A batch
/// that is malformed yields one error and ends the iteration, since the
/// position of anything after it cannot be trusted.
#[derive(Debug, Clone)]
pub struct RecordBatches {
    buf: Bytes,
    failed: bool,
}

impl RecordBatches {
    /// Iterates the batches in `buf`.
    pub fn new(buf: Bytes) -> Self {
        RecordBatches { buf, failed: false }
    }

    /// Bytes not yet handed out (after iteration ends: the partial tail).
    pub fn remaining(&self) -> &Bytes {
        &self.buf
    }

    fn next_batch(&mut self) -> Option<Result<RecordBatchView, BatchError>> {
        if self.buf.len() < LOG_OVERHEAD {
            return None;
        }
        let declared = read_i32(&self.buf, BATCH_LENGTH);
        let length = match usize::try_from(declared) {
            Ok(length) if length >= RECORDS - LOG_OVERHEAD => length,
            _ => {
                return Some(Err(BatchError::InvalidLength {
                    declared,
                    available: self.buf.len() - LOG_OVERHEAD,
                }));
            }
        };
        if self.buf.len() - LOG_OVERHEAD < length {
            return None;
        }
        let batch = self.buf.split_to(LOG_OVERHEAD + length);
        Some(RecordBatchView::parse(batch))
    }
}

impl Iterator for RecordBatches {
    type Item = Result<RecordBatchView, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = self.next_batch();
        if matches!(next, Some(Err(_))) {
            self.failed = true;
        }
        next
    }
}

//! A zero-copy view of one RecordBatch v2.

use bytes::Bytes;

use crate::record_batch::layout::{
    self, ATTRIBUTES, BASE_OFFSET, BASE_SEQUENCE, BASE_TIMESTAMP, BATCH_LENGTH, CRC,
    LAST_OFFSET_DELTA, LOG_OVERHEAD, MAGIC, MAGIC_V2, MAX_TIMESTAMP, MIN_RECORD_BYTES,
    PARTITION_LEADER_EPOCH, PRODUCER_EPOCH, PRODUCER_ID, RECORDS, RECORDS_COUNT, read_i16,
    read_i32, read_i64,
};
use crate::record_batch::{BatchError, Compression, RecordIter};

/// Whose clock a batch's timestamps come from (attribute bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    /// The producer's timestamp at record creation.
    CreateTime,
    /// The broker's clock at append (`message.timestamp.type=LogAppendTime`);
    /// every record's timestamp is then the batch's max timestamp.
    LogAppendTime,
}

/// One RecordBatch v2, validated for shape and read in place.
///
/// The view owns a `Bytes` that is exactly the batch (cloning is cheap), so a
/// batch can be checked, patched and appended to a log without copying its
/// records. `parse` checks the framing; [`RecordBatchView::verify_crc`] and
/// [`RecordBatchView::validate`] are separate because they touch every byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatchView {
    buf: Bytes,
}

/// What [`RecordBatchView::validate`] learnt by walking every record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSummary {
    /// Number of records in the batch.
    pub record_count: u32,
    /// Size of the records section after decompression.
    pub uncompressed_records_bytes: usize,
    /// Offset delta of the first record carrying the batch's largest
    /// timestamp (the record a log indexes for the batch's max timestamp).
    pub max_timestamp_offset_delta: i32,
}

impl RecordBatchView {
    /// Checks that `buf` is exactly one well-framed v2 batch.
    ///
    /// Checks the magic byte, that `batchLength` matches the buffer, that the
    /// compression code is known and that the record count is non-negative
    /// and (when uncompressed) could fit in the records section.
    ///
    /// # Errors
    /// [`BatchError::Truncated`], [`BatchError::UnsupportedMagic`],
    /// [`BatchError::InvalidLength`], [`BatchError::UnsupportedCompression`],
    /// [`BatchError::RecordCountMismatch`].
    pub fn parse(buf: Bytes) -> Result<Self, BatchError> {
        if buf.len() < RECORDS {
            return Err(BatchError::Truncated {
                needed: RECORDS,
                available: buf.len(),
            });
        }
        let magic = buf[MAGIC] as i8;
        if magic != MAGIC_V2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        let declared = read_i32(&buf, BATCH_LENGTH);
        let available = buf.len() - LOG_OVERHEAD;
        if usize::try_from(declared).ok() != Some(available) {
            return Err(BatchError::InvalidLength {
                declared,
                available,
            });
        }
        let view = RecordBatchView { buf };
        view.check_record_count()?;
        Ok(view)
    }

    fn check_record_count(&self) -> Result<(), BatchError> {
        let declared = self.record_count();
        if declared < 0 {
            return Err(BatchError::RecordCountMismatch {
                declared,
                reason: "the count is negative",
            });
        }
        let compression = Compression::from_code(self.attributes_compression_code())?;
        if compression == Compression::None {
            self.check_count_fits(self.records_payload().len())?;
        }
        Ok(())
    }

    /// Refuses a record count that `records_bytes` of (decompressed)
    /// records cannot hold, before anything iterates on it.
    fn check_count_fits(&self, records_bytes: usize) -> Result<(), BatchError> {
        let declared = self.record_count();
        let count = usize::try_from(declared).unwrap_or(usize::MAX);
        if count.saturating_mul(MIN_RECORD_BYTES) > records_bytes {
            return Err(BatchError::RecordCountMismatch {
                declared,
                reason: "the records section is too short for that many records",
            });
        }
        Ok(())
    }

    fn attributes_compression_code(&self) -> u8 {
        (self.attributes() & layout::COMPRESSION_MASK) as u8
    }

    /// The whole batch, header included, as it goes to a log or a socket.
    pub fn as_bytes(&self) -> &Bytes {
        &self.buf
    }

    /// Gives the batch's bytes back.
    pub fn into_bytes(self) -> Bytes {
        self.buf
    }

    /// Total size of the batch in bytes (header included).
    pub fn size_in_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Offset of the first record (assigned by the leader at append).
    pub fn base_offset(&self) -> i64 {
        read_i64(&self.buf, BASE_OFFSET)
    }

    /// The `batchLength` field: bytes after it.
    pub fn batch_length(&self) -> i32 {
        read_i32(&self.buf, BATCH_LENGTH)
    }

    /// Leader epoch of the leader that appended the batch (-1 from producers).
    pub fn partition_leader_epoch(&self) -> i32 {
        read_i32(&self.buf, PARTITION_LEADER_EPOCH)
    }

    /// The magic byte; always 2 for a parsed view.
    pub fn magic(&self) -> i8 {
        self.buf[MAGIC] as i8
    }

    /// The stored CRC-32C.
    pub fn crc(&self) -> u32 {
        read_i32(&self.buf, CRC) as u32
    }

    /// The raw attributes field.
    pub fn attributes(&self) -> i16 {
        read_i16(&self.buf, ATTRIBUTES)
    }

    /// Offset of the last record relative to the base offset.
    pub fn last_offset_delta(&self) -> i32 {
        read_i32(&self.buf, LAST_OFFSET_DELTA)
    }

    /// Offset of the last record (`base_offset + last_offset_delta`).
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .wrapping_add(i64::from(self.last_offset_delta()))
    }

    /// The offset after this batch: where the next batch starts.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// Timestamp of the first record; record timestamps are deltas from it.
    pub fn base_timestamp(&self) -> i64 {
        read_i64(&self.buf, BASE_TIMESTAMP)
    }

    /// Largest timestamp in the batch (used by the time index).
    pub fn max_timestamp(&self) -> i64 {
        read_i64(&self.buf, MAX_TIMESTAMP)
    }

    /// Idempotent producer id, or -1.
    pub fn producer_id(&self) -> i64 {
        read_i64(&self.buf, PRODUCER_ID)
    }

    /// Producer epoch, or -1.
    pub fn producer_epoch(&self) -> i16 {
        read_i16(&self.buf, PRODUCER_EPOCH)
    }

    /// Sequence number of the first record, or -1.
    pub fn base_sequence(&self) -> i32 {
        read_i32(&self.buf, BASE_SEQUENCE)
    }

    /// Sequence number of the last record (sequences wrap at `i32::MAX`).
    pub fn last_sequence(&self) -> i32 {
        let base = self.base_sequence();
        if base < 0 {
            return base;
        }
        let last = i64::from(base) + i64::from(self.last_offset_delta());
        (last % (i64::from(i32::MAX) + 1)) as i32
    }

    /// The `recordsCount` field (non-negative in a parsed view).
    pub fn record_count(&self) -> i32 {
        read_i32(&self.buf, RECORDS_COUNT)
    }

    /// The compression codec of the records section.
    pub fn compression(&self) -> Compression {
        Compression::from_code(self.attributes_compression_code()).unwrap_or(Compression::None)
    }

    /// Whose clock the timestamps come from.
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes() & layout::TIMESTAMP_TYPE_BIT == 0 {
            TimestampType::CreateTime
        } else {
            TimestampType::LogAppendTime
        }
    }

    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes() & layout::TRANSACTIONAL_BIT != 0
    }

    /// Whether the batch holds control records (transaction markers).
    pub fn is_control(&self) -> bool {
        self.attributes() & layout::CONTROL_BIT != 0
    }

    /// Whether `base_timestamp` is a compaction delete horizon (KIP-534).
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes() & layout::DELETE_HORIZON_BIT != 0
    }

    /// The records section as stored (compressed when the batch is).
    pub fn records_payload(&self) -> Bytes {
        self.buf.slice(RECORDS..)
    }

    /// The CRC-32C of the bytes the CRC covers (attributes to the end).
    pub fn compute_crc(&self) -> u32 {
        layout::compute_crc(&self.buf)
    }

    /// Checks the stored CRC-32C against the bytes.
    ///
    /// # Errors
    /// [`BatchError::CrcMismatch`] when they differ.
    pub fn verify_crc(&self) -> Result<(), BatchError> {
        let (stored, computed) = (self.crc(), self.compute_crc());
        if stored == computed {
            Ok(())
        } else {
            Err(BatchError::CrcMismatch { stored, computed })
        }
    }

    /// Iterates the records, decompressing first when the batch is
    /// compressed (never to more than `max_decompressed_bytes`).
    ///
    /// Keys, values and headers are slices of the batch (uncompressed) or of
    /// the one decompressed buffer: no per-record copies.
    ///
    /// # Errors
    /// Decompression errors; record errors come from the iterator.
    pub fn records(&self, max_decompressed_bytes: usize) -> Result<RecordIter, BatchError> {
        let records = self
            .compression()
            .decompress(&self.records_payload(), max_decompressed_bytes)?;
        // Checked again after decompression: `parse` can only check the
        // count of an uncompressed batch.
        self.check_count_fits(records.len())?;
        let log_append_time = match self.timestamp_type() {
            TimestampType::LogAppendTime => Some(self.max_timestamp()),
            TimestampType::CreateTime => None,
        };
        Ok(RecordIter::new(
            records,
            self.record_count(),
            self.base_offset(),
            self.base_timestamp(),
            log_append_time,
        ))
    }

    /// Fully validates the batch as a broker must before appending it:
    /// the CRC, every record's encoding, the record count, and that offset
    /// deltas run 0, 1, 2, ... up to `last_offset_delta`.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self, max_decompressed_bytes: usize) -> Result<BatchSummary, BatchError> {
        self.verify_crc()?;
        let records = self.records(max_decompressed_bytes)?;
        let uncompressed_records_bytes = records.remaining_bytes();
        let checked = records.check_remaining()?;
        let record_count = checked.count;
        if record_count > 0 && i64::from(self.last_offset_delta()) != i64::from(record_count) - 1 {
            return Err(BatchError::RecordCountMismatch {
                declared: self.record_count(),
                reason: "lastOffsetDelta disagrees with the records",
            });
        }
        Ok(BatchSummary {
            record_count,
            uncompressed_records_bytes,
            // Offset deltas were checked to run 0, 1, ... up to an i32.
            max_timestamp_offset_delta: checked.max_timestamp_index as i32,
        })
    }

    /// Writes the leader-assigned base offset and leader epoch into the
    /// header. Both fields are outside the CRC, so the CRC stays valid.
    ///
    /// Zero-copy when this view holds the only reference to its buffer;
    /// otherwise the batch is copied once.
    pub fn assign_offsets(&mut self, base_offset: i64, partition_leader_epoch: i32) {
        let buf = std::mem::take(&mut self.buf);
        let mut buf = buf
            .try_into_mut()
            .unwrap_or_else(|shared| bytes::BytesMut::from(&shared[..]));
        let mut header = BatchHeaderMut { buf: &mut buf };
        header.set_base_offset(base_offset);
        header.set_partition_leader_epoch(partition_leader_epoch);
        self.buf = buf.freeze();
    }
}

/// In-place writes to the header fields that sit outside the CRC.
///
/// For callers that hold a batch in a mutable buffer (a log segment being
/// written, a request buffer they own).
#[derive(Debug)]
pub struct BatchHeaderMut<'a> {
    buf: &'a mut [u8],
}

impl<'a> BatchHeaderMut<'a> {
    /// Wraps the start of a v2 batch.
    ///
    /// # Errors
    /// [`BatchError::Truncated`] when the header is incomplete,
    /// [`BatchError::UnsupportedMagic`] when it is not v2.
    pub fn new(buf: &'a mut [u8]) -> Result<Self, BatchError> {
        if buf.len() < RECORDS {
            return Err(BatchError::Truncated {
                needed: RECORDS,
                available: buf.len(),
            });
        }
        let magic = buf[MAGIC] as i8;
        if magic != MAGIC_V2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        Ok(BatchHeaderMut { buf })
    }

    /// Sets the offset of the first record.
    pub fn set_base_offset(&mut self, base_offset: i64) {
        self.buf[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
    }

    /// Sets the leader epoch of the appending leader.
    pub fn set_partition_leader_epoch(&mut self, partition_leader_epoch: i32) {
        self.buf[PARTITION_LEADER_EPOCH..PARTITION_LEADER_EPOCH + 4]
            .copy_from_slice(&partition_leader_epoch.to_be_bytes());
    }
}

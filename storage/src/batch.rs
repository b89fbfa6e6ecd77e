//! Storage's own view of a Kafka RecordBatch v2 header (storage depends on no other
//! crate of ours), and the checks a batch must pass before it touches disk.
//!
//! Layout (big-endian): baseOffset i64, batchLength i32, partitionLeaderEpoch i32,
//! magic i8, crc u32, attributes i16, lastOffsetDelta i32, baseTimestamp i64,
//! maxTimestamp i64, producerId i64, producerEpoch i16, baseSequence i32,
//! recordCount i32, then the records. The CRC-32C covers attributes to the end.

use crate::records;

/// Bytes before `batchLength` counts: baseOffset and batchLength itself.
pub(crate) const LOG_OVERHEAD: usize = 12;
/// Size of the fixed RecordBatch v2 header.
pub(crate) const HEADER_LEN: usize = 61;
const LEADER_EPOCH_AT: usize = 12;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const BASE_TIMESTAMP_AT: usize = 27;
const MAX_TIMESTAMP_AT: usize = 35;
const RECORD_COUNT_AT: usize = 57;
const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;

/// The header fields storage needs, parsed from the first 61 bytes of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub record_count: i32,
}

/// Which structural or record-level check a batch failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Defect {
    /// Fewer bytes remain than a header or the declared length.
    Truncated,
    /// `batchLength` is too small to hold a header.
    BadLength,
    /// Magic is not 2.
    BadMagic,
    /// CRC-32C mismatch.
    BadCrc,
    /// `recordCount` is not positive.
    NoRecords,
    /// `lastOffsetDelta` or a record's offset delta breaks density from 0.
    BadOffsetDeltas,
    /// The records section does not parse or does not fill the batch exactly.
    MalformedRecords,
}

impl Defect {
    /// Human-readable reason, used in errors.
    pub fn reason(self) -> &'static str {
        match self {
            Defect::Truncated => "batch extends past the end of the buffer",
            Defect::BadLength => "batchLength is smaller than the batch header",
            Defect::BadMagic => "magic is not 2 (only RecordBatch v2 is stored)",
            Defect::BadCrc => "CRC-32C mismatch",
            Defect::NoRecords => "recordCount is not positive",
            Defect::BadOffsetDeltas => "record offset deltas are not 0, 1, 2, ... lastOffsetDelta",
            Defect::MalformedRecords => "records do not parse or do not fill the batch",
        }
    }

    /// Structural damage (Kafka's CORRUPT_MESSAGE) as opposed to a rule broken by
    /// well-formed bytes (INVALID_RECORD).
    pub fn is_corruption(self) -> bool {
        matches!(
            self,
            Defect::Truncated | Defect::BadLength | Defect::BadCrc | Defect::MalformedRecords
        )
    }
}

fn i16_at(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([buf[at], buf[at + 1]])
}
fn i32_at(buf: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}
fn i64_at(buf: &[u8], at: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    i64::from_be_bytes(b)
}

impl BatchHeader {
    /// Parses the header at the start of `buf`, or `None` when fewer than 61 bytes
    /// remain. No field is checked here.
    pub fn parse(buf: &[u8]) -> Option<BatchHeader> {
        if buf.len() < HEADER_LEN {
            return None;
        }
        Some(BatchHeader {
            base_offset: i64_at(buf, 0),
            batch_length: i32_at(buf, 8),
            magic: buf[MAGIC_AT] as i8,
            crc: u32::from_be_bytes([
                buf[CRC_AT],
                buf[CRC_AT + 1],
                buf[CRC_AT + 2],
                buf[CRC_AT + 3],
            ]),
            attributes: i16_at(buf, ATTRIBUTES_AT),
            last_offset_delta: i32_at(buf, LAST_OFFSET_DELTA_AT),
            base_timestamp: i64_at(buf, BASE_TIMESTAMP_AT),
            max_timestamp: i64_at(buf, MAX_TIMESTAMP_AT),
            record_count: i32_at(buf, RECORD_COUNT_AT),
        })
    }

    /// Total size of the batch on disk, including offset and length fields.
    pub fn size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }

    /// Offset of the batch's last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// Whether the records are compressed (then storage cannot look inside).
    pub fn is_compressed(&self) -> bool {
        self.attributes & COMPRESSION_MASK != 0
    }
}

/// The header of the batch at `data[position..]` when the whole batch lies within
/// `data`. Used on already-validated data, so a damaged index entry can at worst
/// end a read early, never slice out of bounds.
pub(crate) fn header_within(data: &[u8], position: usize) -> Option<BatchHeader> {
    let header = BatchHeader::parse(data.get(position..)?)?;
    let fits = header.size() >= HEADER_LEN && position + header.size() <= data.len();
    fits.then_some(header)
}

/// A batch that passed validation, with what the log needs to index it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CheckedBatch {
    /// Where the batch starts in the buffer.
    pub position: usize,
    pub header: BatchHeader,
    /// Offset delta of the first record carrying the batch's max timestamp (the
    /// last offset delta when the records are compressed).
    pub max_timestamp_delta: i32,
}

/// Checks the frame of the batch at `buf[position..]`: enough bytes, sane length,
/// magic 2. Cheap: no CRC. Used when scanning for the end of data.
pub(crate) fn check_frame(buf: &[u8], position: usize) -> Result<BatchHeader, Defect> {
    let rest = buf.get(position..).unwrap_or(&[]);
    let header = BatchHeader::parse(rest).ok_or(Defect::Truncated)?;
    if (header.batch_length as i64) < (HEADER_LEN - LOG_OVERHEAD) as i64 {
        return Err(Defect::BadLength);
    }
    if header.size() > rest.len() {
        return Err(Defect::Truncated);
    }
    if header.magic != 2 {
        return Err(Defect::BadMagic);
    }
    Ok(header)
}

/// CRC-32C over the CRC-covered range of a whole batch (`attributes` to the end).
pub(crate) fn compute_crc(batch: &[u8]) -> u32 {
    crc_fast::crc32_iscsi(&batch[ATTRIBUTES_AT..])
}

/// Full validation of the batch at `buf[position..]`: frame, CRC-32C, record
/// count, and dense offset deltas (walking the records when uncompressed).
pub(crate) fn check_batch(buf: &[u8], position: usize) -> Result<CheckedBatch, Defect> {
    let header = check_counted_frame(buf, position)?;
    let batch = &buf[position..position + header.size()];
    if compute_crc(batch) != header.crc {
        return Err(Defect::BadCrc);
    }
    let max_timestamp_delta = if header.is_compressed() {
        header.last_offset_delta
    } else {
        records::check_records(&batch[HEADER_LEN..], &header)?
    };
    Ok(CheckedBatch {
        position,
        header,
        max_timestamp_delta,
    })
}

/// The frame checks plus a positive record count whose last offset delta is
/// `recordCount - 1`: everything about a batch that its header alone shows.
fn check_counted_frame(buf: &[u8], position: usize) -> Result<BatchHeader, Defect> {
    let header = check_frame(buf, position)?;
    if header.record_count <= 0 {
        return Err(Defect::NoRecords);
    }
    if header.last_offset_delta != header.record_count - 1 {
        return Err(Defect::BadOffsetDeltas);
    }
    Ok(header)
}

/// Validates every batch in `buf`, which must be whole batches back to back.
pub(crate) fn check_all(buf: &[u8]) -> Result<Vec<CheckedBatch>, (usize, Defect)> {
    check_each(buf, |position, _| check_batch(buf, position))
}

/// Checks the headers of batches the caller has verified itself (CRC-32C
/// and every record), taking the max-timestamp offset delta of each
/// uncompressed batch from `verified`, in order. The frames are still
/// checked, so the log's structure holds whatever the caller says; a count
/// of batches that disagrees with `verified` is malformed input.
pub(crate) fn check_verified(
    buf: &[u8],
    verified: &[VerifiedBatch],
) -> Result<Vec<CheckedBatch>, (usize, Defect)> {
    let checked = check_each(buf, |position, index| {
        let header = check_counted_frame(buf, position)?;
        let facts = verified.get(index).ok_or(Defect::MalformedRecords)?;
        let max_timestamp_delta = if header.is_compressed() {
            header.last_offset_delta
        } else {
            facts
                .max_timestamp_offset_delta
                .clamp(0, header.last_offset_delta)
        };
        Ok(CheckedBatch {
            position,
            header,
            max_timestamp_delta,
        })
    })?;
    if checked.len() != verified.len() {
        return Err((buf.len(), Defect::MalformedRecords));
    }
    Ok(checked)
}

/// Runs `check(position, index)` on each batch of `buf` in turn.
fn check_each(
    buf: &[u8],
    mut check: impl FnMut(usize, usize) -> Result<CheckedBatch, Defect>,
) -> Result<Vec<CheckedBatch>, (usize, Defect)> {
    let mut checked = Vec::new();
    let mut position = 0;
    while position < buf.len() {
        let batch = check(position, checked.len()).map_err(|d| (position, d))?;
        position += batch.header.size();
        checked.push(batch);
    }
    Ok(checked)
}

/// What a caller that validated a batch in full (CRC-32C, every record's
/// encoding, dense offset deltas) tells the log about it, so that a leader
/// append does not walk the records a second time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedBatch {
    /// Offset delta of the first record with the batch's largest timestamp
    /// delta (used for uncompressed batches; a compressed batch is indexed
    /// at its last offset, as on every other path).
    pub max_timestamp_offset_delta: i32,
}

/// Writes the leader-assigned base offset and leader epoch into a batch header.
/// Both fields are outside the CRC, so the CRC stays valid.
pub(crate) fn assign_offset(batch: &mut [u8], base_offset: i64, leader_epoch: i32) {
    batch[..8].copy_from_slice(&base_offset.to_be_bytes());
    batch[LEADER_EPOCH_AT..LEADER_EPOCH_AT + 4].copy_from_slice(&leader_epoch.to_be_bytes());
}

/// Stamps a batch with the broker's append time (LogAppendTime): sets the
/// timestamp-type attribute and maxTimestamp, then recomputes the CRC, as Kafka does.
pub(crate) fn stamp_log_append_time(batch: &mut [u8], now_ms: i64) {
    let attributes = i16_at(batch, ATTRIBUTES_AT) | TIMESTAMP_TYPE_BIT;
    batch[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = compute_crc(batch);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::batch_bytes;

    #[test]
    fn well_formed_batch_passes_and_reports_its_header() {
        let bytes = batch_bytes(7, 3, 1000);
        let checked = check_all(&bytes).map_err(|e| format!("{e:?}")).unwrap();
        assert_eq!(checked.len(), 1);
        assert_eq!(checked[0].header.base_offset, 7);
        assert_eq!(checked[0].header.last_offset(), 9);
        assert_eq!(checked[0].header.record_count, 3);
    }

    #[test]
    fn flipped_payload_bit_is_a_crc_error() {
        let mut bytes = batch_bytes(0, 2, 1000);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(check_batch(&bytes, 0).map(|_| ()), Err(Defect::BadCrc));
    }

    #[test]
    fn assigning_offset_and_epoch_keeps_crc_valid() {
        let mut bytes = batch_bytes(0, 2, 1000);
        assign_offset(&mut bytes, 12345, 9);
        let checked = check_batch(&bytes, 0)
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        assert_eq!(checked.header.base_offset, 12345);
    }

    #[test]
    fn log_append_time_stamp_recomputes_crc() {
        let mut bytes = batch_bytes(0, 2, 1000);
        stamp_log_append_time(&mut bytes, 99_999);
        let checked = check_batch(&bytes, 0)
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        assert_eq!(checked.header.max_timestamp, 99_999);
    }

    #[test]
    fn wrong_magic_is_rejected() {
        let mut bytes = batch_bytes(0, 1, 1000);
        bytes[MAGIC_AT] = 1;
        assert_eq!(check_batch(&bytes, 0).map(|_| ()), Err(Defect::BadMagic));
    }
}

//! Byte positions of the RecordBatch v2 header fields.
//!
//! ```text
//! baseOffset: int64            0
//! batchLength: int32           8   (bytes after this field)
//! partitionLeaderEpoch: int32  12  -- not covered by the CRC
//! magic: int8                  16  (= 2)
//! crc: uint32                  17  (CRC-32C of attributes..end)
//! attributes: int16            21
//! lastOffsetDelta: int32       23
//! baseTimestamp: int64         27
//! maxTimestamp: int64          35
//! producerId: int64            43
//! producerEpoch: int16         51
//! baseSequence: int32          53
//! recordsCount: int32          57
//! records                      61
//! ```

pub(crate) const BASE_OFFSET: usize = 0;
pub(crate) const BATCH_LENGTH: usize = 8;
pub(crate) const PARTITION_LEADER_EPOCH: usize = 12;
pub(crate) const MAGIC: usize = 16;
pub(crate) const CRC: usize = 17;
pub(crate) const ATTRIBUTES: usize = 21;
pub(crate) const LAST_OFFSET_DELTA: usize = 23;
pub(crate) const BASE_TIMESTAMP: usize = 27;
pub(crate) const MAX_TIMESTAMP: usize = 35;
pub(crate) const PRODUCER_ID: usize = 43;
pub(crate) const PRODUCER_EPOCH: usize = 51;
pub(crate) const BASE_SEQUENCE: usize = 53;
pub(crate) const RECORDS_COUNT: usize = 57;
pub(crate) const RECORDS: usize = 61;

/// Bytes before `batchLength` starts counting: baseOffset and batchLength.
pub(crate) const LOG_OVERHEAD: usize = 12;

/// The magic byte of RecordBatch v2.
pub(crate) const MAGIC_V2: i8 = 2;

/// Attribute bits (Kafka `DefaultRecordBatch`).
pub(crate) const COMPRESSION_MASK: i16 = 0x07;
pub(crate) const TIMESTAMP_TYPE_BIT: i16 = 1 << 3;
pub(crate) const TRANSACTIONAL_BIT: i16 = 1 << 4;
pub(crate) const CONTROL_BIT: i16 = 1 << 5;
pub(crate) const DELETE_HORIZON_BIT: i16 = 1 << 6;

/// The smallest encoding of one record: a length varint plus attributes,
/// timestamp delta, offset delta, key length, value length and header count
/// of one byte each. Bounds how many records a buffer can possibly hold.
pub(crate) const MIN_RECORD_BYTES: usize = 7;

pub(crate) fn read_i16(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([buf[at], buf[at + 1]])
}

pub(crate) fn read_i32(buf: &[u8], at: usize) -> i32 {
    let mut bytes = [0; 4];
    bytes.copy_from_slice(&buf[at..at + 4]);
    i32::from_be_bytes(bytes)
}

pub(crate) fn read_i64(buf: &[u8], at: usize) -> i64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&buf[at..at + 8]);
    i64::from_be_bytes(bytes)
}

/// CRC-32C (Castagnoli) of everything from the attributes to the end.
pub(crate) fn compute_crc(batch: &[u8]) -> u32 {
    crc_fast::crc32_iscsi(&batch[ATTRIBUTES..])
}

//! Building RecordBatch v2 bytes: the producer's hot path.

use bytes::{BufMut, Bytes, BytesMut};

use crate::record_batch::layout::{
    self, ATTRIBUTES, BATCH_LENGTH, CRC, LOG_OVERHEAD, MAGIC_V2, RECORDS,
};
use crate::record_batch::varint::{
    MAX_VARINT_LEN, MAX_VARLONG_LEN, Scratch, put_varint, varint_len, varlong_len,
};
use crate::record_batch::{BatchError, CodecContext, Compression};

/// "No producer id / epoch / sequence / leader epoch" in Kafka's header.
const NONE_ID: i64 = -1;

/// Largest batch Kafka's `i32` length fields can describe.
const MAX_BATCH_BYTES: usize = i32::MAX as usize;

/// One record header as the builder takes it: a UTF-8 key and a nullable value.
pub type HeaderRef<'a> = (&'a str, Option<&'a [u8]>);

/// Accumulates records into one RecordBatch v2 and encodes it.
///
/// Records are encoded straight into a reusable buffer as they are
/// appended, so appending allocates nothing once the buffer has grown to
/// batch size; `build` compresses (if asked), fills the header and the
/// CRC-32C, and leaves the builder ready for the next batch with the same
/// settings. The base timestamp is the first record's timestamp, as in the
/// Java client; later records may be older (negative deltas are legal).
#[derive(Debug)]
pub struct BatchBuilder {
    compression: Compression,
    compression_level: Option<i32>,
    max_batch_bytes: usize,
    /// A header placeholder followed by the uncompressed records.
    records: BytesMut,
    /// Header plus compressed records, reused across batches.
    compressed: BytesMut,
    /// The codec's state, reused across batches.
    codec: CodecContext,
    record_count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    partition_leader_epoch: i32,
    transactional: bool,
    control: bool,
}

impl BatchBuilder {
    /// A builder whose batches hold at most `max_batch_bytes` (Kafka's
    /// `batch.size`, measured before compression; a single record larger
    /// than that still gets a batch of its own).
    pub fn new(compression: Compression, max_batch_bytes: usize) -> Self {
        let max_batch_bytes = max_batch_bytes.min(MAX_BATCH_BYTES);
        let mut builder = BatchBuilder {
            compression,
            compression_level: None,
            max_batch_bytes,
            records: BytesMut::with_capacity(max_batch_bytes.clamp(RECORDS, 1 << 20)),
            compressed: BytesMut::new(),
            codec: CodecContext::default(),
            record_count: 0,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: NONE_ID,
            producer_epoch: NONE_ID as i16,
            base_sequence: NONE_ID as i32,
            partition_leader_epoch: NONE_ID as i32,
            transactional: false,
            control: false,
        };
        builder.reset();
        builder
    }

    /// Changes the size limit for the records appended from now on; the
    /// records already in the batch stay (a producer lets a batch that
    /// waits to be sent grow past `batch.size`).
    pub fn set_max_batch_bytes(&mut self, max_batch_bytes: usize) {
        self.max_batch_bytes = max_batch_bytes.min(MAX_BATCH_BYTES);
    }

    /// Sets the codec level (gzip 0-9, zstd 1-22); `None` is the codec default.
    pub fn with_compression_level(mut self, level: Option<i32>) -> Self {
        self.compression_level = level;
        self
    }

    /// Marks batches as coming from idempotent producer `producer_id` at
    /// `producer_epoch` (both -1 for a non-idempotent producer).
    pub fn set_producer(&mut self, producer_id: i64, producer_epoch: i16) {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
    }

    /// Sets the sequence number of the next batch's first record.
    pub fn set_base_sequence(&mut self, base_sequence: i32) {
        self.base_sequence = base_sequence;
    }

    /// Sets the partition leader epoch written into the header (brokers and
    /// tests; producers leave it at -1).
    pub fn set_partition_leader_epoch(&mut self, partition_leader_epoch: i32) {
        self.partition_leader_epoch = partition_leader_epoch;
    }

    /// Marks batches as part of a transaction.
    pub fn set_transactional(&mut self, transactional: bool) {
        self.transactional = transactional;
    }

    /// Marks batches as holding control records (transaction markers).
    pub fn set_control(&mut self, control: bool) {
        self.control = control;
    }

    /// The codec batches are compressed with.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Records appended since the last `build` or `reset`.
    pub fn record_count(&self) -> usize {
        self.record_count as usize
    }

    /// Whether no record has been appended yet.
    pub fn is_empty(&self) -> bool {
        self.record_count == 0
    }

    /// Size of the batch if built uncompressed: header plus records. For a
    /// compressed batch this is an upper bound in practice.
    pub fn estimated_size(&self) -> usize {
        self.records.len()
    }

    /// Appends a record if it fits; returns `false` (and appends nothing)
    /// when it would push the batch past `max_batch_bytes`.
    ///
    /// The first record of a batch always fits unless it is over 2 GiB or
    /// its timestamp is so far from the base that the delta overflows.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[HeaderRef<'_>],
    ) -> bool {
        let base_timestamp = if self.is_empty() {
            timestamp
        } else {
            self.base_timestamp
        };
        let Some(timestamp_delta) = timestamp.checked_sub(base_timestamp) else {
            return false;
        };
        let offset_delta = self.record_count;
        let Some(body_len) = body_len(timestamp_delta, offset_delta, key, value, headers) else {
            return false;
        };
        let record_len = varint_len(body_len as i32) + body_len;
        let limit = if self.is_empty() {
            MAX_BATCH_BYTES
        } else {
            self.max_batch_bytes
        };
        if self.records.len().saturating_add(record_len) > limit || offset_delta == i32::MAX {
            return false;
        }
        self.records.reserve(record_len);
        let before = self.records.len();
        write_record(
            &mut self.records,
            body_len,
            timestamp_delta,
            offset_delta,
            key,
            value,
            headers,
        );
        debug_assert_eq!(
            self.records.len() - before,
            record_len,
            "size matches encoding"
        );
        self.note_timestamp(timestamp);
        self.record_count += 1;
        true
    }

    fn note_timestamp(&mut self, timestamp: i64) {
        if self.is_empty() {
            self.base_timestamp = timestamp;
            self.max_timestamp = timestamp;
        } else {
            self.max_timestamp = self.max_timestamp.max(timestamp);
        }
    }

    /// Encodes the batch: compresses the records, writes the header with
    /// base offset 0, and the CRC-32C. The builder is then empty again with
    /// the same settings (set the next base sequence before appending).
    ///
    /// # Errors
    /// [`BatchError::EmptyBatch`] with no records,
    /// [`BatchError::Compression`] if the codec fails,
    /// [`BatchError::TooLarge`] past Kafka's 2 GiB size fields.
    pub fn build(&mut self) -> Result<Bytes, BatchError> {
        if self.is_empty() {
            return Err(BatchError::EmptyBatch);
        }
        let result = self.encode();
        self.reset();
        result
    }

    fn encode(&mut self) -> Result<Bytes, BatchError> {
        let mut batch = if self.compression == Compression::None {
            self.records.split()
        } else {
            self.compressed.clear();
            self.compressed.put_bytes(0, RECORDS);
            self.compression.compress_with(
                &mut self.codec,
                &self.records[RECORDS..],
                self.compression_level,
                &mut self.compressed,
            )?;
            self.compressed.split()
        };
        if batch.len() > MAX_BATCH_BYTES {
            return Err(BatchError::TooLarge { size: batch.len() });
        }
        self.write_header(&mut batch);
        Ok(batch.freeze())
    }

    fn write_header(&self, batch: &mut [u8]) {
        let batch_length = (batch.len() - LOG_OVERHEAD) as i32;
        let mut header = &mut batch[..RECORDS];
        header.put_i64(0);
        header.put_i32(batch_length);
        header.put_i32(self.partition_leader_epoch);
        header.put_i8(MAGIC_V2);
        header.put_u32(0);
        header.put_i16(self.attributes());
        header.put_i32(self.record_count - 1);
        header.put_i64(self.base_timestamp);
        header.put_i64(self.max_timestamp);
        header.put_i64(self.producer_id);
        header.put_i16(self.producer_epoch);
        header.put_i32(self.base_sequence);
        header.put_i32(self.record_count);
        debug_assert!(header.is_empty(), "the header is exactly {RECORDS} bytes");
        debug_assert_eq!(layout::read_i32(batch, BATCH_LENGTH), batch_length);
        let crc = layout::compute_crc(batch);
        batch[CRC..ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
    }

    fn attributes(&self) -> i16 {
        let mut attributes = i16::from(self.compression.code());
        if self.transactional {
            attributes |= layout::TRANSACTIONAL_BIT;
        }
        if self.control {
            attributes |= layout::CONTROL_BIT;
        }
        attributes
    }

    /// Drops the appended records, keeping the buffers and the settings.
    pub fn reset(&mut self) {
        self.records.clear();
        self.records
            .reserve(self.max_batch_bytes.clamp(RECORDS, 1 << 20));
        self.records.put_bytes(0, RECORDS);
        self.record_count = 0;
        self.base_timestamp = 0;
        self.max_timestamp = 0;
    }
}

/// Length of a record after its length prefix, or `None` if a field does
/// not fit Kafka's `i32` lengths.
fn body_len(
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[HeaderRef<'_>],
) -> Option<usize> {
    let mut len = 1 + varlong_len(timestamp_delta) + varint_len(offset_delta);
    len = len.checked_add(nullable_len(key)?)?;
    len = len.checked_add(nullable_len(value)?)?;
    len = len.checked_add(varint_len(i32::try_from(headers.len()).ok()?))?;
    for (header_key, header_value) in headers {
        len = len.checked_add(nullable_len(Some(header_key.as_bytes()))?)?;
        len = len.checked_add(nullable_len(*header_value)?)?;
    }
    i32::try_from(len).ok().map(|_| len)
}

fn nullable_len(field: Option<&[u8]>) -> Option<usize> {
    match field {
        None => Some(1),
        Some(bytes) => Some(varint_len(i32::try_from(bytes.len()).ok()?) + bytes.len()),
    }
}

fn write_record(
    out: &mut BytesMut,
    body_len: usize,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[HeaderRef<'_>],
) {
    // Lengths were checked to fit i32 by `body_len`. The fields before the
    // key's bytes, then those before the value's, go out in one copy each.
    let mut head = Scratch::<{ 3 * MAX_VARINT_LEN + 1 + MAX_VARLONG_LEN }>::new();
    head.varint(body_len as i32);
    head.byte(0); // attributes
    head.varlong(timestamp_delta);
    head.varint(offset_delta);
    head.varint(key.map_or(-1, |key| key.len() as i32));
    out.put_slice(head.as_slice());
    if let Some(key) = key {
        out.put_slice(key);
    }
    let mut value_len = Scratch::<MAX_VARINT_LEN>::new();
    value_len.varint(value.map_or(-1, |value| value.len() as i32));
    out.put_slice(value_len.as_slice());
    if let Some(value) = value {
        out.put_slice(value);
    }
    put_varint(out, headers.len() as i32);
    for (header_key, header_value) in headers {
        put_nullable(out, Some(header_key.as_bytes()));
        put_nullable(out, *header_value);
    }
}

fn put_nullable(out: &mut BytesMut, field: Option<&[u8]>) {
    match field {
        None => put_varint(out, -1),
        Some(bytes) => {
            put_varint(out, bytes.len() as i32);
            out.put_slice(bytes);
        }
    }
}

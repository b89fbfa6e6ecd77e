//! Iterating the records of a batch as zero-copy views.
//!
//! A record on the wire (Kafka `DefaultRecord`):
//!
//! ```text
//! length: varint
//! attributes: int8 (unused)
//! timestampDelta: varlong
//! offsetDelta: varint
//! keyLength: varint (-1 = null) , key
//! valueLength: varint (-1 = null), value
//! headersCount: varint
//! headers: [keyLength: varint, key, valueLength: varint (-1 = null), value]
//! ```

use bytes::Bytes;

use crate::record_batch::BatchError;
use crate::record_batch::varint::{VarintError, read_varint, read_varlong};

/// One record of a batch. Key, value and headers are slices of the batch
/// (or of its decompressed records), not copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Absolute offset: the batch's base offset plus `offset_delta`.
    pub offset: i64,
    /// Offset relative to the batch's base offset, as stored.
    pub offset_delta: i64,
    /// Absolute timestamp in milliseconds (the batch's max timestamp for
    /// `LogAppendTime` batches).
    pub timestamp: i64,
    /// The key, `None` for a null key.
    pub key: Option<Bytes>,
    /// The value, `None` for a null value (a tombstone).
    pub value: Option<Bytes>,
    /// The headers, decoded lazily.
    pub headers: RecordHeaders,
}

/// One record header. Kafka header keys are UTF-8 strings; they are handed
/// out as bytes so reading never fails or allocates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header key.
    pub key: Bytes,
    /// The header value, `None` for null.
    pub value: Option<Bytes>,
}

/// The headers of one record: validated when the record was read, decoded
/// when iterated, so records without interest in headers pay nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordHeaders {
    buf: Bytes,
    count: usize,
}

impl RecordHeaders {
    /// Number of headers.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the record has no headers.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The headers in wire order.
    pub fn iter(&self) -> HeaderIter<'_> {
        HeaderIter {
            headers: self,
            position: 0,
            remaining: self.count,
        }
    }
}

impl<'a> IntoIterator for &'a RecordHeaders {
    type Item = Header;
    type IntoIter = HeaderIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over [`RecordHeaders`].
#[derive(Debug)]
pub struct HeaderIter<'a> {
    headers: &'a RecordHeaders,
    position: usize,
    remaining: usize,
}

impl Iterator for HeaderIter<'_> {
    type Item = Header;

    fn next(&mut self) -> Option<Header> {
        if self.remaining == 0 {
            return None;
        }
        let mut cursor = Cursor::new(&self.headers.buf, self.position);
        // The header section was fully parsed when the record was read, so
        // this cannot fail; stop quietly rather than panic if it ever does.
        let header = read_header(&mut cursor);
        debug_assert!(
            header.is_ok(),
            "headers are validated when the record is read"
        );
        let header = header.ok()?;
        self.position = cursor.position;
        self.remaining -= 1;
        Some(header)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

/// What [`RecordIter::check_remaining`] learned walking the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedRecords {
    /// Records walked.
    pub count: u32,
    /// Index (from the first record walked) of the first record with the
    /// largest timestamp: what a log indexes as the batch's max-timestamp
    /// offset. 0 when no record was walked.
    pub max_timestamp_index: u32,
}

/// Iterator over the records of one batch, yielding errors for malformed
/// records. It stops after the first error.
#[derive(Debug)]
pub struct RecordIter {
    buf: Bytes,
    position: usize,
    index: u32,
    declared_count: i32,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
    finished: bool,
}

impl RecordIter {
    pub(crate) fn new(
        buf: Bytes,
        declared_count: i32,
        base_offset: i64,
        base_timestamp: i64,
        log_append_time: Option<i64>,
    ) -> Self {
        RecordIter {
            buf,
            position: 0,
            index: 0,
            declared_count,
            base_offset,
            base_timestamp,
            log_append_time,
            finished: false,
        }
    }

    /// Bytes of (decompressed) records not yet read.
    pub fn remaining_bytes(&self) -> usize {
        self.buf.len() - self.position
    }

    /// Walks every remaining record as [`Iterator::next`] would, checking
    /// framing, the declared count and that offset deltas run 0, 1, 2, ...,
    /// without slicing out keys, values or headers (a broker validating a
    /// produce needs no record, only the proof that each one decodes).
    ///
    /// # Errors
    /// The first malformed record, or a count that disagrees with the bytes.
    pub fn check_remaining(mut self) -> Result<CheckedRecords, BatchError> {
        // The largest timestamp delta so far and the index of its first record.
        let mut first_max = (i64::MIN, 0);
        while let Some((offset_delta, timestamp_delta)) =
            self.step(|_, cursor| skip_record(cursor))?
        {
            let index = self.index - 1;
            if offset_delta != i64::from(index) {
                return Err(BatchError::InvalidRecord {
                    index,
                    reason: "offset deltas are not consecutive from 0",
                });
            }
            if timestamp_delta > first_max.0 {
                first_max = (timestamp_delta, index);
            }
        }
        Ok(CheckedRecords {
            count: self.index,
            max_timestamp_index: first_max.1,
        })
    }

    fn next_record(&mut self) -> Result<Option<Record>, BatchError> {
        self.step(Self::read_record)
    }

    /// Reads the next record with `read`, checking it against the declared
    /// count and the bytes left; `None` once every record has been read.
    fn step<T>(
        &mut self,
        read: impl FnOnce(&Self, &mut Cursor<'_>) -> Result<T, &'static str>,
    ) -> Result<Option<T>, BatchError> {
        let declared = self.declared_count;
        if i64::from(self.index) >= i64::from(declared) {
            if self.position < self.buf.len() {
                return Err(BatchError::RecordCountMismatch {
                    declared,
                    reason: "bytes remain after the last record",
                });
            }
            return Ok(None);
        }
        if self.position >= self.buf.len() {
            return Err(BatchError::RecordCountMismatch {
                declared,
                reason: "the records end before the count is reached",
            });
        }
        let mut cursor = Cursor::new(&self.buf, self.position);
        let record = read(self, &mut cursor).map_err(|reason| BatchError::InvalidRecord {
            index: self.index,
            reason,
        })?;
        self.position = cursor.position;
        self.index += 1;
        Ok(Some(record))
    }

    fn read_record(&self, cursor: &mut Cursor<'_>) -> Result<Record, &'static str> {
        let mut body = record_body(cursor)?;
        let record = self.read_body(&mut body)?;
        finish_record(cursor, &body)?;
        Ok(record)
    }

    fn read_body(&self, body: &mut Cursor<'_>) -> Result<Record, &'static str> {
        body.skip(1)?; // record attributes: unused by Kafka so far
        let timestamp_delta = body.varlong()?;
        let offset_delta = i64::from(body.varint()?);
        let key = body.nullable_bytes()?;
        let value = body.nullable_bytes()?;
        let headers = read_headers(body)?;
        let timestamp = self
            .log_append_time
            .unwrap_or_else(|| self.base_timestamp.wrapping_add(timestamp_delta));
        Ok(Record {
            offset: self.base_offset.wrapping_add(offset_delta),
            offset_delta,
            timestamp,
            key,
            value,
            headers,
        })
    }
}

impl Iterator for RecordIter {
    type Item = Result<Record, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let result = self.next_record();
        if !matches!(result, Ok(Some(_))) {
            self.finished = true;
        }
        result.transpose()
    }
}

/// Skips one record at `cursor` with the checks of [`RecordIter`]'s
/// reading; returns its offset delta and timestamp delta.
fn skip_record(cursor: &mut Cursor<'_>) -> Result<(i64, i64), &'static str> {
    let mut body = record_body(cursor)?;
    body.skip(1)?; // record attributes
    let timestamp_delta = body.varlong()?;
    let offset_delta = i64::from(body.varint()?);
    body.skip_nullable_bytes()?; // key
    body.skip_nullable_bytes()?; // value
    let headers = header_count(&mut body)?;
    for _ in 0..headers {
        let key_length = body.varint()?;
        let key_length = usize::try_from(key_length).map_err(|_| "null or negative header key")?;
        body.skip(key_length)?;
        body.skip_nullable_bytes()?;
    }
    finish_record(cursor, &body)?;
    Ok((offset_delta, timestamp_delta))
}

/// Reads a record's length prefix at `cursor`; a cursor over its body.
fn record_body<'a>(cursor: &mut Cursor<'a>) -> Result<Cursor<'a>, &'static str> {
    let length = cursor.varint()?;
    let length = usize::try_from(length).map_err(|_| "negative record length")?;
    let end = cursor
        .position
        .checked_add(length)
        .filter(|&end| end <= cursor.buf.len())
        .ok_or("record length runs past the records")?;
    Ok(Cursor {
        buf: cursor.buf,
        position: cursor.position,
        end,
    })
}

/// Moves `cursor` past a record once its fields were read from `body`,
/// which they must fill exactly.
fn finish_record(cursor: &mut Cursor<'_>, body: &Cursor<'_>) -> Result<(), &'static str> {
    if body.position != body.end {
        return Err("record length disagrees with its fields");
    }
    cursor.position = body.end;
    Ok(())
}

/// Reads a record's header count, refusing one its remaining bytes cannot
/// hold (each header takes at least two bytes) before anything loops on it.
fn header_count(body: &mut Cursor<'_>) -> Result<usize, &'static str> {
    let count = body.varint()?;
    let count = usize::try_from(count).map_err(|_| "negative header count")?;
    if count > (body.end - body.position) / MIN_HEADER_BYTES {
        return Err("header count exceeds the record");
    }
    Ok(count)
}

fn read_headers(body: &mut Cursor<'_>) -> Result<RecordHeaders, &'static str> {
    let count = header_count(body)?;
    if count == 0 {
        return Ok(RecordHeaders::default());
    }
    let start = body.position;
    for _ in 0..count {
        read_header(body)?;
    }
    Ok(RecordHeaders {
        buf: body.buf.slice(start..body.position),
        count,
    })
}

fn read_header(cursor: &mut Cursor<'_>) -> Result<Header, &'static str> {
    let key_length = cursor.varint()?;
    let key_length = usize::try_from(key_length).map_err(|_| "null or negative header key")?;
    let key = cursor.take(key_length)?;
    let value = cursor.nullable_bytes()?;
    Ok(Header { key, value })
}

/// The smallest encoding of one record header: a key length and a value
/// length of one byte each (an empty key and a null value).
const MIN_HEADER_BYTES: usize = 2;

/// Reads fields from a `Bytes` without copying, bounded by `end`.
struct Cursor<'a> {
    buf: &'a Bytes,
    position: usize,
    end: usize,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a Bytes, position: usize) -> Self {
        Cursor {
            buf,
            position,
            end: buf.len(),
        }
    }

    fn rest(&self) -> &[u8] {
        &self.buf[self.position..self.end]
    }

    fn varint(&mut self) -> Result<i32, &'static str> {
        let (value, used) = read_varint(self.rest()).map_err(varint_reason)?;
        self.position += used;
        Ok(value)
    }

    fn varlong(&mut self) -> Result<i64, &'static str> {
        let (value, used) = read_varlong(self.rest()).map_err(varint_reason)?;
        self.position += used;
        Ok(value)
    }

    fn skip(&mut self, length: usize) -> Result<(), &'static str> {
        if length > self.end - self.position {
            return Err("field runs past the record");
        }
        self.position += length;
        Ok(())
    }

    fn take(&mut self, length: usize) -> Result<Bytes, &'static str> {
        if length > self.end - self.position {
            return Err("field runs past the record");
        }
        let bytes = self.buf.slice(self.position..self.position + length);
        self.position += length;
        Ok(bytes)
    }

    fn skip_nullable_bytes(&mut self) -> Result<(), &'static str> {
        match self.varint()? {
            -1 => Ok(()),
            length => {
                let length = usize::try_from(length).map_err(|_| "negative field length")?;
                self.skip(length)
            }
        }
    }

    fn nullable_bytes(&mut self) -> Result<Option<Bytes>, &'static str> {
        match self.varint()? {
            -1 => Ok(None),
            length => {
                let length = usize::try_from(length).map_err(|_| "negative field length")?;
                self.take(length).map(Some)
            }
        }
    }
}

fn varint_reason(error: VarintError) -> &'static str {
    match error {
        VarintError::Truncated => "truncated varint",
        VarintError::TooLong => "varint too long",
    }
}

//! Walking the records inside an uncompressed batch: just enough to check offset
//! deltas and find record timestamps, without copying anything.
//!
//! Each record is `length: varint` then `length` bytes: attributes i8,
//! timestampDelta varlong, offsetDelta varint, key, value, headers. Varints are
//! zig-zag encoded as in protobuf.

use crate::batch::{BatchHeader, Defect};

/// Reads a zig-zag varint of at most `max_bytes` bytes at `buf[*at..]`.
fn read_varint(buf: &[u8], at: &mut usize, max_bytes: usize) -> Option<i64> {
    let mut raw: u64 = 0;
    for i in 0..max_bytes {
        let byte = *buf.get(*at)?;
        *at += 1;
        raw |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(((raw >> 1) as i64) ^ -((raw & 1) as i64));
        }
    }
    None
}

/// The start of one record: where its body ends and its two deltas.
struct RecordStart {
    end: usize,
    timestamp_delta: i64,
    offset_delta: i64,
}

fn read_record_start(records: &[u8], at: &mut usize) -> Option<RecordStart> {
    let length = read_varint(records, at, 5)?;
    let length = usize::try_from(length).ok()?;
    let end = at.checked_add(length).filter(|end| *end <= records.len())?;
    let mut cursor = *at + 1; // attributes
    let timestamp_delta = read_varint(&records[..end], &mut cursor, 10)?;
    let offset_delta = read_varint(&records[..end], &mut cursor, 5)?;
    *at = end;
    Some(RecordStart {
        end,
        timestamp_delta,
        offset_delta,
    })
}

/// Checks that the records of an uncompressed batch have offset deltas 0, 1, ...
/// and exactly fill the batch. Returns the offset delta of the first record with
/// the batch's largest timestamp (what ListOffsets -3 reports).
pub(crate) fn check_records(records: &[u8], header: &BatchHeader) -> Result<i32, Defect> {
    let mut at = 0;
    let mut best = (i64::MIN, 0i32);
    for expected in 0..header.record_count {
        let record = read_record_start(records, &mut at).ok_or(Defect::MalformedRecords)?;
        if record.offset_delta != i64::from(expected) {
            return Err(Defect::BadOffsetDeltas);
        }
        if record.timestamp_delta > best.0 {
            best = (record.timestamp_delta, expected);
        }
        debug_assert_eq!(record.end, at);
    }
    if at != records.len() {
        return Err(Defect::MalformedRecords);
    }
    Ok(best.1)
}

/// The first record whose timestamp is `>= target_ms`, as `(timestamp, offset
/// delta)`. Timestamps of a LogAppendTime batch are all its maxTimestamp.
pub(crate) fn first_at_or_after(
    records: &[u8],
    header: &BatchHeader,
    target_ms: i64,
) -> Option<(i64, i32)> {
    let log_append_time = header.attributes & 0x08 != 0;
    if log_append_time {
        return (header.max_timestamp >= target_ms).then_some((header.max_timestamp, 0));
    }
    let mut at = 0;
    for _ in 0..header.record_count {
        let record = read_record_start(records, &mut at)?;
        let timestamp = header.base_timestamp.saturating_add(record.timestamp_delta);
        if timestamp >= target_ms {
            return i32::try_from(record.offset_delta)
                .ok()
                .map(|delta| (timestamp, delta));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_decodes_zig_zag_values() {
        let mut at = 0;
        assert_eq!(read_varint(&[0x01], &mut at, 5), Some(-1));
        at = 0;
        assert_eq!(read_varint(&[0xac, 0x02], &mut at, 5), Some(150));
        at = 0;
        assert_eq!(read_varint(&[0x80, 0x80], &mut at, 5), None);
    }
}

//! ListOffsets lookups on a [`Log`]: by timestamp, and the largest timestamp.

use crate::batch;
use crate::error::StorageError;
use crate::log::Log;
use crate::records;

/// A (timestamp, offset) answer for ListOffsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampOffset {
    /// The record's timestamp (a compressed batch reports its max timestamp).
    pub timestamp: i64,
    /// The record's offset.
    pub offset: i64,
}

impl Log {
    /// The earliest record whose timestamp is at or after `timestamp_ms`
    /// (ListOffsets by time), or `None` when every record is older.
    ///
    /// # Errors
    /// Reserved for I/O; the lookup itself reads only mapped memory.
    pub fn offset_for_timestamp(
        &self,
        timestamp_ms: i64,
    ) -> Result<Option<TimestampOffset>, StorageError> {
        for segment in self.segments.values() {
            if segment.next_offset <= self.log_start_offset || segment.max_timestamp < timestamp_ms
            {
                continue;
            }
            let hint = segment.base_offset + i64::from(segment.time_index.lookup(timestamp_ms));
            let Some(mut position) = segment.position_of(hint.max(self.log_start_offset)) else {
                continue;
            };
            let data = segment.data();
            while let Some(header) = batch::header_within(data, position as usize) {
                if header.max_timestamp >= timestamp_ms {
                    let batch = &data[position as usize..position as usize + header.size()];
                    let found = if header.is_compressed() {
                        None
                    } else {
                        records::first_at_or_after(
                            &batch[batch::HEADER_LEN..],
                            &header,
                            timestamp_ms,
                        )
                    };
                    let (timestamp, offset) = found
                        .map_or((header.max_timestamp, header.base_offset), |(t, delta)| {
                            (t, header.base_offset + i64::from(delta))
                        });
                    return Ok(Some(TimestampOffset {
                        timestamp,
                        offset: offset.max(self.log_start_offset),
                    }));
                }
                position += header.size() as u64;
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp (ListOffsets `-3`), the earliest
    /// one on ties; `None` for an empty log.
    ///
    /// # Errors
    /// Reserved for I/O; the answer comes from memory.
    pub fn max_timestamp(&self) -> Result<Option<TimestampOffset>, StorageError> {
        let mut best: Option<TimestampOffset> = None;
        for segment in self
            .segments
            .values()
            .filter(|s| s.max_timestamp >= 0 && s.next_offset > self.log_start_offset)
        {
            if best.is_none_or(|b| segment.max_timestamp > b.timestamp) {
                best = Some(TimestampOffset {
                    timestamp: segment.max_timestamp,
                    offset: segment.offset_of_max_timestamp.max(self.log_start_offset),
                });
            }
        }
        Ok(best)
    }
}

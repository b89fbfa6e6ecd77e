//! Fetched data waiting to be returned by `poll` (sans-IO): each partition's
//! record batches, drained record by record into [`ConsumerRecord`]s while
//! advancing that partition's position. Data that no longer matches the
//! position (after a seek, a revocation or a pause) is dropped unread.

use std::collections::{BTreeSet, VecDeque};

use bytes::Bytes;
use sluice_protocol::{RecordBatches, RecordIter};

use crate::error::{ConsumerError, Result};
use crate::partition::TopicPartition;
use crate::positions::{Position, Positions};
use crate::record::ConsumerRecord;

/// The most records a drain allocates room for before it knows how many
/// the buffer holds.
const PREALLOCATED_RECORDS: usize = 4096;

/// How batches are checked and decompressed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DrainLimits {
    /// Bound on one batch's decompressed records.
    pub(crate) max_decompressed_batch_bytes: usize,
    /// Verify CRC-32C before reading.
    pub(crate) check_crcs: bool,
}

/// One partition's fetched records.
#[derive(Debug)]
struct CompletedFetch {
    partition: TopicPartition,
    /// The position this data continues from; must equal the partition's position.
    next_position: i64,
    batches: RecordBatches,
    /// The records of the batch being read, and the offset after that batch.
    current: Option<(RecordIter, i64)>,
}

/// The fetched, not yet returned data of all partitions, in arrival order.
#[derive(Debug, Default)]
pub(crate) struct FetchBuffer {
    completed: VecDeque<CompletedFetch>,
}

impl FetchBuffer {
    /// Queues `records` fetched for `partition` from `fetch_offset`.
    pub(crate) fn push(&mut self, partition: TopicPartition, fetch_offset: i64, records: Bytes) {
        self.completed.push_back(CompletedFetch {
            partition,
            next_position: fetch_offset,
            batches: RecordBatches::new(records),
            current: None,
        });
    }

    /// Partitions with data queued (not to be fetched again until drained).
    pub(crate) fn partitions(&self) -> BTreeSet<TopicPartition> {
        self.completed.iter().map(|c| c.partition.clone()).collect()
    }

    /// Whether nothing is queued.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.completed.is_empty()
    }

    /// Forgets data of partitions no longer assigned.
    pub(crate) fn retain_assigned(&mut self, positions: &Positions) {
        self.completed
            .retain(|c| positions.is_assigned(&c.partition));
    }

    /// Returns up to `max_records` records, advancing positions.
    ///
    /// # Errors
    /// [`ConsumerError::CorruptBatch`]; the partition's data is dropped and
    /// its position stays at the bad batch.
    pub(crate) fn drain(
        &mut self,
        positions: &mut Positions,
        max_records: usize,
        limits: DrainLimits,
    ) -> Result<Vec<ConsumerRecord>> {
        if self.completed.is_empty() {
            return Ok(Vec::new());
        }
        // Room for a full poll up front (bounded: `max.poll.records` may be
        // huge), rather than regrowing record by record.
        let mut out = Vec::with_capacity(max_records.min(PREALLOCATED_RECORDS));
        while out.len() < max_records {
            let Some(fetch) = self.completed.front_mut() else {
                break;
            };
            let current = positions.position(&fetch.partition);
            let exhausted = if current != Some(fetch.next_position)
                || positions.is_paused(&fetch.partition)
            {
                true
            } else {
                let drained = fetch.drain(max_records - out.len(), limits, &mut out);
                // Position only moves forward through data we returned or skipped.
                positions.update_if_assigned(&fetch.partition, Position::At(fetch.next_position));
                match drained {
                    Ok(exhausted) => exhausted,
                    Err(error) => {
                        self.completed.pop_front();
                        return Err(error);
                    }
                }
            };
            if exhausted {
                self.completed.pop_front();
            }
        }
        Ok(out)
    }
}

impl CompletedFetch {
    /// Moves up to `max` records into `out`; `Ok(true)` once no data is left.
    fn drain(
        &mut self,
        max: usize,
        limits: DrainLimits,
        out: &mut Vec<ConsumerRecord>,
    ) -> Result<bool> {
        let mut taken = 0;
        while taken < max {
            if self.current.is_none() && !self.open_next_batch(limits)? {
                return Ok(true);
            }
            let Some((records, batch_end)) = self.current.as_mut() else {
                continue;
            };
            match records.next() {
                Some(Ok(record)) => {
                    if record.offset < self.next_position {
                        continue; // compressed batches start before the fetch offset
                    }
                    self.next_position = record.offset + 1;
                    out.push(ConsumerRecord {
                        partition: self.partition.clone(),
                        offset: record.offset,
                        timestamp_ms: record.timestamp,
                        key: record.key,
                        value: record.value,
                        headers: record.headers,
                    });
                    taken += 1;
                }
                Some(Err(source)) => return Err(self.corrupt(source)),
                None => {
                    self.next_position = self.next_position.max(*batch_end);
                    self.current = None;
                }
            }
        }
        Ok(false)
    }

    /// Opens the next batch with records at or after the position, skipping
    /// control batches; `Ok(false)` when there is none.
    fn open_next_batch(&mut self, limits: DrainLimits) -> Result<bool> {
        while let Some(batch) = self.batches.next() {
            let batch = batch.map_err(|source| self.corrupt(source))?;
            if batch.next_offset() <= self.next_position {
                continue;
            }
            if limits.check_crcs {
                batch.verify_crc().map_err(|source| self.corrupt(source))?;
            }
            if batch.is_control() {
                self.next_position = batch.next_offset();
                continue;
            }
            let records = batch
                .records(limits.max_decompressed_batch_bytes)
                .map_err(|source| self.corrupt(source))?;
            self.current = Some((records, batch.next_offset()));
            return Ok(true);
        }
        Ok(false)
    }

    fn corrupt(&self, source: sluice_protocol::BatchError) -> ConsumerError {
        ConsumerError::CorruptBatch {
            partition: self.partition.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use sluice_protocol::{BatchBuilder, Compression};

    use super::*;

    const LIMITS: DrainLimits = DrainLimits {
        max_decompressed_batch_bytes: 1 << 20,
        check_crcs: true,
    };

    fn batch(base_offset: i64, count: usize, compression: Compression) -> Bytes {
        let mut builder = BatchBuilder::new(compression, 1 << 20);
        for i in 0..count {
            assert!(builder.append(1_000, None, Some(format!("v{i}").as_bytes()), &[]));
        }
        let bytes = builder.build().unwrap_or_default();
        let mut view = sluice_protocol::RecordBatchView::parse(bytes).ok();
        if let Some(view) = view.as_mut() {
            view.assign_offsets(base_offset, 0);
        }
        view.map(sluice_protocol::RecordBatchView::into_bytes)
            .unwrap_or_default()
    }

    fn setup(position: i64) -> (Positions, TopicPartition) {
        let tp = TopicPartition::new("t", 0);
        let mut positions = Positions::default();
        positions.add(std::slice::from_ref(&tp), Position::At(position));
        (positions, tp)
    }

    #[test]
    fn records_are_returned_in_order_and_advance_the_position() {
        let (mut positions, tp) = setup(0);
        let mut buffer = FetchBuffer::default();
        buffer.push(tp.clone(), 0, batch(0, 3, Compression::None));
        let records = buffer.drain(&mut positions, 10, LIMITS).unwrap_or_default();
        assert_eq!(
            records.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert_eq!(positions.position(&tp), Some(3));
        assert!(buffer.is_empty());
    }

    #[test]
    fn records_before_the_fetch_offset_in_a_compressed_batch_are_skipped() {
        let (mut positions, tp) = setup(12);
        let mut buffer = FetchBuffer::default();
        buffer.push(tp.clone(), 12, batch(10, 5, Compression::Lz4));
        let records = buffer.drain(&mut positions, 10, LIMITS).unwrap_or_default();
        assert_eq!(
            records.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![12, 13, 14]
        );
    }

    #[test]
    fn max_records_splits_a_batch_across_polls() {
        let (mut positions, tp) = setup(0);
        let mut buffer = FetchBuffer::default();
        let mut both = BytesMut::new();
        both.extend_from_slice(&batch(0, 3, Compression::None));
        both.extend_from_slice(&batch(3, 3, Compression::Gzip));
        buffer.push(tp.clone(), 0, both.freeze());
        let first = buffer.drain(&mut positions, 4, LIMITS).unwrap_or_default();
        let second = buffer.drain(&mut positions, 4, LIMITS).unwrap_or_default();
        assert_eq!(first.len(), 4);
        assert_eq!(
            second.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![4, 5]
        );
        assert_eq!(positions.position(&tp), Some(6));
    }

    #[test]
    fn data_is_dropped_after_a_seek() {
        let (mut positions, tp) = setup(0);
        let mut buffer = FetchBuffer::default();
        buffer.push(tp.clone(), 0, batch(0, 3, Compression::None));
        assert!(positions.set(&tp, Position::At(100)).is_ok());
        assert!(
            buffer
                .drain(&mut positions, 10, LIMITS)
                .unwrap_or_default()
                .is_empty()
        );
        assert_eq!(positions.position(&tp), Some(100));
        assert!(buffer.is_empty());
    }

    #[test]
    fn a_corrupt_batch_is_an_error_and_keeps_the_position() {
        let (mut positions, tp) = setup(0);
        let mut bytes = BytesMut::from(&batch(0, 2, Compression::None)[..]);
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let mut buffer = FetchBuffer::default();
        buffer.push(tp.clone(), 0, bytes.freeze());
        assert!(matches!(
            buffer.drain(&mut positions, 10, LIMITS),
            Err(ConsumerError::CorruptBatch { .. })
        ));
        assert_eq!(positions.position(&tp), Some(0));
    }

    fn codec(index: u8) -> Compression {
        match index % 5 {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            _ => Compression::Zstd,
        }
    }

    proptest::proptest! {
        #[test]
        fn any_chunking_returns_each_offset_once_in_order(
            batches in proptest::collection::vec((1usize..20, 0u8..5), 1..6),
            start in 0i64..10,
            chunk in 1usize..30,
        ) {
            let mut bytes = BytesMut::new();
            let mut base = 0;
            for (count, codec_index) in &batches {
                bytes.extend_from_slice(&batch(base, *count, codec(*codec_index)));
                base += *count as i64;
            }
            let start = start.min(base - 1);
            let (mut positions, tp) = setup(start);
            let mut buffer = FetchBuffer::default();
            buffer.push(tp.clone(), start, bytes.freeze());
            let mut offsets = Vec::new();
            while !buffer.is_empty() {
                let records = buffer.drain(&mut positions, chunk, LIMITS).unwrap_or_default();
                proptest::prop_assert!(records.len() <= chunk);
                offsets.extend(records.iter().map(|r| r.offset));
            }
            proptest::prop_assert_eq!(offsets, (start..base).collect::<Vec<_>>());
            proptest::prop_assert_eq!(positions.position(&tp), Some(base));
        }
    }
}

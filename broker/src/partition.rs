//! One partition this node leads: its log and its idempotent-producer state.
//!
//! The log and the producer table sit behind one std `Mutex` so that the
//! sequence check and the append are atomic; no `.await` ever happens while it
//! is held. The slot is `None` once the partition was deleted or the broker
//! shut down, so late requests get UNKNOWN_TOPIC_OR_PARTITION instead of
//! touching a closed log.

use std::sync::{Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use sluice_protocol::{ErrorCode, RecordBatches};
use sluice_storage::{Log, StorageError, TopicPartition, VerifiedBatch};

use crate::producer_state::{BatchOffsets, ProducerStateTable, SequenceCheck};
use crate::validation::ValidatedBatch;

/// Leader epoch written into appended batches; a single node never changes leader.
pub const LEADER_EPOCH: i32 = 0;

/// How many bytes one read takes while rebuilding producer state at startup.
const REBUILD_READ_BYTES: usize = 1 << 20;

/// The mutable state of an open partition.
#[derive(Debug)]
pub struct PartitionState {
    /// The partition's log.
    pub log: Log,
    /// Sequence state of idempotent producers writing here.
    pub producers: ProducerStateTable,
}

/// Where an append (or its retried duplicate) landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Offset of the first record appended.
    pub base_offset: i64,
    /// `LogAppendTime` of the append, or -1 under `CreateTime`.
    pub log_append_time_ms: i64,
    /// The log start offset after the append.
    pub log_start_offset: i64,
}

/// What a fetch of one partition read.
#[derive(Debug, Clone, Default)]
pub struct ReadOutcome {
    /// Record batches, or empty when nothing is available.
    pub records: Bytes,
    /// The high watermark at the time of the read.
    pub high_watermark: i64,
    /// The log start offset at the time of the read.
    pub log_start_offset: i64,
}

/// An open partition.
#[derive(Debug)]
pub struct Partition {
    topic_partition: TopicPartition,
    state: Mutex<Option<PartitionState>>,
}

/// Maps a storage failure to the code a client sees.
pub fn storage_error_code(error: &StorageError) -> ErrorCode {
    ErrorCode::from_code(error.kafka_error_code())
}

impl Partition {
    /// Wraps an open log, rebuilding idempotent-producer state from it.
    ///
    /// Returns the partition and the largest producer id found in the log.
    ///
    /// # Errors
    /// [`StorageError`] when the log cannot be read.
    pub fn open(
        topic_partition: TopicPartition,
        mut log: Log,
    ) -> Result<(Self, i64), StorageError> {
        // One node: everything in the log was acknowledged, so HW = LEO.
        let end = log.log_end_offset();
        log.set_high_watermark(end);
        let (producers, max_producer_id) = rebuild_producer_state(&log)?;
        let partition = Self {
            topic_partition,
            state: Mutex::new(Some(PartitionState { log, producers })),
        };
        Ok((partition, max_producer_id))
    }

    /// Which partition this is.
    pub fn topic_partition(&self) -> &TopicPartition {
        &self.topic_partition
    }

    fn lock(&self) -> MutexGuard<'_, Option<PartitionState>> {
        // A panic while holding the lock cannot leave the log half-written
        // (storage appends are all-or-nothing), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the open state.
    ///
    /// # Errors
    /// UNKNOWN_TOPIC_OR_PARTITION when the partition was closed, or `f`'s error.
    pub fn with_state<T>(
        &self,
        f: impl FnOnce(&mut PartitionState) -> Result<T, ErrorCode>,
    ) -> Result<T, ErrorCode> {
        let mut guard = self.lock();
        let state = guard.as_mut().ok_or(ErrorCode::UnknownTopicOrPartition)?;
        f(state)
    }

    /// Takes the log out (for deletion or shutdown); later calls see a closed partition.
    pub fn take(&self) -> Option<PartitionState> {
        self.lock().take()
    }

    /// Appends validated batches, unless they are a retry of batches already
    /// written, in which case the original offsets are returned.
    ///
    /// # Errors
    /// OUT_OF_ORDER_SEQUENCE_NUMBER / INVALID_PRODUCER_EPOCH from the sequence
    /// check, or the storage error's code.
    pub fn append(
        &self,
        records: &Bytes,
        batches: &[ValidatedBatch],
        now_ms: i64,
    ) -> Result<AppendOutcome, ErrorCode> {
        // `validate_records` checked every record and CRC: the log checks
        // only the headers.
        let verified: Vec<VerifiedBatch> = batches
            .iter()
            .map(|batch| VerifiedBatch {
                max_timestamp_offset_delta: batch.max_timestamp_offset_delta,
            })
            .collect();
        self.with_state(|state| {
            for sequence in batches.iter().filter_map(|b| b.sequence.as_ref()) {
                match state.producers.check(sequence) {
                    SequenceCheck::Append => {}
                    SequenceCheck::Duplicate(offsets) => {
                        return Ok(AppendOutcome {
                            base_offset: offsets.base_offset,
                            log_append_time_ms: -1,
                            log_start_offset: state.log.log_start_offset(),
                        });
                    }
                    SequenceCheck::Reject(code) => return Err(code),
                }
            }
            let mut buffer = BytesMut::from(&records[..]);
            let info = state
                .log
                .append_verified(&mut buffer, &verified, LEADER_EPOCH, now_ms)
                .map_err(|e| storage_error_code(&e))?;
            let end = state.log.log_end_offset();
            state.log.set_high_watermark(end);
            record_sequences(
                &mut state.producers,
                batches,
                info.base_offset,
                info.log_append_time,
            );
            Ok(AppendOutcome {
                base_offset: info.base_offset,
                log_append_time_ms: info.log_append_time,
                log_start_offset: state.log.log_start_offset(),
            })
        })
    }

    /// Reads from `fetch_offset` up to `max_bytes`, below the high watermark.
    ///
    /// # Errors
    /// OFFSET_OUT_OF_RANGE when `fetch_offset` is outside
    /// `[log_start_offset, log_end_offset]`, or the storage error's code.
    pub fn read(&self, fetch_offset: i64, max_bytes: usize) -> Result<ReadOutcome, ErrorCode> {
        self.with_state(|state| {
            let log = &state.log;
            let (start, end) = (log.log_start_offset(), log.log_end_offset());
            if fetch_offset < start || fetch_offset > end {
                return Err(ErrorCode::OffsetOutOfRange);
            }
            let high_watermark = log.high_watermark();
            let records = if fetch_offset < high_watermark && max_bytes > 0 {
                let slice = log
                    .read(fetch_offset, max_bytes, high_watermark)
                    .map_err(|e| storage_error_code(&e))?;
                concat(slice.chunks())
            } else {
                Bytes::new()
            };
            Ok(ReadOutcome {
                records,
                high_watermark,
                log_start_offset: start,
            })
        })
    }
}

/// Remembers the sequences of appended batches; `log_append_time_ms` is the
/// timestamp the log wrote into them under `LogAppendTime`, -1 otherwise.
fn record_sequences(
    producers: &mut ProducerStateTable,
    batches: &[ValidatedBatch],
    base: i64,
    log_append_time_ms: i64,
) {
    let mut next_offset = base;
    for batch in batches {
        let offsets = BatchOffsets {
            base_offset: next_offset,
            last_offset: next_offset + batch.offset_count - 1,
        };
        if let Some(sequence) = &batch.sequence {
            let max_timestamp = if log_append_time_ms >= 0 {
                log_append_time_ms
            } else {
                batch.max_timestamp
            };
            producers.record(sequence, offsets, max_timestamp);
        }
        next_offset += batch.offset_count;
    }
}

/// Joins the chunks of a read; one chunk is passed on without copying.
fn concat(chunks: &[Bytes]) -> Bytes {
    match chunks {
        [] => Bytes::new(),
        [one] => one.clone(),
        many => {
            let mut joined = BytesMut::with_capacity(many.iter().map(Bytes::len).sum());
            for chunk in many {
                joined.extend_from_slice(chunk);
            }
            joined.freeze()
        }
    }
}

/// Replays the log's batch headers to rebuild idempotent-producer state, so a
/// retry that arrives after a restart is still recognised.
fn rebuild_producer_state(log: &Log) -> Result<(ProducerStateTable, i64), StorageError> {
    let mut producers = ProducerStateTable::new();
    let mut max_producer_id = -1;
    let end = log.log_end_offset();
    let mut offset = log.log_start_offset();
    while offset < end {
        let slice = log.read(offset, REBUILD_READ_BYTES, end)?;
        let before = offset;
        for chunk in slice.chunks() {
            for batch in RecordBatches::new(chunk.clone()) {
                let Ok(batch) = batch else { break };
                if batch.producer_id() >= 0 && batch.base_sequence() >= 0 {
                    max_producer_id = max_producer_id.max(batch.producer_id());
                    let sequence = crate::producer_state::BatchSequence {
                        producer_id: batch.producer_id(),
                        producer_epoch: batch.producer_epoch(),
                        first_sequence: batch.base_sequence(),
                        last_sequence: batch.last_sequence(),
                    };
                    let offsets = BatchOffsets {
                        base_offset: batch.base_offset(),
                        last_offset: batch.last_offset(),
                    };
                    producers.record(&sequence, offsets, batch.max_timestamp());
                }
                offset = offset.max(batch.next_offset());
            }
        }
        if offset == before {
            // Nothing readable moved us forward; stop rather than spin.
            break;
        }
    }
    Ok((producers, max_producer_id))
}

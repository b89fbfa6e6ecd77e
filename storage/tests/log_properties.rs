//! Property test: random appends, reads, rolls, truncations, DeleteRecords,
//! retention and reopens (clean and unclean) against a simple model of the log.
//! After every step the log must hold exactly the model's batches
//! (invariant 1: dense offsets; invariant 2/3: reopen keeps the prefix; invariant
//! 4: bytes held by readers never change; invariant 5: retention only below the
//! high watermark and the log start only moves forward).

use proptest::prelude::*;
use sluice_storage::testing::{batch_offsets, batch_with_values, small_config};
use sluice_storage::{FetchSlice, Log, LogConfig};

#[derive(Debug, Clone)]
enum Op {
    Append { batches: Vec<(i32, usize)> },
    Read { at: f64, max_bytes: usize },
    SetHighWatermark { at: f64 },
    Truncate { at: f64 },
    DeleteRecords { at: f64 },
    Retention { retention_bytes: i64 },
    Flush,
    Reopen { clean: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec((1i32..6, 0usize..120), 1..4).prop_map(|batches| Op::Append { batches }),
        3 => (0.0f64..1.0, 1usize..2000).prop_map(|(at, max_bytes)| Op::Read { at, max_bytes }),
        2 => (0.0f64..=1.0).prop_map(|at| Op::SetHighWatermark { at }),
        1 => (0.0f64..1.0).prop_map(|at| Op::Truncate { at }),
        1 => (0.0f64..=1.0).prop_map(|at| Op::DeleteRecords { at }),
        1 => (0i64..3000).prop_map(|retention_bytes| Op::Retention { retention_bytes }),
        1 => Just(Op::Flush),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
    ]
}

/// The model: every batch still in the log, with its bytes after offsets were assigned.
#[derive(Default)]
struct Model {
    batches: Vec<(i64, i64, Vec<u8>)>,
    next_offset: i64,
}

impl Model {
    fn pick(&self, start: i64, at: f64) -> i64 {
        start + ((self.next_offset - start) as f64 * at) as i64
    }

    fn bytes_from(&self, offset: i64) -> Vec<u8> {
        self.batches
            .iter()
            .filter(|(_, last, _)| *last >= offset)
            .flat_map(|(_, _, b)| b.clone())
            .collect()
    }
}

fn concat(slice: &FetchSlice) -> Vec<u8> {
    slice.chunks().iter().flat_map(|c| c.to_vec()).collect()
}

/// Small segments, an index entry for most batches and index growth steps of a
/// single entry, so lookups run across many growth steps of the indexes.
fn config() -> LogConfig {
    LogConfig {
        retention_ms: -1,
        index_interval_bytes: 100,
        index_preallocate_step_bytes: 8,
        ..small_config()
    }
}

fn check(log: &Log, model: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(log.log_end_offset(), model.next_offset, "log end offset");
    let all = log
        .read(log.log_start_offset(), usize::MAX, i64::MAX)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let bytes = concat(&all);
    let offsets = batch_offsets(&bytes);
    prop_assert!(
        offsets.windows(2).all(|w| w[1].0 == w[0].1 + 1),
        "invariant 1: offsets dense: {:?}",
        offsets
    );
    prop_assert!(
        bytes == model.bytes_from(log.log_start_offset()),
        "log content equals the model"
    );
    prop_assert!(log.high_watermark() <= log.log_end_offset());
    prop_assert!(log.log_start_offset() <= log.high_watermark().max(log.log_start_offset()));
    Ok(())
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let fail = |e: sluice_storage::StorageError| TestCaseError::fail(e.to_string());
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut log = Some(Log::open(dir.path(), config()).map_err(fail)?);
    let mut model = Model::default();
    let mut held: Vec<(FetchSlice, Vec<u8>)> = Vec::new();
    let mut now_ms = 1_000;
    for op in ops {
        let current = log
            .as_mut()
            .ok_or_else(|| TestCaseError::fail("log missing"))?;
        now_ms += 7;
        match op {
            Op::Append { batches } => {
                let mut buffer = Vec::new();
                for (records, value_len) in &batches {
                    buffer.extend(batch_with_values(0, *records, now_ms, *value_len));
                }
                let info = current.append(&mut buffer, 3, now_ms).map_err(fail)?;
                prop_assert_eq!(
                    info.base_offset,
                    model.next_offset,
                    "invariant 1: appended at the log end"
                );
                let mut at = 0;
                for (base, last) in batch_offsets(&buffer) {
                    let size = 12
                        + i32::from_be_bytes([
                            buffer[at + 8],
                            buffer[at + 9],
                            buffer[at + 10],
                            buffer[at + 11],
                        ]) as usize;
                    model
                        .batches
                        .push((base, last, buffer[at..at + size].to_vec()));
                    at += size;
                }
                model.next_offset = info.last_offset + 1;
            }
            Op::Read { at, max_bytes } => {
                if model.next_offset > current.log_start_offset() {
                    let offset = model.pick(current.log_start_offset(), at);
                    let slice = current.read(offset, max_bytes, i64::MAX).map_err(fail)?;
                    let offsets = batch_offsets(&concat(&slice));
                    let first = offsets.first().copied().unwrap_or((-1, -1));
                    prop_assert!(
                        first.0 <= offset && offset <= first.1,
                        "read starts at the batch containing {}",
                        offset
                    );
                    let copy = concat(&slice);
                    held.push((slice, copy));
                }
            }
            Op::SetHighWatermark { at } => {
                current.set_high_watermark(model.pick(current.log_start_offset(), at))
            }
            Op::Truncate { at } => {
                let offset = model.pick(current.log_start_offset(), at);
                current.truncate_to(offset).map_err(fail)?;
                model.batches.retain(|(_, last, _)| *last < offset);
                let kept_end = model.batches.last().map_or(offset, |(_, last, _)| last + 1);
                model.next_offset = if model.batches.is_empty() {
                    current.log_end_offset()
                } else {
                    kept_end
                };
                if model.batches.is_empty() {
                    prop_assert!(current.log_end_offset() <= offset);
                }
            }
            Op::DeleteRecords { at } => {
                let offset = model
                    .pick(current.log_start_offset(), at)
                    .min(current.high_watermark());
                let before = current.log_start_offset();
                let start = current.delete_records_before(offset).map_err(fail)?;
                prop_assert!(start >= before, "invariant 5: log start never moves back");
            }
            Op::Retention { retention_bytes } => {
                let mut config = config();
                config.retention_bytes = retention_bytes;
                current.set_config(config);
                let high_watermark = current.high_watermark();
                let outcome = current.enforce_retention(now_ms).map_err(fail)?;
                prop_assert!(
                    outcome.log_start_offset <= high_watermark.max(current.log_start_offset()),
                    "invariant 5: nothing at or above the high watermark is deleted"
                );
                current.set_config(self::config());
            }
            Op::Flush => current.flush().map_err(fail)?,
            Op::Reopen { clean } => {
                let taken = log
                    .take()
                    .ok_or_else(|| TestCaseError::fail("log missing"))?;
                let high_watermark = taken.high_watermark();
                if clean {
                    taken.close().map_err(fail)?;
                } else {
                    drop(taken); // unflushed: only the page cache holds the tail, as after a kill
                }
                let reopened = Log::open(dir.path(), config()).map_err(fail)?;
                if clean {
                    prop_assert_eq!(reopened.high_watermark(), high_watermark);
                }
                log = Some(reopened);
            }
        }
        let current = log
            .as_ref()
            .ok_or_else(|| TestCaseError::fail("log missing"))?;
        model
            .batches
            .retain(|(_, last, _)| *last >= current.log_start_offset());
        check(current, &model)?;
        for (slice, copy) in &held {
            prop_assert!(
                &concat(slice) == copy,
                "invariant 4: bytes held by a reader never change"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn invariants_1_to_5_hold_under_random_operations(ops in prop::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}

//! `record_batch`: a Produce partition's records through the broker's
//! validator (`validate_records`, with the broker's default
//! `max.message.bytes` and `socket.request.max.bytes`), then every batch
//! read back as a consumer reads it: records, keys, values and headers.
//! Seeds cover every codec, so the decompressors are fuzzed too.
//!
//! Mutants are repaired so that they get past the CRC: the batch length is
//! made to fit and the CRC-32C recomputed most of the time, and some
//! mutations are made inside the decompressed records, which are then
//! compressed again with the batch's codec.

use std::hint::black_box;
use std::sync::LazyLock;

use bytes::{Bytes, BytesMut};
use rand::Rng;
use rand::rngs::StdRng;
use sluice_broker::{BrokerConfig, validate_records};
use sluice_protocol::{
    BatchBuilder, Compression, RECORD_BATCH_OVERHEAD, RecordBatchView, RecordBatches,
};

use super::{Target, request_seeds};
use crate::mutate;

/// Byte positions of the RecordBatch v2 fields the repairs touch.
const BATCH_LENGTH_AT: usize = 8;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const RECORDS_COUNT_AT: usize = 57;
/// baseOffset and batchLength come before what batchLength counts.
const LOG_OVERHEAD: usize = 12;

/// The broker's default limits: (`max.message.bytes`, `socket.request.max.bytes`).
static LIMITS: LazyLock<(usize, usize)> = LazyLock::new(|| {
    let config = BrokerConfig::default();
    let max_batch_bytes = usize::try_from(config.log.max_message_bytes).unwrap_or(usize::MAX);
    (max_batch_bytes, config.socket_request_max_bytes)
});

/// See the module documentation.
#[derive(Debug, Clone, Copy)]
pub struct RecordBatchTarget;

impl Target for RecordBatchTarget {
    fn seeds(&self) -> Vec<Vec<u8>> {
        let mut seeds: Vec<Vec<u8>> = request_seeds::record_batches()
            .iter()
            .map(|b| b.to_vec())
            .collect();
        for codec in CODECS {
            seeds.extend(special_batches(codec));
        }
        // Two batches back to back, as a producer sends them.
        let pairs: Vec<Vec<u8>> = seeds
            .windows(2)
            .map(|w| [&w[0][..], &w[1][..]].concat())
            .collect();
        seeds.extend(pairs.into_iter().step_by(3));
        seeds
    }

    fn fix_up(&self, rng: &mut StdRng, input: &mut Vec<u8>) {
        if rng.random_bool(0.3) {
            mutate_inside(rng, input);
        }
        if rng.random_bool(0.8) {
            repair_batches(input, rng.random_bool(0.5));
        }
    }

    fn run(&mut self, input: &[u8]) -> String {
        let (max_batch_bytes, max_decompressed_bytes) = *LIMITS;
        let records = Bytes::copy_from_slice(input);
        let validated = validate_records(&records, max_batch_bytes, max_decompressed_bytes);
        let read = read_back(records, max_decompressed_bytes);
        match validated {
            Ok(batches) => format!("{} ok {}; read {read}", self.label(input), batches.len()),
            Err(code) => format!("{} {code:?}; read {read}", self.label(input)),
        }
    }

    fn label(&self, input: &[u8]) -> String {
        match input.get(ATTRIBUTES_AT + 1) {
            Some(low) => match Compression::from_code(low & 0x07) {
                Ok(codec) => codec.name().to_owned(),
                Err(_) => "unknown codec".to_owned(),
            },
            None => "short".to_owned(),
        }
    }
}

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

/// Walks every batch and record the way a consumer does; describes how far
/// it got.
fn read_back(records: Bytes, max_decompressed_bytes: usize) -> String {
    let mut batches = 0;
    let mut read = 0usize;
    for batch in RecordBatches::new(records) {
        let Ok(batch) = batch else {
            return format!("batch error after {batches}");
        };
        batches += 1;
        let Ok(iter) = batch.records(max_decompressed_bytes) else {
            return format!("decompression error in {batches}");
        };
        for record in iter {
            let Ok(record) = record else {
                return format!("record error in {batches}");
            };
            read += 1;
            black_box((&record.key, &record.value, record.offset, record.timestamp));
            for header in &record.headers {
                black_box(header);
            }
        }
    }
    if read > 0 {
        "records".to_owned()
    } else {
        "none".to_owned()
    }
}

/// Batches with unusual shapes: many records, null keys and values,
/// control and transactional flags.
fn special_batches(codec: Compression) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut many = BatchBuilder::new(codec, 256 * 1024);
    for i in 0..40u8 {
        let value = [i; 24];
        if !many.append(1_000 + i64::from(i), Some(&[i]), Some(&value), &[]) {
            break;
        }
    }
    out.extend(many.build().ok());
    let mut nulls = BatchBuilder::new(codec, 4096);
    nulls.set_transactional(true);
    nulls.set_producer(7, 0);
    nulls.set_base_sequence(0);
    if nulls.append(5, None, None, &[("h", None)]) {
        out.extend(nulls.build().ok());
    }
    let mut control = BatchBuilder::new(codec, 4096);
    control.set_control(true);
    control.set_transactional(true);
    control.set_producer(7, 0);
    if control.append(
        9,
        Some(b"\x00\x00\x00\x01"),
        Some(b"\x00\x00\x00\x00\x00\x00"),
        &[],
    ) {
        out.extend(control.build().ok());
    }
    out.into_iter().map(|b| b.to_vec()).collect()
}

/// Mutates the (decompressed) records of the first batch and compresses
/// them again with its codec.
fn mutate_inside(rng: &mut StdRng, input: &mut Vec<u8>) {
    let Some(length) = read_i32(input, BATCH_LENGTH_AT) else {
        return;
    };
    let Some(end) = usize::try_from(length)
        .ok()
        .and_then(|l| l.checked_add(LOG_OVERHEAD))
        .filter(|end| (RECORD_BATCH_OVERHEAD..=input.len()).contains(end))
    else {
        return;
    };
    let Ok(view) = RecordBatchView::parse(Bytes::copy_from_slice(&input[..end])) else {
        return;
    };
    let codec = view.compression();
    let Ok(records) = codec.decompress(&view.records_payload(), mutate::MAX_INPUT_BYTES) else {
        return;
    };
    let mut records = records.to_vec();
    let rounds = rng.random_range(1..=3);
    mutate::mutate(rng, &mut records, &[], rounds);
    if rng.random_bool(0.2) {
        // Claim a different number of records than there are.
        let count: i32 = rng.random_range(-1..=64);
        input[RECORDS_COUNT_AT..RECORDS_COUNT_AT + 4].copy_from_slice(&count.to_be_bytes());
    }
    let mut payload = BytesMut::new();
    if codec.compress(&records, None, &mut payload).is_err() {
        return;
    }
    let tail = input[end..].to_vec();
    input.truncate(RECORD_BATCH_OVERHEAD);
    input.extend_from_slice(&payload);
    let length = i32::try_from(input.len() - LOG_OVERHEAD).unwrap_or(i32::MAX);
    input[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&length.to_be_bytes());
    input.extend_from_slice(&tail);
}

/// Makes each batch's CRC-32C match its bytes; with `fit_length`, a batch
/// length that points past the end is cut to what is there.
fn repair_batches(input: &mut [u8], fit_length: bool) {
    let mut at = 0;
    while at + RECORD_BATCH_OVERHEAD <= input.len() {
        let Some(declared) = read_i32(input, at + BATCH_LENGTH_AT) else {
            return;
        };
        let available = input.len() - at - LOG_OVERHEAD;
        let mut length = usize::try_from(declared).unwrap_or(usize::MAX);
        if length > available && fit_length {
            length = available;
            let fitted = i32::try_from(length).unwrap_or(i32::MAX);
            input[at + BATCH_LENGTH_AT..at + BATCH_LENGTH_AT + 4]
                .copy_from_slice(&fitted.to_be_bytes());
        }
        if length > available || length + LOG_OVERHEAD < RECORD_BATCH_OVERHEAD {
            return;
        }
        let end = at + LOG_OVERHEAD + length;
        let crc = crc_fast::crc32_iscsi(&input[at + ATTRIBUTES_AT..end]);
        input[at + CRC_AT..at + CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        at = end;
    }
}

fn read_i32(input: &[u8], at: usize) -> Option<i32> {
    let bytes = input.get(at..at + 4)?;
    Some(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_validates() {
        let mut target = RecordBatchTarget;
        for seed in target.seeds() {
            let outcome = target.run(&seed);
            assert!(outcome.contains(" ok "), "{outcome}");
        }
    }

    #[test]
    fn a_repaired_batch_passes_the_crc_check() {
        let mut batch = request_seeds::record_batches()[0].to_vec();
        batch[40] ^= 0x10; // the max timestamp: covered by the CRC
        assert!(RecordBatchTarget.run(&batch).contains("CorruptMessage"));
        repair_batches(&mut batch, true);
        assert!(RecordBatchTarget.run(&batch).contains(" ok "));
    }
}

//! Hostile input never panics the RecordBatch decoder: random bytes and
//! random mutations of valid batches give errors or valid views.

mod support;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use sluice_protocol::{CheckedRecords, RecordBatchView, RecordBatches};
use support::{ALL_CODECS, valid_batch};

/// A small limit keeps mutated "compressed" sizes cheap.
const LIMIT: usize = 1 << 20;

/// Runs every read path over `buf`; only panics can fail this.
fn exercise(buf: Bytes) {
    if let Ok(batch) = RecordBatchView::parse(buf.clone()) {
        let _ = batch.verify_crc();
        let _ = batch.validate(LIMIT);
        if let Ok(records) = batch.records(LIMIT) {
            for record in records.flatten() {
                for header in &record.headers {
                    let _ = header.key.len();
                }
            }
        }
    }
    for batch in RecordBatches::new(buf).flatten() {
        let _ = batch.validate(LIMIT);
    }
}

/// What `check_remaining` must agree with: reading every record and
/// checking that offset deltas run 0, 1, 2, ...; when all is well, the count
/// and the index of the first record with the largest timestamp.
fn reads_cleanly(batch: &RecordBatchView) -> Option<CheckedRecords> {
    let mut count = 0u32;
    let mut max = (i64::MIN, 0);
    for record in batch.records(LIMIT).ok()? {
        let record = record.ok()?;
        if record.offset_delta != i64::from(count) {
            return None;
        }
        // Compared by delta, as a log indexes them (the create time wraps).
        let delta = record.timestamp.wrapping_sub(batch.base_timestamp());
        if delta > max.0 {
            max = (delta, count);
        }
        count += 1;
    }
    Some(CheckedRecords {
        count,
        max_timestamp_index: max.1,
    })
}

fn checks_cleanly(batch: &RecordBatchView) -> Option<CheckedRecords> {
    batch.records(LIMIT).ok()?.check_remaining().ok()
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { position: usize, mask: u8 },
    Set { position: usize, byte: u8 },
    Truncate { length: usize },
    Insert { position: usize, byte: u8 },
}

fn mutation_strategy() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(position, mask)| Mutation::Flip { position, mask }),
        (any::<usize>(), any::<u8>()).prop_map(|(position, byte)| Mutation::Set { position, byte }),
        any::<usize>().prop_map(|length| Mutation::Truncate { length }),
        (any::<usize>(), any::<u8>())
            .prop_map(|(position, byte)| Mutation::Insert { position, byte }),
    ]
}

fn apply(buf: &mut BytesMut, mutation: &Mutation) {
    let len = buf.len().max(1);
    match *mutation {
        Mutation::Flip { position, mask } => {
            if let Some(byte) = buf.get_mut(position % len) {
                *byte ^= mask;
            }
        }
        Mutation::Set { position, byte } => {
            if let Some(slot) = buf.get_mut(position % len) {
                *slot = byte;
            }
        }
        Mutation::Truncate { length } => buf.truncate(length % len),
        Mutation::Insert { position, byte } => {
            let mut rest = buf.split_off(position % len);
            buf.extend_from_slice(&[byte]);
            buf.unsplit(std::mem::take(&mut rest));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        exercise(Bytes::from(bytes));
    }

    #[test]
    fn random_bytes_behind_a_valid_header_never_panic(
        codec in 0usize..5,
        tail in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        // Keep the header (so parsing gets past the framing) and replace the
        // records with garbage, fixing up the length field.
        let valid = valid_batch(ALL_CODECS[codec]);
        let mut buf = BytesMut::from(&valid[..61]);
        buf.extend_from_slice(&tail);
        let length = (buf.len() - 12) as i32;
        buf[8..12].copy_from_slice(&length.to_be_bytes());
        exercise(buf.freeze());
    }

    #[test]
    fn mutated_valid_batches_never_panic(
        codec in 0usize..5,
        mutations in proptest::collection::vec(mutation_strategy(), 1..6),
    ) {
        let mut buf = BytesMut::from(&valid_batch(ALL_CODECS[codec])[..]);
        for mutation in &mutations {
            apply(&mut buf, mutation);
        }
        exercise(buf.freeze());
    }

    #[test]
    fn checking_records_agrees_with_reading_them(
        codec in 0usize..5,
        mutations in proptest::collection::vec(mutation_strategy(), 0..4),
    ) {
        let valid = valid_batch(ALL_CODECS[codec]);
        // Mutate only the records, behind an intact header whose length
        // field follows the mutations, so parsing reaches them.
        let mut records = BytesMut::from(&valid[61..]);
        for mutation in &mutations {
            apply(&mut records, mutation);
        }
        let mut buf = BytesMut::from(&valid[..61]);
        buf.extend_from_slice(&records);
        let length = (buf.len() - 12) as i32;
        buf[8..12].copy_from_slice(&length.to_be_bytes());
        if let Ok(batch) = RecordBatchView::parse(buf.freeze()) {
            prop_assert_eq!(checks_cleanly(&batch), reads_cleanly(&batch));
        }
    }

    #[test]
    fn a_mutation_inside_the_crc_range_is_always_detected(
        codec in 0usize..5,
        position in 21usize..,
        mask in 1u8..,
    ) {
        let valid = valid_batch(ALL_CODECS[codec]);
        let mut buf = BytesMut::from(&valid[..]);
        let position = 21 + position % (buf.len() - 21);
        buf[position] ^= mask;
        if let Ok(batch) = RecordBatchView::parse(buf.freeze()) {
            prop_assert!(batch.verify_crc().is_err());
            prop_assert!(batch.validate(LIMIT).is_err());
        }
    }
}

//! Checks on the record batches of a Produce before anything touches a log.
//!
//! Every batch must be a well-framed RecordBatch v2 with a valid CRC-32C and
//! records that decode, no larger than `max.message.bytes`, and the buffer
//! must hold nothing but whole batches. A request that fails any check changes
//! no log.

use bytes::Bytes;
use sluice_protocol::{ErrorCode, RecordBatches};

use crate::producer_state::BatchSequence;

/// What the broker needs to know about one validated batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidatedBatch {
    /// Number of offsets the batch occupies (`lastOffsetDelta + 1`).
    pub offset_count: i64,
    /// The idempotence fields, when the batch comes from an idempotent producer.
    pub sequence: Option<BatchSequence>,
    /// The batch's max timestamp as the producer wrote it.
    pub max_timestamp: i64,
    /// Offset delta of the first record with the largest timestamp, found
    /// while walking the records (the log indexes it without walking again).
    pub max_timestamp_offset_delta: i32,
}

/// Validates the records of one partition of a Produce request.
///
/// `max_batch_bytes` is the topic's `max.message.bytes`; decompressed record
/// data is bounded by `max_decompressed_bytes`.
///
/// # Errors
/// CORRUPT_MESSAGE for framing and CRC problems, MESSAGE_TOO_LARGE for a batch
/// over the limit, INVALID_RECORD for records that do not decode, and whatever
/// else [`sluice_protocol::BatchError`] maps to.
pub fn validate_records(
    records: &Bytes,
    max_batch_bytes: usize,
    max_decompressed_bytes: usize,
) -> Result<Vec<ValidatedBatch>, ErrorCode> {
    let mut batches = RecordBatches::new(records.clone());
    let mut validated = Vec::new();
    for batch in batches.by_ref() {
        let batch = batch.map_err(ErrorCode::from)?;
        if batch.size_in_bytes() > max_batch_bytes {
            return Err(ErrorCode::MessageTooLarge);
        }
        let summary = batch
            .validate(max_decompressed_bytes)
            .map_err(ErrorCode::from)?;
        let sequence = (batch.producer_id() >= 0).then(|| BatchSequence {
            producer_id: batch.producer_id(),
            producer_epoch: batch.producer_epoch(),
            first_sequence: batch.base_sequence(),
            last_sequence: batch.last_sequence(),
        });
        validated.push(ValidatedBatch {
            offset_count: i64::from(batch.last_offset_delta()) + 1,
            sequence,
            max_timestamp: batch.max_timestamp(),
            max_timestamp_offset_delta: summary.max_timestamp_offset_delta,
        });
    }
    if validated.is_empty() || !batches.remaining().is_empty() {
        // Kafka rejects a produce whose records end in a partial batch.
        return Err(ErrorCode::CorruptMessage);
    }
    Ok(validated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_protocol::{BatchBuilder, Compression};

    const LIMIT: usize = 1 << 20;

    fn batch(values: &[&[u8]], producer: Option<(i64, i16, i32)>) -> Bytes {
        let mut builder = BatchBuilder::new(Compression::None, LIMIT);
        if let Some((id, epoch, sequence)) = producer {
            builder.set_producer(id, epoch);
            builder.set_base_sequence(sequence);
        }
        for value in values {
            assert!(builder.append(1_000, None, Some(value), &[]));
        }
        builder.build().unwrap()
    }

    #[test]
    fn well_formed_batches_report_their_offset_counts() {
        let mut records = batch(&[b"a", b"b"], None).to_vec();
        records.extend_from_slice(&batch(&[b"c"], None));
        let validated = validate_records(&Bytes::from(records), LIMIT, LIMIT).unwrap();
        let counts: Vec<_> = validated.iter().map(|b| b.offset_count).collect();
        assert_eq!(counts, vec![2, 1]);
    }

    #[test]
    fn the_first_record_with_the_largest_timestamp_is_reported() {
        let mut builder = BatchBuilder::new(Compression::None, LIMIT);
        for timestamp in [5, 9, 9, 2] {
            assert!(builder.append(timestamp, None, Some(b"v"), &[]));
        }
        let records = builder.build().unwrap();
        let validated = validate_records(&records, LIMIT, LIMIT).unwrap();
        assert_eq!(validated[0].max_timestamp_offset_delta, 1);
    }

    #[test]
    fn idempotent_batch_reports_its_sequence_range() {
        let validated = validate_records(&batch(&[b"a", b"b"], Some((7, 1, 4))), LIMIT, LIMIT);
        let sequence = validated.unwrap()[0].sequence.unwrap();
        assert_eq!(
            sequence,
            BatchSequence {
                producer_id: 7,
                producer_epoch: 1,
                first_sequence: 4,
                last_sequence: 5
            }
        );
    }

    #[test]
    fn flipped_byte_is_a_corrupt_message() {
        let mut records = batch(&[b"hello"], None).to_vec();
        let last = records.len() - 1;
        records[last] ^= 0xff;
        assert_eq!(
            validate_records(&Bytes::from(records), LIMIT, LIMIT),
            Err(ErrorCode::CorruptMessage)
        );
    }

    #[test]
    fn trailing_partial_batch_is_a_corrupt_message() {
        let mut records = batch(&[b"a"], None).to_vec();
        records.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 40]);
        assert_eq!(
            validate_records(&Bytes::from(records), LIMIT, LIMIT),
            Err(ErrorCode::CorruptMessage)
        );
    }

    #[test]
    fn empty_records_are_a_corrupt_message() {
        assert_eq!(
            validate_records(&Bytes::new(), LIMIT, LIMIT),
            Err(ErrorCode::CorruptMessage)
        );
    }

    #[test]
    fn batch_over_max_message_bytes_is_too_large() {
        let records = batch(&[&[0u8; 2048]], None);
        assert_eq!(
            validate_records(&records, 1024, LIMIT),
            Err(ErrorCode::MessageTooLarge)
        );
    }
}

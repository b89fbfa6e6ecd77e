//! Record values: generated (compressible or random) or read from a file,
//! optionally stamped with the send time for end-to-end latency.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::{BenchError, Result};
use crate::settings::PayloadKind;

/// Bytes at the start of a stamped value: the send time, microseconds since
/// the Unix epoch, big-endian.
pub const STAMP_BYTES: usize = 8;

/// Words compressible payloads are made of: a small vocabulary repeats like
/// the field names and values of real logs.
const VOCABULARY: &[&str] = &[
    "sluice",
    "broker",
    "partition",
    "offset",
    "record",
    "batch",
    "topic",
    "leader",
    "replica",
    "consumer",
    "producer",
    "group",
    "commit",
    "fetch",
    "epoch",
    "segment",
    "index",
    "level=info",
    "status=ok",
    "user_id=",
    "request",
    "latency",
    "{\"id\":",
    "\"ts\":",
    "\"value\":",
    "}",
];

/// The values one run sends, built once so the hot loop only clones `Bytes`.
#[derive(Debug, Clone)]
pub struct Payload {
    values: Vec<Bytes>,
}

impl Payload {
    /// Generated values of `size` bytes. A few distinct values keep random
    /// runs from being deduplicated by anything clever downstream.
    pub fn generated(kind: PayloadKind, size: usize, seed: u64) -> Payload {
        const DISTINCT_VALUES: usize = 16;
        let mut rng = StdRng::seed_from_u64(seed);
        let values = (0..DISTINCT_VALUES)
            .map(|_| match kind {
                PayloadKind::Compressible => compressible(&mut rng, size),
                PayloadKind::Random => random(&mut rng, size),
            })
            .collect();
        Payload { values }
    }

    /// The non-empty lines of the file at `path`, sent in turn.
    ///
    /// # Errors
    /// [`BenchError::PayloadFile`] when it cannot be read,
    /// [`BenchError::Settings`] when it has no non-empty line.
    pub fn from_file(path: &Path) -> Result<Payload> {
        let text = std::fs::read(path).map_err(|source| BenchError::PayloadFile {
            path: path.to_owned(),
            source,
        })?;
        let values: Vec<Bytes> = text
            .split(|byte| *byte == b'\n')
            .filter(|line| !line.is_empty())
            .map(Bytes::copy_from_slice)
            .collect();
        if values.is_empty() {
            return Err(BenchError::Settings(format!(
                "payload file {} has no non-empty line",
                path.display()
            )));
        }
        Ok(Payload { values })
    }

    /// The value for record number `sequence`.
    pub fn value(&self, sequence: u64) -> Bytes {
        self.template(sequence).clone()
    }

    fn template(&self, sequence: u64) -> &Bytes {
        &self.values[(sequence % self.values.len() as u64) as usize]
    }

    /// The value for record number `sequence` with the current time in its
    /// first [`STAMP_BYTES`] bytes (values shorter than that are padded).
    pub fn stamped_value(&self, sequence: u64) -> Bytes {
        let mut value = BytesMut::new();
        self.stamp_into(sequence, now_micros(), &mut value);
        value.freeze()
    }

    /// Writes the value for record number `sequence` stamped with
    /// `stamp_us` (from [`now_micros`]) into `value`, replacing what it held:
    /// a sender that gets its buffer back after each send (the producer
    /// copies values into its batch) allocates nothing per record.
    pub fn stamp_into(&self, sequence: u64, stamp_us: u64, value: &mut BytesMut) {
        let template = self.template(sequence);
        value.clear();
        value.reserve(template.len().max(STAMP_BYTES));
        value.extend_from_slice(&stamp_us.to_be_bytes());
        if template.len() > STAMP_BYTES {
            value.extend_from_slice(&template[STAMP_BYTES..]);
        }
    }

    /// How many distinct values [`Payload::value`] cycles through.
    pub fn variants(&self) -> usize {
        self.values.len()
    }

    /// The largest value, for the settings echo.
    pub fn max_len(&self) -> usize {
        self.values.iter().map(Bytes::len).max().unwrap_or(0)
    }
}

/// The send time written by [`Payload::stamped_value`], if `value` has one.
pub fn read_stamp(value: &[u8]) -> Option<u64> {
    let stamp: [u8; STAMP_BYTES] = value.get(..STAMP_BYTES)?.try_into().ok()?;
    Some(u64::from_be_bytes(stamp))
}

/// Wall-clock microseconds since the Unix epoch: the one clock producer and
/// consumer share when they run in the same process or on the same machine.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
        })
}

fn compressible(rng: &mut StdRng, size: usize) -> Bytes {
    let mut value = Vec::with_capacity(size + 32);
    while value.len() < size {
        let word = VOCABULARY[rng.random_range(0..VOCABULARY.len())];
        value.extend_from_slice(word.as_bytes());
        value.push(b' ');
    }
    value.truncate(size);
    Bytes::from(value)
}

fn random(rng: &mut StdRng, size: usize) -> Bytes {
    let mut value = vec![0u8; size];
    rng.fill(value.as_mut_slice());
    Bytes::from(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_have_the_requested_size() {
        for kind in [PayloadKind::Compressible, PayloadKind::Random] {
            let payload = Payload::generated(kind, 100, 7);
            assert!((0..32).all(|sequence| payload.value(sequence).len() == 100));
        }
    }

    #[test]
    fn a_reused_buffer_holds_exactly_the_latest_stamped_value() {
        let payload = Payload::generated(PayloadKind::Random, 100, 7);
        let mut value = BytesMut::new();
        for sequence in 0..1000 {
            payload.stamp_into(sequence, 1_000 + sequence, &mut value);
            let template = payload.value(sequence);
            assert_eq!(value.len(), 100);
            assert_eq!(value[STAMP_BYTES..], template[STAMP_BYTES..]);
            assert_eq!(read_stamp(&value), Some(1_000 + sequence));
        }
    }

    #[test]
    fn stamped_value_keeps_size_and_carries_the_send_time() {
        let payload = Payload::generated(PayloadKind::Random, 100, 7);
        let before = now_micros();
        let value = payload.stamped_value(3);
        assert_eq!(value.len(), 100);
        let stamp = read_stamp(&value).expect("a 100-byte value has a stamp");
        assert!(stamp >= before && stamp <= now_micros());
    }

    #[test]
    fn short_values_have_no_stamp() {
        assert_eq!(read_stamp(b"short"), None);
    }

    #[test]
    fn payload_file_lines_are_sent_in_turn() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("payload.txt");
        std::fs::write(&path, "first\n\nsecond\n").expect("write payload file");
        let payload = Payload::from_file(&path).expect("readable payload file");
        assert_eq!(payload.value(0), Bytes::from_static(b"first"));
        assert_eq!(payload.value(1), Bytes::from_static(b"second"));
        assert_eq!(payload.value(2), Bytes::from_static(b"first"));
    }
}

//! Choosing a partition for a record, exactly as the Java client does:
//! murmur2 of the key bytes for keyed records (so a key lands on the same
//! partition whichever client wrote it), a sticky partition for records
//! without a key (KIP-480/KIP-794: fill one batch, then move on), and the
//! record's explicit partition when it names one. Sans-IO: the random source
//! is injected.

use rand::Rng;
use rand::rngs::StdRng;

/// The Java client's murmur2 hash (`org.apache.kafka.common.utils.Utils.murmur2`),
/// bit for bit: seed `0x9747b28c`, 32-bit wrapping arithmetic, little-endian
/// 4-byte blocks and the same tail handling.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Java mixes the length in as a signed int; lengths past i32 are not keys.
    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = blocks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Java's `Utils.toPositive`: clears the sign bit (not `abs`, which
/// overflows on `i32::MIN`).
pub fn to_positive(value: i32) -> i32 {
    value & 0x7fff_ffff
}

/// The partition the Java client's default partitioner picks for `key`
/// among `partition_count` partitions.
///
/// # Panics
/// If `partition_count` is not positive (a topic always has a partition).
pub fn partition_for_key(key: &[u8], partition_count: i32) -> i32 {
    assert!(partition_count > 0, "a topic has at least one partition");
    to_positive(murmur2(key)) % partition_count
}

/// Decides partitions for records: explicit, keyed, or sticky for null keys.
///
/// The sticky choice for a topic holds until about `batch_size` bytes were
/// sent to it, so null-key records fill whole batches instead of spreading
/// one-record batches over every partition. Topics are named by a dense
/// index (the accumulator's topic slot, as the Java client keeps its sticky
/// state beside the accumulator's per-topic queues), so choosing costs no
/// hashing of the name.
#[derive(Debug)]
pub struct Partitioner {
    batch_size: usize,
    ignore_keys: bool,
    rng: StdRng,
    /// By topic index.
    sticky: Vec<Option<StickyChoice>>,
}

#[derive(Debug, Clone, Copy)]
struct StickyChoice {
    partition: i32,
    bytes: usize,
}

impl Partitioner {
    /// A partitioner switching sticky partitions every `batch_size` bytes;
    /// with `ignore_keys` (Kafka's `partitioner.ignore.keys`) keyed records are
    /// spread like null-key ones.
    pub fn new(batch_size: usize, ignore_keys: bool, rng: StdRng) -> Self {
        Partitioner {
            batch_size: batch_size.max(1),
            ignore_keys,
            rng,
            sticky: Vec::new(),
        }
    }

    /// The partition for a record of `record_bytes` bytes to the topic with
    /// index `topic` and `partition_count` partitions; `explicit` wins when
    /// given.
    ///
    /// # Panics
    /// If `partition_count` is not positive.
    pub fn partition(
        &mut self,
        topic: usize,
        explicit: Option<i32>,
        key: Option<&[u8]>,
        record_bytes: usize,
        partition_count: i32,
    ) -> i32 {
        if let Some(partition) = explicit {
            return partition;
        }
        match key {
            Some(key) if !self.ignore_keys => partition_for_key(key, partition_count),
            _ => self.sticky_partition(topic, record_bytes, partition_count),
        }
    }

    fn sticky_partition(&mut self, topic: usize, record_bytes: usize, partition_count: i32) -> i32 {
        assert!(partition_count > 0, "a topic has at least one partition");
        let batch_size = self.batch_size;
        if self.sticky.len() <= topic {
            self.sticky.resize(topic + 1, None);
        }
        // The common case: the choice holds and takes the record.
        let previous = match &mut self.sticky[topic] {
            Some(choice) if choice.partition < partition_count && choice.bytes < batch_size => {
                choice.bytes = choice.bytes.saturating_add(record_bytes);
                return choice.partition;
            }
            Some(choice) => Some(choice.partition),
            None => None,
        };
        let chosen = StickyChoice {
            partition: self.next_partition(previous, partition_count),
            bytes: record_bytes,
        };
        self.sticky[topic] = Some(chosen);
        chosen.partition
    }

    /// A random partition, different from `previous` when there is a choice.
    fn next_partition(&mut self, previous: Option<i32>, partition_count: i32) -> i32 {
        if partition_count == 1 {
            return 0;
        }
        loop {
            let candidate = self.rng.random_range(0..partition_count);
            if Some(candidate) != previous {
                return candidate;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    // The values asserted by the Java client's `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_matches_the_java_client_test_vectors() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (input, expected) in cases {
            assert_eq!(
                murmur2(input),
                expected,
                "murmur2({:?})",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn to_positive_clears_only_the_sign_bit() {
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(-1), i32::MAX);
        assert_eq!(to_positive(42), 42);
    }

    #[test]
    fn keyed_records_go_to_the_murmur2_partition() {
        let mut partitioner = Partitioner::new(16_384, false, StdRng::seed_from_u64(1));
        let expected = to_positive(murmur2(b"foobar")) % 7;
        for _ in 0..3 {
            assert_eq!(
                partitioner.partition(0, None, Some(b"foobar"), 10, 7),
                expected
            );
        }
    }

    #[test]
    fn explicit_partition_wins_over_key() {
        let mut partitioner = Partitioner::new(16_384, false, StdRng::seed_from_u64(1));
        assert_eq!(partitioner.partition(0, Some(5), Some(b"foobar"), 10, 7), 5);
    }

    #[test]
    fn null_keys_stick_to_one_partition_until_batch_size_bytes() {
        let mut partitioner = Partitioner::new(100, false, StdRng::seed_from_u64(7));
        let first = partitioner.partition(0, None, None, 40, 8);
        assert_eq!(partitioner.partition(0, None, None, 40, 8), first);
        assert_eq!(partitioner.partition(0, None, None, 40, 8), first);
        // 120 bytes have gone to `first`: the next record moves elsewhere.
        assert_ne!(partitioner.partition(0, None, None, 40, 8), first);
    }

    #[test]
    fn each_topic_keeps_its_own_sticky_partition() {
        let mut partitioner = Partitioner::new(100, false, StdRng::seed_from_u64(7));
        let first = partitioner.partition(0, None, None, 90, 1_000);
        // Another topic's records do not count against topic 0's choice...
        let other = partitioner.partition(5, None, None, 90, 1_000);
        assert_eq!(partitioner.partition(5, None, None, 5, 1_000), other);
        assert_eq!(partitioner.partition(0, None, None, 20, 1_000), first);
        // ...and topic 0 moves on once its own 100 bytes are reached.
        assert_ne!(partitioner.partition(0, None, None, 5, 1_000), first);
    }

    #[test]
    fn ignore_keys_spreads_keyed_records_stickily() {
        let mut partitioner = Partitioner::new(1_000, true, StdRng::seed_from_u64(3));
        let first = partitioner.partition(0, None, Some(b"a"), 10, 50);
        for key in [b"b", b"c", b"d"] {
            assert_eq!(partitioner.partition(0, None, Some(key), 10, 50), first);
        }
    }
}

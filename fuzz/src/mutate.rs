//! Byte-level mutations, driven by one seeded RNG so that a seed replays
//! exactly.
//!
//! Besides the classic ones (bit flips, byte overwrites, truncation,
//! extension, splicing) the mutator knows the two ways Kafka encodes a
//! length or a count (big-endian `int16`/`int32`, and unsigned or zig-zag
//! varints) and both writes "interesting" values in those encodings at any
//! offset and finds fields that look like lengths (a value that fits the
//! bytes after it) to inflate or deflate them.

use rand::Rng;
use rand::rngs::StdRng;

/// Inputs never grow beyond this many bytes.
pub const MAX_INPUT_BYTES: usize = 64 * 1024;

/// Values that break decoders: zero, one, minus one, the signed limits of
/// each width and the first values past them.
const INTERESTING: &[i64] = &[
    0,
    1,
    -1,
    0x7f,
    0x80,
    0xff,
    i16::MAX as i64,
    i16::MIN as i64,
    0xffff,
    i32::MAX as i64,
    i32::MIN as i64,
    0xffff_ffff,
    i64::MAX,
    i64::MIN,
];

/// Applies `rounds` random mutations to `input`; `other` is a second corpus
/// entry to splice from.
pub fn mutate(rng: &mut StdRng, input: &mut Vec<u8>, other: &[u8], rounds: usize) {
    for _ in 0..rounds {
        match rng.random_range(0..12) {
            0 => flip_bit(rng, input),
            1 => overwrite_byte(rng, input),
            2 | 3 => write_interesting(rng, input),
            4 => truncate(rng, input),
            5 => extend(rng, input),
            6 => insert_random(rng, input),
            7 => delete_chunk(rng, input),
            8 => splice(rng, input, other),
            9 | 10 => resize_length_field(rng, input),
            _ => add_small(rng, input),
        }
    }
    input.truncate(MAX_INPUT_BYTES);
}

fn offset(rng: &mut StdRng, len: usize) -> usize {
    if len == 0 {
        0
    } else {
        rng.random_range(0..len)
    }
}

fn flip_bit(rng: &mut StdRng, input: &mut [u8]) {
    if input.is_empty() {
        return;
    }
    let at = offset(rng, input.len());
    input[at] ^= 1 << rng.random_range(0..8);
}

fn overwrite_byte(rng: &mut StdRng, input: &mut [u8]) {
    if input.is_empty() {
        return;
    }
    let at = offset(rng, input.len());
    input[at] = rng.random();
}

/// Writes an interesting value at a random offset, as a big-endian integer
/// of 1, 2, 4 or 8 bytes or as a varint (zig-zag or not).
fn write_interesting(rng: &mut StdRng, input: &mut Vec<u8>) {
    let value = INTERESTING[rng.random_range(0..INTERESTING.len())];
    let encoded = match rng.random_range(0..6) {
        0 => vec![value as u8],
        1 => (value as i16).to_be_bytes().to_vec(),
        2 | 3 => (value as i32).to_be_bytes().to_vec(),
        4 => value.to_be_bytes().to_vec(),
        _ if rng.random_bool(0.5) => unsigned_varint(value as u64 & 0xffff_ffff),
        _ => zigzag_varint(value),
    };
    let at = offset(rng, input.len());
    overwrite_at(input, at, &encoded);
}

/// Replaces `input[at..at + bytes.len()]`, growing the input if needed.
fn overwrite_at(input: &mut Vec<u8>, at: usize, bytes: &[u8]) {
    let end = at + bytes.len();
    if input.len() < end {
        input.resize(end, 0);
    }
    input[at..end].copy_from_slice(bytes);
}

fn truncate(rng: &mut StdRng, input: &mut Vec<u8>) {
    let len = offset(rng, input.len());
    input.truncate(len);
}

fn extend(rng: &mut StdRng, input: &mut Vec<u8>) {
    let count = rng.random_range(1..=64);
    if rng.random_bool(0.5) || input.is_empty() {
        input.extend((0..count).map(|_| rng.random::<u8>()));
    } else {
        // Repeat a chunk: repeated structures stress counts and limits.
        let start = offset(rng, input.len());
        let end = (start + count).min(input.len());
        let chunk = input[start..end].to_vec();
        input.extend_from_slice(&chunk);
    }
}

fn insert_random(rng: &mut StdRng, input: &mut Vec<u8>) {
    let at = offset(rng, input.len() + 1);
    let count = rng.random_range(1..=16);
    let bytes: Vec<u8> = (0..count).map(|_| rng.random()).collect();
    input.splice(at..at, bytes);
}

fn delete_chunk(rng: &mut StdRng, input: &mut Vec<u8>) {
    if input.is_empty() {
        return;
    }
    let start = offset(rng, input.len());
    let end = (start + rng.random_range(1..=32)).min(input.len());
    input.drain(start..end);
}

/// Crosses two inputs: a prefix of one with a suffix of the other, or a
/// chunk of the other dropped in.
fn splice(rng: &mut StdRng, input: &mut Vec<u8>, other: &[u8]) {
    if other.is_empty() {
        return;
    }
    let from = offset(rng, other.len());
    if rng.random_bool(0.5) {
        let keep = offset(rng, input.len() + 1);
        input.truncate(keep);
        input.extend_from_slice(&other[from..]);
    } else {
        let end = (from + rng.random_range(1..=128)).min(other.len());
        let at = offset(rng, input.len() + 1);
        input.splice(at..at, other[from..end].iter().copied());
    }
}

fn add_small(rng: &mut StdRng, input: &mut [u8]) {
    if input.is_empty() {
        return;
    }
    let at = offset(rng, input.len());
    let delta: i8 = rng.random_range(-16..=16);
    if rng.random_bool(0.5) || at + 4 > input.len() {
        input[at] = input[at].wrapping_add(delta as u8);
    } else {
        let mut word = [0; 4];
        word.copy_from_slice(&input[at..at + 4]);
        let value = i32::from_be_bytes(word).wrapping_add(i32::from(delta));
        input[at..at + 4].copy_from_slice(&value.to_be_bytes());
    }
}

/// A field that looks like a length: its value fits the bytes after it.
#[derive(Debug, Clone, Copy)]
enum LengthField {
    Int32 { at: usize, value: i64 },
    Int16 { at: usize, value: i64 },
    Varint { at: usize, width: usize, value: i64 },
}

fn length_fields(input: &[u8]) -> Vec<LengthField> {
    let mut fields = Vec::new();
    for at in 0..input.len() {
        let rest = &input[at..];
        if rest.len() >= 4 {
            let value = i64::from(i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]));
            if value > 0 && value <= (rest.len() - 4) as i64 {
                fields.push(LengthField::Int32 { at, value });
            }
        }
        if rest.len() >= 2 {
            let value = i64::from(i16::from_be_bytes([rest[0], rest[1]]));
            if value > 0 && value <= (rest.len() - 2) as i64 {
                fields.push(LengthField::Int16 { at, value });
            }
        }
        if let Some((value, width)) = read_unsigned_varint(rest)
            && width <= 3
            && value > 1
            && value <= (rest.len() - width) as i64
        {
            fields.push(LengthField::Varint { at, width, value });
        }
    }
    fields
}

/// Makes a length or count field claim more or fewer bytes (or entries)
/// than are there.
fn resize_length_field(rng: &mut StdRng, input: &mut Vec<u8>) {
    let fields = length_fields(input);
    if fields.is_empty() {
        write_interesting(rng, input);
        return;
    }
    let field = fields[rng.random_range(0..fields.len())];
    let value = match field {
        LengthField::Int32 { value, .. }
        | LengthField::Int16 { value, .. }
        | LengthField::Varint { value, .. } => value,
    };
    let resized = match rng.random_range(0..8) {
        0 => 0,
        1 => value - 1,
        2 => value + 1,
        3 => value / 2,
        4 => value * 2 + 1,
        5 => -1,
        6 => i64::from(i16::MAX),
        _ => i64::from(i32::MAX),
    };
    match field {
        LengthField::Int32 { at, .. } => overwrite_at(input, at, &(resized as i32).to_be_bytes()),
        LengthField::Int16 { at, .. } => overwrite_at(input, at, &(resized as i16).to_be_bytes()),
        LengthField::Varint { at, width, .. } => {
            let encoded = unsigned_varint((resized as u64) & 0xffff_ffff);
            input.splice(at..at + width, encoded);
        }
    }
}

/// Kafka's unsigned varint (compact lengths are `length + 1`).
pub fn unsigned_varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// Kafka's zig-zag varint (record fields).
pub fn zigzag_varint(value: i64) -> Vec<u8> {
    unsigned_varint(((value << 1) ^ (value >> 63)) as u64)
}

fn read_unsigned_varint(bytes: &[u8]) -> Option<(i64, usize)> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().take(5).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value as i64, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_same_seed_makes_the_same_mutations() {
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut input = b"\x00\x00\x00\x05hello world".to_vec();
            mutate(&mut rng, &mut input, b"other input", 8);
            input
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn a_length_prefix_is_recognised_as_a_length_field() {
        let fields = length_fields(b"\x00\x00\x00\x03abc");
        assert!(
            fields
                .iter()
                .any(|f| matches!(f, LengthField::Int32 { at: 0, value: 3 }))
        );
    }

    #[test]
    fn varints_use_kafka_encoding() {
        assert_eq!(unsigned_varint(300), vec![0xac, 0x02]);
        assert_eq!(zigzag_varint(-1), vec![0x01]);
        assert_eq!(read_unsigned_varint(&[0xac, 0x02]), Some((300, 2)));
    }
}

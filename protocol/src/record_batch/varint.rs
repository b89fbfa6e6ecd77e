//! Kafka's variable-length integers: zigzag, then unsigned LEB128.
//!
//! Records inside a v2 batch use them for every length and delta. Decoding
//! works on a byte slice and returns how many bytes it consumed, so callers
//! can slice a shared `Bytes` without copying.

use bytes::BufMut;

/// Longest encoding of an `i32` varint.
pub(crate) const MAX_VARINT_LEN: usize = 5;
/// Longest encoding of an `i64` varlong.
pub(crate) const MAX_VARLONG_LEN: usize = 10;

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarintError {
    /// The slice ended in the middle of the number.
    Truncated,
    /// The encoding is longer than the type allows.
    TooLong,
}

fn zigzag_encode(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn zigzag_decode(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Bytes needed to encode `value` as a varlong (or varint, for `i32` inputs).
pub(crate) fn varlong_len(value: i64) -> usize {
    let bits = 64 - zigzag_encode(value).leading_zeros() as usize;
    bits.max(1).div_ceil(7)
}

/// Bytes needed to encode `value` as a varint.
pub(crate) fn varint_len(value: i32) -> usize {
    varlong_len(i64::from(value))
}

/// Appends `value` as a varlong.
pub(crate) fn put_varlong(buf: &mut impl BufMut, value: i64) {
    let mut encoded = Scratch::<MAX_VARLONG_LEN>::new();
    encoded.varlong(value);
    buf.put_slice(encoded.as_slice());
}

/// Appends `value` as a varint.
pub(crate) fn put_varint(buf: &mut impl BufMut, value: i32) {
    put_varlong(buf, i64::from(value));
}

/// A few varints assembled on the stack, then appended with one copy: a
/// record's leading fields cost one capacity check of the output buffer
/// instead of one per byte. `N` is the sum of the longest encodings the
/// caller pushes, so pushing never runs out of room.
pub(crate) struct Scratch<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Scratch<N> {
    pub(crate) fn new() -> Self {
        Scratch {
            bytes: [0; N],
            len: 0,
        }
    }

    /// Pushes one byte.
    ///
    /// # Panics
    /// When `N` is exceeded (a caller sizing `N` wrongly).
    pub(crate) fn byte(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    /// Pushes `value` as a varlong.
    pub(crate) fn varlong(&mut self, value: i64) {
        let mut rest = zigzag_encode(value);
        while rest >= 0x80 {
            self.byte((rest as u8) | 0x80);
            rest >>= 7;
        }
        self.byte(rest as u8);
    }

    /// Pushes `value` as a varint.
    pub(crate) fn varint(&mut self, value: i32) {
        self.varlong(i64::from(value));
    }

    /// What was pushed.
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

fn read_unsigned(input: &[u8], max_len: usize) -> Result<(u64, usize), VarintError> {
    let mut value: u64 = 0;
    for (index, &byte) in input.iter().take(max_len).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Ok((value, index + 1));
        }
    }
    if input.len() < max_len {
        Err(VarintError::Truncated)
    } else {
        Err(VarintError::TooLong)
    }
}

/// Reads a varlong; returns the value and the bytes consumed.
pub(crate) fn read_varlong(input: &[u8]) -> Result<(i64, usize), VarintError> {
    let (raw, used) = read_unsigned(input, MAX_VARLONG_LEN)?;
    Ok((zigzag_decode(raw), used))
}

/// Reads a varint; returns the value and the bytes consumed.
pub(crate) fn read_varint(input: &[u8]) -> Result<(i32, usize), VarintError> {
    let (raw, used) = read_unsigned(input, MAX_VARINT_LEN)?;
    let value = zigzag_decode(raw);
    let value = i32::try_from(value).map_err(|_| VarintError::TooLong)?;
    Ok((value, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: i64) {
        let mut buf = Vec::new();
        put_varlong(&mut buf, value);
        assert_eq!(buf.len(), varlong_len(value));
        assert_eq!(read_varlong(&buf), Ok((value, buf.len())));
    }

    #[test]
    fn varlong_round_trips_extremes() {
        for value in [
            0,
            1,
            -1,
            63,
            -64,
            64,
            i64::from(i32::MAX),
            i64::MIN,
            i64::MAX,
        ] {
            round_trip(value);
        }
    }

    #[test]
    fn scratch_concatenates_varints_and_bytes() {
        let mut scratch = Scratch::<{ 3 * MAX_VARLONG_LEN + 1 }>::new();
        scratch.varlong(0);
        scratch.varint(-1);
        // 300 zigzags to 600: 0b100_1011000 -> 0xd8 0x04.
        scratch.varlong(300);
        scratch.byte(7);
        assert_eq!(scratch.as_slice(), [0x00, 0x01, 0xd8, 0x04, 0x07]);
        let mut longest = Scratch::<MAX_VARLONG_LEN>::new();
        longest.varlong(i64::MIN);
        assert_eq!(read_varlong(longest.as_slice()), Ok((i64::MIN, 10)));
    }

    #[test]
    fn zigzag_matches_kafka_examples() {
        // From the Kafka protocol guide: 0->0, -1->1, 1->2, -2->3.
        let mut buf = Vec::new();
        for value in [0, -1, 1, -2] {
            put_varint(&mut buf, value);
        }
        assert_eq!(buf, [0, 1, 2, 3]);
    }

    #[test]
    fn varint_rejects_values_beyond_i32() {
        let mut buf = Vec::new();
        put_varlong(&mut buf, i64::from(i32::MAX) + 1);
        assert_eq!(read_varint(&buf), Err(VarintError::TooLong));
    }

    #[test]
    fn truncated_varint_is_an_error() {
        assert_eq!(read_varlong(&[0x80, 0x80]), Err(VarintError::Truncated));
        assert_eq!(read_varlong(&[]), Err(VarintError::Truncated));
    }

    #[test]
    fn overlong_varlong_is_an_error() {
        assert_eq!(read_varlong(&[0xff; 11]), Err(VarintError::TooLong));
    }
}

//! Deterministic bytes for metadata records.
//!
//! One Raft entry holds one batch: the records of one controller decision,
//! committed together. Its bytes are a format-version byte followed by the
//! records in postcard's encoding (a documented, stable wire format: varint
//! integers, length-prefixed strings and sequences, fields in declaration
//! order). Maps in records are `BTreeMap`s, so equal records always encode to
//! equal bytes. The frames around these bytes (length, CRC-32) belong to the
//! Raft log file ([`crate::RaftLogFile`]).

use crate::records::MetadataRecord;

/// The version byte that starts every encoded batch.
pub const RECORD_FORMAT_VERSION: u8 = 0;

/// Why bytes could not be turned into records.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The batch starts with a format version this build does not know.
    #[error("unknown metadata record format version {0}")]
    UnknownVersion(u8),
    /// The batch is empty (not even a version byte).
    #[error("empty metadata record batch")]
    Empty,
    /// The bytes are not a valid encoding of records.
    #[error("malformed metadata records: {0}")]
    Malformed(#[from] postcard::Error),
    /// Valid records were followed by bytes that belong to none.
    #[error("{0} trailing bytes after the metadata records")]
    TrailingBytes(usize),
}

/// Encodes a batch of records (one decision) into its log bytes.
pub fn encode_batch(records: &[MetadataRecord]) -> Vec<u8> {
    let mut bytes = vec![RECORD_FORMAT_VERSION];
    // Serializing plain data into a Vec cannot fail: postcard only fails on
    // a full fixed-size buffer or a type serde cannot express.
    let body = postcard::to_allocvec(records)
        .expect("invariant: metadata records always serialize into a Vec");
    bytes.extend_from_slice(&body);
    bytes
}

/// Decodes a batch written by [`encode_batch`].
///
/// # Errors
///
/// [`CodecError`] when the bytes are empty, of an unknown version, malformed
/// or followed by trailing bytes. Sequence lengths in the input never drive an
/// allocation larger than the input can fill (serde caps preallocation).
pub fn decode_batch(bytes: &[u8]) -> Result<Vec<MetadataRecord>, CodecError> {
    let (&version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if version != RECORD_FORMAT_VERSION {
        return Err(CodecError::UnknownVersion(version));
    }
    let (records, rest) = postcard::take_from_bytes::<Vec<MetadataRecord>>(body)?;
    if !rest.is_empty() {
        return Err(CodecError::TrailingBytes(rest.len()));
    }
    Ok(records)
}

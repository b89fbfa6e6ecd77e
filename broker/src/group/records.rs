//! The durable records of `__consumer_offsets`, in Kafka's on-disk layout.
//!
//! Keys start with an `int16` version that also names the record type:
//! 0 and 1 are `OffsetCommitKey` (group, topic, partition) and 2 is
//! `GroupMetadataKey` (group). Values start with their own `int16` version.
//! We write `OffsetCommitValue` v3 (v1 when an explicit expiry is set) and
//! `GroupMetadataValue` v3 — what Kafka writes — and read versions 0-4 (4 is
//! the flexible encoding), so Kafka's tooling can read our log and we can
//! read Kafka's. `kafka-protocol` ships neither these types nor public
//! primitive codecs, so the few primitives (big-endian ints, `int16`-prefixed
//! strings, `int32`-prefixed bytes, -1 for null, and the compact forms) live
//! in `Reader` and the `put_*` helpers below.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::messages::TopicPartition;

/// Key version of an offset commit written by current Kafka.
const OFFSET_KEY_VERSION: i16 = 1;
/// Key version that marks group metadata.
const GROUP_KEY_VERSION: i16 = 2;
/// Value version of offset commits we write.
const OFFSET_VALUE_VERSION: i16 = 3;
/// Value version of offset commits carrying an explicit expiry.
const OFFSET_VALUE_VERSION_WITH_EXPIRY: i16 = 1;
/// Value version of group metadata we write.
const GROUP_VALUE_VERSION: i16 = 3;
/// First (and newest) flexible value version, which newer Kafka may write:
/// compact strings, bytes and arrays, and tagged fields.
const FLEXIBLE_VALUE_VERSION: i16 = 4;

/// The fewest bytes one member of a `GroupMetadataValue` takes on disk: the
/// flexible v4 layout with empty strings and bytes (four compact strings,
/// two `int32` timeouts, two compact bytes, the tagged-field count). Older
/// layouts take more.
const MIN_MEMBER_BYTES: usize = 4 + 4 + 4 + 2 + 1;

/// Why a record of `__consumer_offsets` could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    /// The key's version names a record type we do not know (e.g. the
    /// records of KIP-848 consumer groups); loaders skip these.
    #[error("unknown __consumer_offsets key version {0}")]
    UnknownKeyVersion(i16),
    /// The value's version is newer than we can read.
    #[error("unsupported {record} value version {version}")]
    UnknownValueVersion {
        /// Which record type.
        record: &'static str,
        /// The version found.
        version: i16,
    },
    /// The bytes end early or hold an invalid field.
    #[error("malformed {record}: {reason}")]
    Malformed {
        /// Which record type.
        record: &'static str,
        /// What the primitive decoder reported.
        reason: String,
    },
}

/// One encoded key/value record; `value == None` is a tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetsRecord {
    /// Encoded key.
    pub key: Bytes,
    /// Encoded value, or `None` to delete the key.
    pub value: Option<Bytes>,
}

/// A decoded record key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    /// A committed offset of one partition.
    Offset {
        /// The group.
        group_id: String,
        /// The partition.
        partition: TopicPartition,
    },
    /// A group's metadata.
    Group {
        /// The group.
        group_id: String,
    },
}

/// A committed offset as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    /// The next offset to consume.
    pub offset: i64,
    /// Leader epoch, -1 if unknown.
    pub leader_epoch: i32,
    /// Client metadata.
    pub metadata: String,
    /// When the commit happened.
    pub commit_timestamp_ms: i64,
    /// Explicit expiry of v1 commits (pre-2.1 clients), if any.
    pub expire_timestamp_ms: Option<i64>,
}

/// A member inside stored group metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberValue {
    /// Member id.
    pub member_id: String,
    /// Static instance id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Rebalance timeout.
    pub rebalance_timeout_ms: i32,
    /// Session timeout.
    pub session_timeout_ms: i32,
    /// The member's metadata for the group's protocol.
    pub subscription: Bytes,
    /// The member's assignment.
    pub assignment: Bytes,
}

/// A group's metadata as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    /// Protocol type, empty if none.
    pub protocol_type: String,
    /// Generation.
    pub generation: i32,
    /// Selected protocol.
    pub protocol: Option<String>,
    /// Leader member id.
    pub leader: Option<String>,
    /// When the group entered its current state (-1 if unknown).
    pub current_state_timestamp_ms: i64,
    /// Members with assignments.
    pub members: Vec<MemberValue>,
}

/// Kafka's `String.hashCode()`: 31-polynomial over UTF-16 code units.
pub fn java_string_hashcode(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// The `__consumer_offsets` partition holding `group_id`'s records:
/// `abs(hashCode(group_id)) % partitions`, with Kafka's `abs(MIN) == 0`.
///
/// # Panics
/// If `num_partitions` is not positive (a configuration invariant).
pub fn offsets_partition_for(group_id: &str, num_partitions: i32) -> i32 {
    assert!(
        num_partitions > 0,
        "offsets.topic.num.partitions must be positive"
    );
    let hash = java_string_hashcode(group_id);
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % num_partitions
}

/// Key of `partition`'s committed offset in `group_id`.
pub fn offset_key(group_id: &str, partition: &TopicPartition) -> Bytes {
    let mut buf = BytesMut::new();
    put_i16(&mut buf, OFFSET_KEY_VERSION);
    put_string(&mut buf, group_id);
    put_string(&mut buf, &partition.topic);
    put_i32(&mut buf, partition.partition);
    buf.freeze()
}

/// Key of `group_id`'s metadata.
pub fn group_key(group_id: &str) -> Bytes {
    let mut buf = BytesMut::new();
    put_i16(&mut buf, GROUP_KEY_VERSION);
    put_string(&mut buf, group_id);
    buf.freeze()
}

/// Encode a committed offset.
pub fn encode_offset_value(value: &OffsetValue) -> Bytes {
    let mut buf = BytesMut::new();
    match value.expire_timestamp_ms {
        Some(expire) => {
            put_i16(&mut buf, OFFSET_VALUE_VERSION_WITH_EXPIRY);
            put_i64(&mut buf, value.offset);
            put_string(&mut buf, &value.metadata);
            put_i64(&mut buf, value.commit_timestamp_ms);
            put_i64(&mut buf, expire);
        }
        None => {
            put_i16(&mut buf, OFFSET_VALUE_VERSION);
            put_i64(&mut buf, value.offset);
            put_i32(&mut buf, value.leader_epoch);
            put_string(&mut buf, &value.metadata);
            put_i64(&mut buf, value.commit_timestamp_ms);
        }
    }
    buf.freeze()
}

/// Encode group metadata.
pub fn encode_group_value(value: &GroupValue) -> Bytes {
    let mut buf = BytesMut::new();
    put_i16(&mut buf, GROUP_VALUE_VERSION);
    put_string(&mut buf, &value.protocol_type);
    put_i32(&mut buf, value.generation);
    put_nullable_string(&mut buf, value.protocol.as_deref());
    put_nullable_string(&mut buf, value.leader.as_deref());
    put_i64(&mut buf, value.current_state_timestamp_ms);
    let count = i32::try_from(value.members.len()).expect("a group holds fewer than 2^31 members");
    put_i32(&mut buf, count);
    for member in &value.members {
        put_string(&mut buf, &member.member_id);
        put_nullable_string(&mut buf, member.group_instance_id.as_deref());
        put_string(&mut buf, &member.client_id);
        put_string(&mut buf, &member.client_host);
        put_i32(&mut buf, member.rebalance_timeout_ms);
        put_i32(&mut buf, member.session_timeout_ms);
        put_bytes(&mut buf, &member.subscription);
        put_bytes(&mut buf, &member.assignment);
    }
    buf.freeze()
}

/// Decode a record key.
///
/// # Errors
/// [`RecordError::UnknownKeyVersion`] for record types we do not read,
/// [`RecordError::Malformed`] for truncated or invalid bytes.
pub fn decode_key(key: &[u8]) -> Result<RecordKey, RecordError> {
    let mut key = Reader::new("record key", key);
    match key.i16()? {
        0 | 1 => {
            let group_id = key.string()?;
            let topic = key.string()?;
            let partition = key.i32()?;
            Ok(RecordKey::Offset {
                group_id,
                partition: TopicPartition { topic, partition },
            })
        }
        2 => Ok(RecordKey::Group {
            group_id: key.string()?,
        }),
        other => Err(RecordError::UnknownKeyVersion(other)),
    }
}

/// Decode an `OffsetCommitValue` of version 0-4 (4 is flexible).
///
/// # Errors
/// Unknown versions and malformed bytes.
pub fn decode_offset_value(value: &[u8]) -> Result<OffsetValue, RecordError> {
    let mut value = Reader::new("OffsetCommitValue", value);
    let version = value.i16()?;
    if !(0..=FLEXIBLE_VALUE_VERSION).contains(&version) {
        return Err(RecordError::UnknownValueVersion {
            record: value.record,
            version,
        });
    }
    value.flexible = version >= FLEXIBLE_VALUE_VERSION;
    let offset = value.i64()?;
    let leader_epoch = if version >= 3 { value.i32()? } else { -1 };
    let metadata = value.string()?;
    let commit_timestamp_ms = value.i64()?;
    let expire_timestamp_ms = if version == 1 {
        Some(value.i64()?)
    } else {
        None
    };
    value.skip_tagged_fields()?;
    Ok(OffsetValue {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp_ms,
        expire_timestamp_ms,
    })
}

/// Decode a `GroupMetadataValue` of version 0-4 (4 is flexible).
///
/// # Errors
/// Unknown versions and malformed bytes.
pub fn decode_group_value(value: &[u8]) -> Result<GroupValue, RecordError> {
    let mut value = Reader::new("GroupMetadataValue", value);
    let version = value.i16()?;
    if !(0..=FLEXIBLE_VALUE_VERSION).contains(&version) {
        return Err(RecordError::UnknownValueVersion {
            record: value.record,
            version,
        });
    }
    value.flexible = version >= FLEXIBLE_VALUE_VERSION;
    let protocol_type = value.string()?;
    let generation = value.i32()?;
    let protocol = value.nullable_string()?;
    let leader = value.nullable_string()?;
    let current_state_timestamp_ms = if version >= 2 { value.i64()? } else { -1 };
    let count = value.array_len()?;
    // Checked before anything is reserved: a count the remaining bytes
    // cannot hold is corrupt, and reserving for it would let a small record
    // ask for a `MemberValue` (hundreds of bytes) per byte.
    if count > value.buf.len() / MIN_MEMBER_BYTES {
        return Err(value.malformed("member count exceeds what the record can hold"));
    }
    let mut members = Vec::with_capacity(count);
    for _ in 0..count {
        members.push(decode_member(&mut value, version)?);
    }
    value.skip_tagged_fields()?;
    Ok(GroupValue {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp_ms,
        members,
    })
}

fn decode_member(value: &mut Reader<'_>, version: i16) -> Result<MemberValue, RecordError> {
    let member_id = value.string()?;
    let group_instance_id = if version >= 3 {
        value.nullable_string()?
    } else {
        None
    };
    let client_id = value.string()?;
    let client_host = value.string()?;
    let rebalance_timeout_ms = if version >= 1 {
        Some(value.i32()?)
    } else {
        None
    };
    let session_timeout_ms = value.i32()?;
    let subscription = value.bytes()?;
    let assignment = value.bytes()?;
    value.skip_tagged_fields()?;
    Ok(MemberValue {
        member_id,
        group_instance_id,
        client_id,
        client_host,
        // v0 had a single timeout for both.
        rebalance_timeout_ms: rebalance_timeout_ms.unwrap_or(session_timeout_ms),
        session_timeout_ms,
        subscription,
        assignment,
    })
}

/// Whether `s` fits a non-compact Kafka string (`int16` length). The
/// coordinator rejects requests whose stored fields would not, so encoding
/// cannot fail.
pub fn fits_string(s: &str) -> bool {
    s.len() <= i16::MAX as usize
}

/// Reads Kafka's primitives, in the classic or the flexible (compact)
/// encoding, checking every length before use.
struct Reader<'a> {
    record: &'static str,
    buf: &'a [u8],
    flexible: bool,
}

impl<'a> Reader<'a> {
    fn new(record: &'static str, buf: &'a [u8]) -> Self {
        Self {
            record,
            buf,
            flexible: false,
        }
    }

    fn malformed(&self, reason: &str) -> RecordError {
        RecordError::Malformed {
            record: self.record,
            reason: reason.to_owned(),
        }
    }

    fn need(&self, len: usize) -> Result<(), RecordError> {
        if self.buf.len() < len {
            Err(self.malformed("truncated"))
        } else {
            Ok(())
        }
    }

    fn i16(&mut self) -> Result<i16, RecordError> {
        self.need(2)?;
        Ok(self.buf.get_i16())
    }

    fn i32(&mut self) -> Result<i32, RecordError> {
        self.need(4)?;
        Ok(self.buf.get_i32())
    }

    fn i64(&mut self) -> Result<i64, RecordError> {
        self.need(8)?;
        Ok(self.buf.get_i64())
    }

    /// An unsigned LEB128 varint of at most 32 bits.
    fn unsigned_varint(&mut self) -> Result<u32, RecordError> {
        let mut value: u32 = 0;
        for shift in (0..35).step_by(7) {
            self.need(1)?;
            let byte = self.buf.get_u8();
            value |= u32::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.malformed("varint longer than 5 bytes"))
    }

    /// A length: `int16`/`int32` classic, or compact `varint(len + 1)`;
    /// `None` is null.
    fn length(&mut self, classic_i32: bool) -> Result<Option<usize>, RecordError> {
        let len = if self.flexible {
            i64::from(self.unsigned_varint()?) - 1
        } else if classic_i32 {
            i64::from(self.i32()?)
        } else {
            i64::from(self.i16()?)
        };
        Ok(usize::try_from(len).ok())
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], RecordError> {
        self.need(len)?;
        let (head, tail) = self.buf.split_at(len);
        self.buf = tail;
        Ok(head)
    }

    fn nullable_string(&mut self) -> Result<Option<String>, RecordError> {
        let Some(len) = self.length(false)? else {
            return Ok(None);
        };
        let bytes = self.take(len)?;
        let s = std::str::from_utf8(bytes).map_err(|_| self.malformed("string is not UTF-8"))?;
        Ok(Some(s.to_owned()))
    }

    fn string(&mut self) -> Result<String, RecordError> {
        self.nullable_string()?
            .ok_or_else(|| self.malformed("null where a string is required"))
    }

    fn bytes(&mut self) -> Result<Bytes, RecordError> {
        // Kafka writes empty, not null, but null reads as empty.
        let Some(len) = self.length(true)? else {
            return Ok(Bytes::new());
        };
        Ok(Bytes::copy_from_slice(self.take(len)?))
    }

    fn array_len(&mut self) -> Result<usize, RecordError> {
        self.length(true)?
            .ok_or_else(|| self.malformed("null array"))
    }

    /// Flexible structs end with tagged fields; we know none, so skip them.
    fn skip_tagged_fields(&mut self) -> Result<(), RecordError> {
        if !self.flexible {
            return Ok(());
        }
        let count = self.unsigned_varint()?;
        for _ in 0..count {
            let _tag = self.unsigned_varint()?;
            let size = self.unsigned_varint()? as usize;
            self.take(size)?;
        }
        Ok(())
    }
}

fn put_i16(buf: &mut BytesMut, v: i16) {
    buf.put_i16(v);
}
fn put_i32(buf: &mut BytesMut, v: i32) {
    buf.put_i32(v);
}
fn put_i64(buf: &mut BytesMut, v: i64) {
    buf.put_i64(v);
}
fn put_string(buf: &mut BytesMut, v: &str) {
    put_nullable_string(buf, Some(v));
}
/// Strings are length-checked with [`fits_string`] by the coordinator
/// before they reach a record.
fn put_nullable_string(buf: &mut BytesMut, v: Option<&str>) {
    match v {
        None => buf.put_i16(-1),
        Some(s) => {
            let len =
                i16::try_from(s.len()).expect("stored strings are checked with fits_string first");
            buf.put_i16(len);
            buf.put_slice(s.as_bytes());
        }
    }
}
/// Byte fields come from request frames, far below 2 GiB.
fn put_bytes(buf: &mut BytesMut, v: &Bytes) {
    let len = i32::try_from(v.len()).expect("byte fields come from frames smaller than 2 GiB");
    buf.put_i32(len);
    buf.put_slice(v);
}

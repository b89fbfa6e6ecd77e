//! Fetch responses encoded around the record bytes instead of through them.
//!
//! `kafka-protocol` encodes a `FetchResponse` into one buffer, which copies
//! every partition's `records` — the largest part of the message, and already
//! a zero-copy view of a mapped segment. [`encode_fetch_response`] writes the
//! response header and the envelope (topics, partitions, offsets, error
//! codes, aborted transactions, tagged fields) into one small buffer and hands
//! each `records` value over as its own chunk, untouched, so the connection
//! can write the whole frame with one vectored write.
//!
//! The layout follows Kafka's `FetchResponse.json` for versions 4 to 18 (the
//! field order is the one `kafka-protocol` generates): v5 adds
//! `LogStartOffset`, v7 the top-level error code and session id, v11
//! `PreferredReadReplica`, v12 the flexible encoding (compact arrays, strings
//! and bytes, tagged fields, response header v1), v13 topic ids instead of
//! names, v16 the `NodeEndpoints` tagged field. Leaf structures without
//! records (aborted transactions, epochs, leaders, snapshot ids, node
//! endpoints) are encoded by `kafka-protocol` itself. The result is byte for
//! byte what `kafka-protocol` produces (a property test checks every
//! version), and the same inputs are refused: a `session_id` before v7 or a
//! `preferred_read_replica` before v11, a topic name too long for its length
//! prefix. One deliberate difference: an unknown tagged field whose tag
//! collides with a known one is refused here, where `kafka-protocol` would
//! count it without writing it and so emit a malformed message.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchResponse, ResponseHeader};
use kafka_protocol::protocol::{Encodable, HeaderVersion};

use crate::frame::FrameChunks;
use crate::header::CodecError;

/// The oldest FetchResponse version this encoder writes.
pub const FETCH_RESPONSE_MIN_VERSION: i16 = 4;
/// The newest FetchResponse version this encoder writes (as `kafka-protocol`).
pub const FETCH_RESPONSE_MAX_VERSION: i16 = 18;

const LOG_START_OFFSET_VERSION: i16 = 5;
const SESSION_VERSION: i16 = 7;
const PREFERRED_READ_REPLICA_VERSION: i16 = 11;
const FLEXIBLE_VERSION: i16 = 12;
const TOPIC_ID_VERSION: i16 = 13;
const NODE_ENDPOINTS_VERSION: i16 = 16;

/// The first tag that is not a known tagged field of the response, a
/// partition (diverging epoch 0, current leader 1, snapshot id 2) or a topic.
const RESPONSE_KNOWN_TAGS: i32 = 1;
const PARTITION_KNOWN_TAGS: i32 = 3;
const TOPIC_KNOWN_TAGS: i32 = 0;

/// Envelope bytes reserved per partition before encoding (fixed fields,
/// lengths and empty tag buffers fit; aborted transactions may grow it).
const PARTITION_ENVELOPE_ESTIMATE: usize = 48;
/// Envelope bytes reserved per topic besides its name.
const TOPIC_ENVELOPE_ESTIMATE: usize = 24;
/// Bytes reserved for the response header and the top-level fields.
const RESPONSE_ENVELOPE_ESTIMATE: usize = 32;

/// Encodes `response` at `version` with its response header (v0, or v1 from
/// v12 on) as frame chunks; every non-empty `records` value becomes a chunk
/// of its own, shared rather than copied.
///
/// The concatenated chunks equal `encode_response(correlation_id, version,
/// response)` byte for byte.
///
/// # Errors
/// [`CodecError`] when `version` is outside 4..=18 or a field cannot be
/// represented at `version` (the cases `kafka-protocol` refuses, plus unknown
/// tagged fields that collide with known tags).
pub fn encode_fetch_response(
    correlation_id: i32,
    version: i16,
    response: &FetchResponse,
) -> Result<FrameChunks, CodecError> {
    if !(FETCH_RESPONSE_MIN_VERSION..=FETCH_RESPONSE_MAX_VERSION).contains(&version) {
        return Err(refused(format!("version {version} is not supported")));
    }
    let mut writer = ChunkWriter::for_response(response);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let header_version = FetchResponse::header_version(version);
    encoded(
        "response header",
        &header,
        &mut writer.envelope,
        header_version,
    )?;
    write_response(&mut writer, response, version)?;
    Ok(writer.finish())
}

/// Gathers the envelope in one buffer and splits it off as a chunk whenever
/// shared record bytes must follow, so the envelope costs one allocation.
struct ChunkWriter {
    envelope: BytesMut,
    chunks: FrameChunks,
}

impl ChunkWriter {
    /// Sized for `response`: an envelope estimate, and at most two chunks
    /// per partition (the envelope before its records, the records) plus the
    /// last envelope piece.
    fn for_response(response: &FetchResponse) -> Self {
        let partitions: usize = response.responses.iter().map(|t| t.partitions.len()).sum();
        Self {
            envelope: BytesMut::with_capacity(envelope_estimate(response)),
            chunks: FrameChunks::with_capacity(2 * partitions + 1),
        }
    }

    /// Appends `bytes` as its own chunk, after the envelope written so far.
    fn push_shared(&mut self, bytes: &Bytes) {
        if bytes.is_empty() {
            return;
        }
        if !self.envelope.is_empty() {
            self.chunks.push(self.envelope.split().freeze());
        }
        self.chunks.push(bytes.clone());
    }

    fn finish(mut self) -> FrameChunks {
        if !self.envelope.is_empty() {
            self.chunks.push(self.envelope.freeze());
        }
        self.chunks
    }
}

fn envelope_estimate(response: &FetchResponse) -> usize {
    response
        .responses
        .iter()
        .map(|topic| {
            TOPIC_ENVELOPE_ESTIMATE
                + topic.topic.len()
                + topic.partitions.len() * PARTITION_ENVELOPE_ESTIMATE
        })
        .sum::<usize>()
        + RESPONSE_ENVELOPE_ESTIMATE
}

fn refused(reason: String) -> CodecError {
    CodecError {
        what: "fetch response",
        reason,
    }
}

fn encoded<T: Encodable>(
    what: &'static str,
    value: &T,
    buf: &mut BytesMut,
    version: i16,
) -> Result<(), CodecError> {
    value.encode(buf, version).map_err(|e| CodecError {
        what,
        reason: e.to_string(),
    })
}

fn encoded_size<T: Encodable>(
    what: &'static str,
    value: &T,
    version: i16,
) -> Result<usize, CodecError> {
    value.compute_size(version).map_err(|e| CodecError {
        what,
        reason: e.to_string(),
    })
}

fn write_response(
    writer: &mut ChunkWriter,
    response: &FetchResponse,
    version: i16,
) -> Result<(), CodecError> {
    let flexible = version >= FLEXIBLE_VERSION;
    let buf = &mut writer.envelope;
    buf.put_i32(response.throttle_time_ms);
    if version >= SESSION_VERSION {
        buf.put_i16(response.error_code);
        buf.put_i32(response.session_id);
    } else if response.session_id != 0 {
        return Err(refused(format!("session_id needs v{SESSION_VERSION}")));
    }
    put_nullable_length(buf, Some(response.responses.len()), flexible)?;
    for topic in &response.responses {
        write_topic(writer, topic, version)?;
    }
    if flexible {
        write_response_tags(&mut writer.envelope, response, version)?;
    }
    Ok(())
}

fn write_response_tags(
    buf: &mut BytesMut,
    response: &FetchResponse,
    version: i16,
) -> Result<(), CodecError> {
    check_unknown_tags(&response.unknown_tagged_fields, RESPONSE_KNOWN_TAGS)?;
    let endpoints = version >= NODE_ENDPOINTS_VERSION && !response.node_endpoints.is_empty();
    put_tag_count(
        buf,
        response.unknown_tagged_fields.len() + usize::from(endpoints),
    )?;
    if endpoints {
        let items = response.node_endpoints.len();
        let mut size = varint_size(compact_length(items)?);
        for endpoint in &response.node_endpoints {
            size += encoded_size("node endpoint", endpoint, version)?;
        }
        put_varint(buf, 0);
        put_varint(buf, tag_size(size)?);
        put_varint(buf, compact_length(items)?);
        for endpoint in &response.node_endpoints {
            encoded("node endpoint", endpoint, buf, version)?;
        }
    }
    put_unknown_tags(buf, &response.unknown_tagged_fields)
}

fn write_topic(
    writer: &mut ChunkWriter,
    topic: &FetchableTopicResponse,
    version: i16,
) -> Result<(), CodecError> {
    let flexible = version >= FLEXIBLE_VERSION;
    let buf = &mut writer.envelope;
    if version < TOPIC_ID_VERSION {
        put_string(buf, topic.topic.as_bytes(), flexible)?;
    } else {
        buf.put_slice(topic.topic_id.as_bytes());
    }
    put_nullable_length(buf, Some(topic.partitions.len()), flexible)?;
    for partition in &topic.partitions {
        write_partition(writer, partition, version)?;
    }
    if flexible {
        let buf = &mut writer.envelope;
        check_unknown_tags(&topic.unknown_tagged_fields, TOPIC_KNOWN_TAGS)?;
        put_tag_count(buf, topic.unknown_tagged_fields.len())?;
        put_unknown_tags(buf, &topic.unknown_tagged_fields)?;
    }
    Ok(())
}

fn write_partition(
    writer: &mut ChunkWriter,
    partition: &PartitionData,
    version: i16,
) -> Result<(), CodecError> {
    let flexible = version >= FLEXIBLE_VERSION;
    let buf = &mut writer.envelope;
    buf.put_i32(partition.partition_index);
    buf.put_i16(partition.error_code);
    buf.put_i64(partition.high_watermark);
    buf.put_i64(partition.last_stable_offset);
    if version >= LOG_START_OFFSET_VERSION {
        buf.put_i64(partition.log_start_offset);
    }
    let aborted = partition.aborted_transactions.as_deref();
    put_nullable_length(buf, aborted.map(<[_]>::len), flexible)?;
    for transaction in aborted.unwrap_or_default() {
        encoded("aborted transaction", transaction, buf, version)?;
    }
    if version >= PREFERRED_READ_REPLICA_VERSION {
        buf.put_i32(*partition.preferred_read_replica);
    } else if *partition.preferred_read_replica != -1 {
        return Err(refused(format!(
            "preferred_read_replica needs v{PREFERRED_READ_REPLICA_VERSION}"
        )));
    }
    put_nullable_length(buf, partition.records.as_ref().map(Bytes::len), flexible)?;
    if let Some(records) = &partition.records {
        writer.push_shared(records);
    }
    if flexible {
        write_partition_tags(&mut writer.envelope, partition, version)?;
    }
    Ok(())
}

/// The partition's tagged fields, each written only when it differs from its
/// default, in tag order, as `kafka-protocol` does.
fn write_partition_tags(
    buf: &mut BytesMut,
    partition: &PartitionData,
    version: i16,
) -> Result<(), CodecError> {
    check_unknown_tags(&partition.unknown_tagged_fields, PARTITION_KNOWN_TAGS)?;
    let diverging = partition.diverging_epoch != Default::default();
    let leader = partition.current_leader != Default::default();
    let snapshot = partition.snapshot_id != Default::default();
    let known = usize::from(diverging) + usize::from(leader) + usize::from(snapshot);
    put_tag_count(buf, partition.unknown_tagged_fields.len() + known)?;
    if diverging {
        put_struct_tag(
            buf,
            0,
            "diverging epoch",
            &partition.diverging_epoch,
            version,
        )?;
    }
    if leader {
        put_struct_tag(buf, 1, "current leader", &partition.current_leader, version)?;
    }
    if snapshot {
        put_struct_tag(buf, 2, "snapshot id", &partition.snapshot_id, version)?;
    }
    put_unknown_tags(buf, &partition.unknown_tagged_fields)
}

fn put_struct_tag<T: Encodable>(
    buf: &mut BytesMut,
    tag: u32,
    what: &'static str,
    value: &T,
    version: i16,
) -> Result<(), CodecError> {
    let size = encoded_size(what, value, version)?;
    put_varint(buf, tag);
    put_varint(buf, tag_size(size)?);
    encoded(what, value, buf, version)
}

fn check_unknown_tags(tags: &BTreeMap<i32, Bytes>, first_free: i32) -> Result<(), CodecError> {
    match tags.keys().next() {
        Some(&tag) if tag < first_free => Err(refused(format!(
            "unknown tagged field {tag} collides with a known tag"
        ))),
        _ => Ok(()),
    }
}

fn put_unknown_tags(buf: &mut BytesMut, tags: &BTreeMap<i32, Bytes>) -> Result<(), CodecError> {
    for (&tag, value) in tags {
        let tag = u32::try_from(tag).map_err(|_| refused(format!("negative tag {tag}")))?;
        put_varint(buf, tag);
        put_varint(buf, tag_size(value.len())?);
        buf.put_slice(value);
    }
    Ok(())
}

fn put_tag_count(buf: &mut BytesMut, count: usize) -> Result<(), CodecError> {
    let count = u32::try_from(count).map_err(|_| refused(format!("{count} tagged fields")))?;
    put_varint(buf, count);
    Ok(())
}

fn tag_size(size: usize) -> Result<u32, CodecError> {
    u32::try_from(size).map_err(|_| refused(format!("tagged field of {size} bytes")))
}

/// A string: `i16` length, or (flexible) unsigned varint length + 1.
fn put_string(buf: &mut BytesMut, text: &[u8], flexible: bool) -> Result<(), CodecError> {
    let too_long = || refused(format!("string of {} bytes", text.len()));
    if flexible {
        put_varint(buf, compact_length(text.len()).map_err(|_| too_long())?);
    } else {
        buf.put_i16(i16::try_from(text.len()).map_err(|_| too_long())?);
    }
    buf.put_slice(text);
    Ok(())
}

/// A nullable array's or byte string's length: `i32` (-1 for null), or
/// (flexible) unsigned varint length + 1 (0 for null).
fn put_nullable_length(
    buf: &mut BytesMut,
    length: Option<usize>,
    flexible: bool,
) -> Result<(), CodecError> {
    match (length, flexible) {
        (None, true) => put_varint(buf, 0),
        (None, false) => buf.put_i32(-1),
        (Some(length), true) => put_varint(buf, compact_length(length)?),
        (Some(length), false) => {
            buf.put_i32(i32::try_from(length).map_err(|_| refused(format!("length {length}")))?)
        }
    }
    Ok(())
}

/// A compact length: the length plus one, as an unsigned varint.
fn compact_length(length: usize) -> Result<u32, CodecError> {
    u32::try_from(length)
        .ok()
        .and_then(|length| length.checked_add(1))
        .ok_or_else(|| refused(format!("compact length {length}")))
}

fn put_varint(buf: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        // Truncation keeps the low seven bits, which is the point.
        #[allow(clippy::cast_possible_truncation)]
        buf.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    #[allow(clippy::cast_possible_truncation)]
    buf.put_u8(value as u8);
}

fn varint_size(value: u32) -> usize {
    match value {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0xfff_ffff => 4,
        _ => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode_response;
    use kafka_protocol::messages::fetch_response::AbortedTransaction;

    fn response_with_records(records: &'static [u8]) -> FetchResponse {
        let partition = PartitionData::default()
            .with_partition_index(3)
            .with_high_watermark(10)
            .with_records(Some(Bytes::from_static(records)));
        let topic = FetchableTopicResponse::default()
            .with_topic(kafka_protocol::messages::TopicName(
                kafka_protocol::protocol::StrBytes::from_static_str("events"),
            ))
            .with_partitions(vec![partition]);
        FetchResponse::default().with_responses(vec![topic])
    }

    #[test]
    fn records_are_shared_not_copied() {
        static RECORDS: [u8; 64] = [7; 64];
        let chunks = encode_fetch_response(1, 12, &response_with_records(&RECORDS)).unwrap();
        let shared = chunks
            .chunks()
            .iter()
            .find(|chunk| chunk.len() == RECORDS.len())
            .expect("the records are one chunk");
        assert_eq!(shared.as_ptr(), RECORDS.as_ptr());
    }

    #[test]
    fn chunks_match_kafka_protocol_for_every_version() {
        let response = response_with_records(b"not really a batch");
        for version in FETCH_RESPONSE_MIN_VERSION..=FETCH_RESPONSE_MAX_VERSION {
            let expected = encode_response(42, version, &response).unwrap();
            let chunks = encode_fetch_response(42, version, &response).unwrap();
            assert_eq!(chunks.to_bytes(), expected, "version {version}");
        }
    }

    #[test]
    fn session_id_before_v7_is_refused() {
        let response = FetchResponse::default().with_session_id(5);
        assert!(encode_fetch_response(1, 6, &response).is_err());
        assert!(encode_fetch_response(1, 7, &response).is_ok());
    }

    #[test]
    fn unknown_tag_colliding_with_a_known_tag_is_refused() {
        let partition = PartitionData::default().with_unknown_tagged_field(1, Bytes::new());
        let topic = FetchableTopicResponse::default().with_partitions(vec![partition]);
        let response = FetchResponse::default().with_responses(vec![topic]);
        assert!(encode_fetch_response(1, 12, &response).is_err());
    }

    #[test]
    fn null_aborted_transactions_encode_as_null_arrays() {
        let partition = PartitionData::default()
            .with_aborted_transactions(None)
            .with_records(None);
        let with_aborted = PartitionData::default().with_aborted_transactions(Some(vec![
            AbortedTransaction::default().with_first_offset(9),
        ]));
        let topic =
            FetchableTopicResponse::default().with_partitions(vec![partition, with_aborted]);
        let response = FetchResponse::default().with_responses(vec![topic]);
        for version in [4, 11, 12, 16] {
            let expected = encode_response(8, version, &response).unwrap();
            let chunks = encode_fetch_response(8, version, &response).unwrap();
            assert_eq!(chunks.to_bytes(), expected, "version {version}");
        }
    }
}

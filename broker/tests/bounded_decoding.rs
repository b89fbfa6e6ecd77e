//! What the broker reads back from its own disk at start never sizes memory
//! by a count the bytes cannot justify (issue 21): `__consumer_offsets`
//! records replayed into the group coordinator, and the topic registry.
//!
//! The counting allocator is the protocol crate's test one (one copy).

#[path = "../../protocol/tests/allocation/mod.rs"]
mod allocation;

use allocation::{CountingAllocator, largest_allocation};
use sluice_broker::group::records::{GroupValue, decode_group_value, encode_group_value};
use sluice_broker::group::{GroupConfig, GroupCoordinator, RecordError};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Reading one record of a few hundred kilobytes may not allocate more than this at once.
const MAX_ALLOCATION_BYTES: usize = 1024 * 1024;

/// A `GroupMetadataValue` claiming `members` members, followed by `padding`
/// zero bytes: enough bytes for one byte per member, far too few for a
/// member each.
fn group_value_claiming(members: i32, padding: usize) -> Vec<u8> {
    let mut value = encode_group_value(&GroupValue {
        protocol_type: "consumer".to_owned(),
        generation: 1,
        protocol: Some("range".to_owned()),
        leader: None,
        current_state_timestamp_ms: 0,
        members: Vec::new(),
    })
    .to_vec();
    let count_at = value.len() - 4;
    value[count_at..].copy_from_slice(&members.to_be_bytes());
    value.resize(value.len() + padding, 0);
    value
}

#[test]
fn member_count_the_record_cannot_hold_is_malformed_without_reserving_for_it() {
    // 200,000 members in 200 KB: one byte each, where a member takes 15 or more.
    let value = group_value_claiming(200_000, 200_000);
    let (result, largest) = largest_allocation(|| decode_group_value(&value));
    assert!(
        matches!(result, Err(RecordError::Malformed { .. })),
        "{result:?}"
    );
    assert!(largest < MAX_ALLOCATION_BYTES, "{largest} bytes");
}

#[test]
fn member_count_of_2_pow_31_is_malformed_without_reserving_for_it() {
    let value = group_value_claiming(i32::MAX, 64);
    let (result, largest) = largest_allocation(|| decode_group_value(&value));
    assert!(
        matches!(result, Err(RecordError::Malformed { .. })),
        "{result:?}"
    );
    assert!(largest < MAX_ALLOCATION_BYTES, "{largest} bytes");
}

#[test]
fn replaying_a_group_record_with_a_huge_member_count_fails_that_record_only() {
    let mut coordinator = GroupCoordinator::new(GroupConfig::default());
    // Key version 2 (group metadata) for group "g".
    let key = [0, 2, 0, 1, b'g'];
    let value = group_value_claiming(200_000, 200_000);
    let (result, largest) =
        largest_allocation(|| coordinator.load_record(&key, Some(&value), 1_700_000_000_000));
    assert!(
        matches!(result, Err(RecordError::Malformed { .. })),
        "{result:?}"
    );
    assert!(largest < MAX_ALLOCATION_BYTES, "{largest} bytes");
    // The coordinator still loads a good record after it.
    let good = group_value_claiming(0, 0);
    assert_eq!(
        coordinator.load_record(&key, Some(&good), 1_700_000_000_000),
        Ok(())
    );
}

//! Fixtures for assignor tests.

use std::collections::BTreeMap;

use super::MemberSubscription;

/// Partition counts by topic.
pub(crate) fn topics(counts: &[(&str, i32)]) -> BTreeMap<String, i32> {
    counts.iter().map(|(t, c)| ((*t).to_owned(), *c)).collect()
}

/// Members named `ids`, each subscribed to `subscribed`, owning nothing.
pub(crate) fn members(ids: &[&str], subscribed: &[&str]) -> Vec<MemberSubscription> {
    ids.iter()
        .map(|id| MemberSubscription {
            member_id: (*id).to_owned(),
            group_instance_id: None,
            topics: subscribed.iter().map(|t| (*t).to_owned()).collect(),
            owned_partitions: Vec::new(),
            generation: -1,
        })
        .collect()
}

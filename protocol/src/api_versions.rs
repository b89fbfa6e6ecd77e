//! The one table of supported API versions.
//!
//! The broker advertises exactly these ranges in its ApiVersions response and
//! dispatch refuses anything outside them, so the two can never disagree.
//! Minimums follow Kafka 4.0 (KIP-896 removed the older versions); maximums
//! are the versions Sluice implements and tests.

use kafka_protocol::messages::ApiKey;

/// A supported API: its key and the inclusive version range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportedApi {
    /// The API.
    pub api_key: ApiKey,
    /// The oldest version served.
    pub min_version: i16,
    /// The newest version served.
    pub max_version: i16,
}

const fn api(api_key: ApiKey, min_version: i16, max_version: i16) -> SupportedApi {
    SupportedApi {
        api_key,
        min_version,
        max_version,
    }
}

/// Every API the broker serves, in API-key order.
///
/// DescribeQuorum is served only by a node that runs a controller (the
/// broker leaves it out of ApiVersions otherwise).
pub const SUPPORTED_APIS: &[SupportedApi] = &[
    api(ApiKey::Produce, 3, 12),
    api(ApiKey::Fetch, 4, 16),
    api(ApiKey::ListOffsets, 1, 10),
    api(ApiKey::Metadata, 0, 12),
    api(ApiKey::OffsetCommit, 2, 9),
    api(ApiKey::OffsetFetch, 1, 9),
    api(ApiKey::FindCoordinator, 0, 5),
    api(ApiKey::JoinGroup, 0, 9),
    api(ApiKey::Heartbeat, 0, 4),
    api(ApiKey::LeaveGroup, 0, 5),
    api(ApiKey::SyncGroup, 0, 5),
    api(ApiKey::DescribeGroups, 0, 6),
    api(ApiKey::ListGroups, 0, 5),
    api(ApiKey::ApiVersions, 0, 4),
    api(ApiKey::CreateTopics, 2, 7),
    api(ApiKey::DeleteTopics, 1, 6),
    api(ApiKey::DeleteRecords, 0, 2),
    api(ApiKey::InitProducerId, 0, 5),
    api(ApiKey::DescribeConfigs, 1, 4),
    api(ApiKey::AlterConfigs, 0, 2),
    api(ApiKey::DescribeLogDirs, 1, 4),
    api(ApiKey::CreatePartitions, 0, 3),
    api(ApiKey::DeleteGroups, 0, 2),
    api(ApiKey::ElectLeaders, 0, 2),
    api(ApiKey::IncrementalAlterConfigs, 0, 1),
    api(ApiKey::OffsetDelete, 0, 0),
    api(ApiKey::DescribeQuorum, 0, 2),
    api(ApiKey::DescribeCluster, 0, 1),
    api(ApiKey::DescribeProducers, 0, 0),
];

/// The served range for `api_key`, or `None` when the API is not served.
pub fn supported_versions(api_key: ApiKey) -> Option<SupportedApi> {
    SUPPORTED_APIS
        .iter()
        .copied()
        .find(|s| s.api_key == api_key)
}

/// Whether `version` of `api_key` is served.
pub fn is_supported(api_key: ApiKey, version: i16) -> bool {
    supported_versions(api_key).is_some_and(|s| (s.min_version..=s.max_version).contains(&version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_advertised_range_is_within_what_the_codecs_support() {
        for s in SUPPORTED_APIS {
            let codec = s.api_key.valid_versions();
            assert!(s.min_version <= s.max_version, "{:?}", s.api_key);
            assert!(
                codec.min <= s.min_version && s.max_version <= codec.max,
                "{:?}",
                s.api_key
            );
        }
    }

    #[test]
    fn table_has_one_entry_per_api() {
        for (i, a) in SUPPORTED_APIS.iter().enumerate() {
            assert!(
                SUPPORTED_APIS[i + 1..]
                    .iter()
                    .all(|b| b.api_key != a.api_key)
            );
        }
    }

    #[test]
    fn versions_outside_the_range_are_not_supported() {
        assert!(is_supported(ApiKey::ApiVersions, 3));
        assert!(!is_supported(ApiKey::ApiVersions, 5));
        assert!(!is_supported(ApiKey::Produce, 2));
    }
}

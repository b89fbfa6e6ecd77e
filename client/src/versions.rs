//! Which version of each Kafka API this client speaks, and the negotiation with
//! a broker's ApiVersions answer: for each API, the highest version both sides
//! support.

use std::collections::HashMap;

use kafka_protocol::messages::ApiKey;

/// One API this client encodes, with the version range its code handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientApi {
    /// The Kafka API key.
    pub key: ApiKey,
    /// The API's name for messages.
    pub name: &'static str,
    /// Lowest version the client can encode and decode.
    pub min_version: i16,
    /// Highest version the client can encode and decode.
    pub max_version: i16,
}

const fn api(key: ApiKey, name: &'static str, min_version: i16, max_version: i16) -> ClientApi {
    ClientApi {
        key,
        name,
        min_version,
        max_version,
    }
}

/// The versions this client's code builds and reads.
///
/// Ceilings stop where a request's *shape* changes in a way our code does not
/// yet fill in: Produce v13 and Fetch v13 name topics by id (KIP-516),
/// DeleteTopics v6 moves names into `topics`, OffsetFetch v8 batches groups,
/// OffsetCommit v9+ is the KIP-848 consumer. Floors stop where a shape we
/// rely on appears: OffsetFetch v2 is the first to fetch all topics (null). Raising a ceiling means teaching
/// the request builder the new shape first.
pub const CLIENT_APIS: &[ClientApi] = &[
    api(ApiKey::Produce, "Produce", 3, 12),
    api(ApiKey::Fetch, "Fetch", 4, 12),
    api(ApiKey::ListOffsets, "ListOffsets", 1, 9),
    api(ApiKey::Metadata, "Metadata", 1, 12),
    api(ApiKey::OffsetCommit, "OffsetCommit", 2, 8),
    api(ApiKey::OffsetFetch, "OffsetFetch", 2, 7),
    api(ApiKey::FindCoordinator, "FindCoordinator", 0, 6),
    api(ApiKey::JoinGroup, "JoinGroup", 0, 9),
    api(ApiKey::Heartbeat, "Heartbeat", 0, 4),
    api(ApiKey::LeaveGroup, "LeaveGroup", 0, 5),
    api(ApiKey::SyncGroup, "SyncGroup", 0, 5),
    api(ApiKey::DescribeGroups, "DescribeGroups", 0, 5),
    api(ApiKey::ListGroups, "ListGroups", 0, 4),
    api(ApiKey::ApiVersions, "ApiVersions", 0, 3),
    api(ApiKey::CreateTopics, "CreateTopics", 2, 7),
    api(ApiKey::DeleteTopics, "DeleteTopics", 1, 5),
    api(ApiKey::InitProducerId, "InitProducerId", 0, 5),
    api(ApiKey::DescribeConfigs, "DescribeConfigs", 1, 4),
    api(ApiKey::CreatePartitions, "CreatePartitions", 0, 3),
    api(ApiKey::DeleteGroups, "DeleteGroups", 0, 2),
    api(
        ApiKey::IncrementalAlterConfigs,
        "IncrementalAlterConfigs",
        0,
        1,
    ),
    api(ApiKey::DescribeQuorum, "DescribeQuorum", 0, 2),
];

/// The client's entry for an API key, if the client speaks it.
pub fn client_api(key: i16) -> Option<&'static ClientApi> {
    CLIENT_APIS.iter().find(|api| api.key as i16 == key)
}

/// The name of an API key for messages.
pub fn api_name(key: i16) -> &'static str {
    client_api(key).map_or("Unknown", |api| api.name)
}

/// A broker's advertised range for one API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerApi {
    /// The API key.
    pub key: i16,
    /// Lowest version the broker accepts.
    pub min_version: i16,
    /// Highest version the broker accepts.
    pub max_version: i16,
}

/// Why a request cannot be sent to a broker: no common version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionMismatch {
    /// The API name.
    pub api: &'static str,
    /// The broker's range, `None` when the broker does not list the API.
    pub broker: Option<(i16, i16)>,
    /// The client's range, `None` when the client does not speak the API.
    pub client: Option<(i16, i16)>,
}

/// The outcome of ApiVersions negotiation with one broker: the version to use
/// for each API both sides speak.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiVersionTable {
    chosen: HashMap<i16, i16>,
    broker: HashMap<i16, (i16, i16)>,
}

impl ApiVersionTable {
    /// Negotiates against a broker's advertised ranges.
    pub fn negotiate(broker_apis: &[BrokerApi]) -> Self {
        let mut table = ApiVersionTable::default();
        for broker_api in broker_apis {
            table.broker.insert(
                broker_api.key,
                (broker_api.min_version, broker_api.max_version),
            );
            let Some(ours) = client_api(broker_api.key) else {
                continue;
            };
            let low = ours.min_version.max(broker_api.min_version);
            let high = ours.max_version.min(broker_api.max_version);
            if low <= high {
                table.chosen.insert(broker_api.key, high);
            }
        }
        table
    }

    /// The version to send for `key`.
    ///
    /// # Errors
    /// A [`VersionMismatch`] describing both ranges when there is no overlap.
    pub fn version(&self, key: i16) -> Result<i16, VersionMismatch> {
        self.chosen
            .get(&key)
            .copied()
            .ok_or_else(|| VersionMismatch {
                api: api_name(key),
                broker: self.broker.get(&key).copied(),
                client: client_api(key).map(|api| (api.min_version, api.max_version)),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(key: ApiKey, min_version: i16, max_version: i16) -> BrokerApi {
        BrokerApi {
            key: key as i16,
            min_version,
            max_version,
        }
    }

    #[test]
    fn client_table_stays_inside_what_kafka_protocol_encodes() {
        for api in CLIENT_APIS {
            let codec = api.key.valid_versions();
            assert!(api.min_version <= api.max_version, "{}", api.name);
            assert!(
                api.min_version >= codec.min && api.max_version <= codec.max,
                "{}",
                api.name
            );
        }
    }

    #[test]
    fn client_table_has_each_key_once() {
        for (index, api) in CLIENT_APIS.iter().enumerate() {
            assert!(
                CLIENT_APIS[index + 1..]
                    .iter()
                    .all(|other| other.key != api.key),
                "{}",
                api.name
            );
        }
    }

    #[test]
    fn negotiation_picks_highest_common_version() {
        let table = ApiVersionTable::negotiate(&[broker(ApiKey::Metadata, 0, 9)]);
        assert_eq!(table.version(ApiKey::Metadata as i16), Ok(9));
        let table = ApiVersionTable::negotiate(&[broker(ApiKey::Metadata, 0, 99)]);
        assert_eq!(table.version(ApiKey::Metadata as i16), Ok(12));
    }

    #[test]
    fn disjoint_ranges_report_both_sides() {
        let table = ApiVersionTable::negotiate(&[broker(ApiKey::CreateTopics, 8, 9)]);
        let mismatch = table.version(ApiKey::CreateTopics as i16);
        assert_eq!(
            mismatch,
            Err(VersionMismatch {
                api: "CreateTopics",
                broker: Some((8, 9)),
                client: Some((2, 7))
            })
        );
    }

    #[test]
    fn api_the_broker_does_not_list_is_unsupported() {
        let table = ApiVersionTable::negotiate(&[]);
        let mismatch = table.version(ApiKey::Fetch as i16).err();
        assert_eq!(mismatch.and_then(|m| m.broker), None);
    }
}

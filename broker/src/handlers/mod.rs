//! One module per Kafka API; each exposes `handle(ctx, request) -> response`.
//!
//! Handlers never fail: every problem becomes an error code in the response,
//! the way Kafka answers. Only frames that cannot be parsed close the
//! connection, and that is decided in `dispatch`.

pub mod alter_configs;
pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_quorum;
pub mod elect_leaders;
pub mod fetch;
pub mod find_coordinator;
pub mod groups;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod list_offsets;
pub mod metadata;
pub mod offsets;
pub mod produce;

use kafka_protocol::protocol::StrBytes;

/// Kafka's "authorized operations were not requested" marker.
pub const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// A `StrBytes` copy of `text`.
pub fn str_bytes(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

/// Splits `host:port` into its parts (the port defaults to Kafka's 9092).
pub fn host_and_port(address: &str) -> (String, i32) {
    match address.rsplit_once(':') {
        Some((host, port)) => (
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port.parse().unwrap_or(9092),
        ),
        None => (address.to_owned(), 9092),
    }
}

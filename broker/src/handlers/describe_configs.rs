//! DescribeConfigs: topic configs (effective values, overrides marked), the
//! node's static settings and the (empty) cluster-wide broker defaults.

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;
use sluice_protocol::ErrorCode;

use super::create_topics::config_source;
use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::RequestContext;

/// Kafka's `ConfigResource.Type` codes.
pub mod resource_type {
    /// A topic.
    pub const TOPIC: i8 = 2;
    /// A broker.
    pub const BROKER: i8 = 4;
}

/// One config as reported: name, value, source, read-only.
type Entry = (String, String, i8, bool);

/// Answers a DescribeConfigs request.
pub async fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let broker = ctx.broker;
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let entries = match resource.resource_type {
                resource_type::TOPIC => topic_entries(broker, &resource.resource_name),
                resource_type::BROKER => broker_entries(broker, &resource.resource_name),
                _ => Err(ErrorCode::InvalidRequest),
            };
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            match entries {
                Ok(entries) => {
                    result.with_configs(select(entries, resource.configuration_keys.as_deref()))
                }
                Err(code) => result
                    .with_error_code(code.code())
                    .with_error_message(Some(str_bytes(code.name()))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// Keeps the requested configs; like Kafka, a null *or empty* key list means all of them.
fn select(entries: Vec<Entry>, keys: Option<&[StrBytes]>) -> Vec<DescribeConfigsResourceResult> {
    let keys = keys.filter(|keys| !keys.is_empty());
    entries
        .into_iter()
        .filter(|(name, ..)| keys.is_none_or(|keys| keys.iter().any(|k| k.as_str() == name)))
        .map(|(name, value, source, read_only)| {
            DescribeConfigsResourceResult::default()
                .with_name(str_bytes(&name))
                .with_value(Some(str_bytes(&value)))
                .with_config_source(source)
                .with_read_only(read_only)
        })
        .collect()
}

fn topic_entries(broker: &Broker, name: &str) -> Result<Vec<Entry>, ErrorCode> {
    let topic = broker
        .topic(name)
        .ok_or(ErrorCode::UnknownTopicOrPartition)?;
    Ok(broker
        .topic_config_entries(&topic)?
        .into_iter()
        .map(|e| {
            let source = if e.is_override {
                config_source::DYNAMIC_TOPIC_CONFIG
            } else {
                config_source::DEFAULT_CONFIG
            };
            (e.name, e.value, source, false)
        })
        .collect())
}

/// The configs of broker `name`: this node's settings, or for the empty name
/// the cluster-wide dynamic defaults, which is all Kafka reports there
/// (kadm's `DescribeBrokerConfigs()` asks for it); Sluice has no dynamic
/// configs, so that list is empty.
fn broker_entries(broker: &Broker, name: &str) -> Result<Vec<Entry>, ErrorCode> {
    if name.is_empty() {
        return Ok(Vec::new());
    }
    if name != broker.node_id().to_string() {
        return Err(ErrorCode::InvalidRequest);
    }
    let config = broker.config();
    let settings = [
        ("node.id", config.node_id.to_string()),
        ("listeners", config.listeners.clone()),
        (
            "advertised.listeners",
            config.advertised_address().to_owned(),
        ),
        ("log.dirs", config.data_dir.display().to_string()),
        ("message.max.bytes", config.message_max_bytes.to_string()),
        (
            "socket.request.max.bytes",
            config.socket_request_max_bytes.to_string(),
        ),
        (
            "connections.max.idle.ms",
            config.connections_max_idle_ms.to_string(),
        ),
        (
            "auto.create.topics.enable",
            config.auto_create_topics_enable.to_string(),
        ),
        ("num.partitions", config.num_partitions.to_string()),
        (
            "default.replication.factor",
            config.default_replication_factor.to_string(),
        ),
        (
            "offsets.topic.num.partitions",
            config.offsets_topic_num_partitions.to_string(),
        ),
        ("fetch.max.bytes", config.fetch_max_bytes.to_string()),
    ];
    let log_defaults = config
        .log
        .entries()
        .into_iter()
        .map(|(name, value)| (format!("log.{name}"), value));
    Ok(settings
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .chain(log_defaults)
        .map(|(name, value)| (name, value, config_source::STATIC_BROKER_CONFIG, true))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<Entry> {
        vec![
            ("retention.ms".to_owned(), "604800000".to_owned(), 5, false),
            (
                "segment.bytes".to_owned(),
                "1073741824".to_owned(),
                5,
                false,
            ),
        ]
    }

    fn names(results: &[DescribeConfigsResourceResult]) -> Vec<&str> {
        results.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn null_or_empty_key_list_describes_every_config() {
        assert_eq!(names(&select(entries(), None)).len(), 2);
        assert_eq!(names(&select(entries(), Some(&[]))).len(), 2);
    }

    #[test]
    fn named_keys_describe_only_those_configs() {
        let keys = [StrBytes::from_static_str("segment.bytes")];
        assert_eq!(names(&select(entries(), Some(&keys))), ["segment.bytes"]);
    }
}

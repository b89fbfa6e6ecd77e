//! DescribeConfigs: topic configs (effective values, overrides marked), the
//! node's static settings and the (empty) cluster-wide broker defaults.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;
use sluice_protocol::ErrorCode;

use super::create_topics::config_source;
use super::str_bytes;
use crate::broker::Broker;
use crate::config::{BrokerConfig, broker_setting_for_topic_config};
use crate::dispatch::RequestContext;

/// Kafka's `ConfigResource.Type` codes.
pub mod resource_type {
    /// A topic.
    pub const TOPIC: i8 = 2;
    /// A broker.
    pub const BROKER: i8 = 4;
}

/// One config as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    name: String,
    value: String,
    /// Where the value comes from: the first synonym's source.
    source: i8,
    read_only: bool,
    /// Where the value could come from, in precedence order (KIP-226).
    synonyms: Vec<Synonym>,
}

/// A setting that supplies, or would supply, a config's value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Synonym {
    name: String,
    value: String,
    source: i8,
}

impl Entry {
    fn new(name: String, value: String, read_only: bool, synonyms: Vec<Synonym>) -> Self {
        let source = synonyms
            .first()
            .map_or(config_source::DEFAULT_CONFIG, |s| s.source);
        Entry {
            name,
            value,
            source,
            read_only,
            synonyms,
        }
    }
}

/// The node's broker settings next to their built-in defaults.
///
/// The config file is not remembered key by key, so a setting counts as
/// configured (STATIC_BROKER_CONFIG) when its value differs from the default.
struct BrokerSettings {
    current: BTreeMap<&'static str, String>,
    defaults: BTreeMap<&'static str, String>,
}

impl BrokerSettings {
    fn of(broker: &Broker) -> Self {
        BrokerSettings {
            current: broker.config().kafka_settings().into_iter().collect(),
            defaults: BrokerConfig::default()
                .kafka_settings()
                .into_iter()
                .collect(),
        }
    }

    /// Where broker setting `name` comes from: the configured value when it is
    /// not the default, then the default, as Kafka lists them.
    fn synonyms(&self, name: &str) -> Vec<Synonym> {
        let synonym = |value: &String, source| Synonym {
            name: name.to_owned(),
            value: value.clone(),
            source,
        };
        let current = self.current.get(name);
        let default = self.defaults.get(name);
        let configured = current
            .filter(|value| Some(*value) != default)
            .map(|value| synonym(value, config_source::STATIC_BROKER_CONFIG));
        let built_in = default.map(|value| synonym(value, config_source::DEFAULT_CONFIG));
        configured.into_iter().chain(built_in).collect()
    }
}

/// Answers a DescribeConfigs request.
pub async fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let broker = ctx.broker;
    let settings = BrokerSettings::of(broker);
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let entries = match resource.resource_type {
                resource_type::TOPIC => topic_entries(broker, &settings, &resource.resource_name),
                resource_type::BROKER => broker_entries(broker, &settings, &resource.resource_name),
                _ => Err(ErrorCode::InvalidRequest),
            };
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            match entries {
                Ok(entries) => result.with_configs(select(
                    entries,
                    resource.configuration_keys.as_deref(),
                    request.include_synonyms,
                )),
                Err(code) => result
                    .with_error_code(code.code())
                    .with_error_message(Some(str_bytes(code.name()))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// Keeps the requested configs; like Kafka, a null *or empty* key list means
/// all of them. Synonyms are reported only when asked for.
fn select(
    entries: Vec<Entry>,
    keys: Option<&[StrBytes]>,
    include_synonyms: bool,
) -> Vec<DescribeConfigsResourceResult> {
    let keys = keys.filter(|keys| !keys.is_empty());
    entries
        .into_iter()
        .filter(|e| keys.is_none_or(|keys| keys.iter().any(|k| k.as_str() == e.name)))
        .map(|e| {
            let synonyms = if include_synonyms {
                e.synonyms.iter().map(described_synonym).collect()
            } else {
                Vec::new()
            };
            DescribeConfigsResourceResult::default()
                .with_name(str_bytes(&e.name))
                .with_value(Some(str_bytes(&e.value)))
                .with_config_source(e.source)
                .with_read_only(e.read_only)
                .with_synonyms(synonyms)
        })
        .collect()
}

fn described_synonym(synonym: &Synonym) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym::default()
        .with_name(str_bytes(&synonym.name))
        .with_value(Some(str_bytes(&synonym.value)))
        .with_source(synonym.source)
}

/// A topic's configs: an override first, then the broker setting it falls
/// back to.
fn topic_entries(
    broker: &Broker,
    settings: &BrokerSettings,
    name: &str,
) -> Result<Vec<Entry>, ErrorCode> {
    let topic = broker
        .topic(name)
        .ok_or(ErrorCode::UnknownTopicOrPartition)?;
    Ok(broker
        .topic_config_entries(&topic)?
        .into_iter()
        .map(|e| {
            let topic_override = e.is_override.then(|| Synonym {
                name: e.name.clone(),
                value: e.value.clone(),
                source: config_source::DYNAMIC_TOPIC_CONFIG,
            });
            let broker_default = broker_setting_for_topic_config(&e.name)
                .map(|setting| settings.synonyms(setting))
                .unwrap_or_default();
            let synonyms = topic_override.into_iter().chain(broker_default).collect();
            Entry::new(e.name, e.value, false, synonyms)
        })
        .collect())
}

/// The configs of broker `name`: this node's settings, or for the empty name
/// the cluster-wide dynamic defaults, which is all Kafka reports there
/// (kadm's `DescribeBrokerConfigs()` asks for it); Sluice has no dynamic
/// configs, so that list is empty.
fn broker_entries(
    broker: &Broker,
    settings: &BrokerSettings,
    name: &str,
) -> Result<Vec<Entry>, ErrorCode> {
    if name.is_empty() {
        return Ok(Vec::new());
    }
    if name != broker.node_id().to_string() {
        return Err(ErrorCode::InvalidRequest);
    }
    Ok(settings
        .current
        .iter()
        .map(|(name, value)| {
            let synonyms = settings.synonyms(name);
            Entry::new((*name).to_owned(), value.clone(), true, synonyms)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_entry(name: &str, value: &str) -> Entry {
        let synonym = Synonym {
            name: format!("log.{name}"),
            value: value.to_owned(),
            source: config_source::DEFAULT_CONFIG,
        };
        Entry::new(name.to_owned(), value.to_owned(), false, vec![synonym])
    }

    fn entries() -> Vec<Entry> {
        vec![
            default_entry("retention.ms", "604800000"),
            default_entry("segment.bytes", "1073741824"),
        ]
    }

    fn names(results: &[DescribeConfigsResourceResult]) -> Vec<&str> {
        results.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn null_or_empty_key_list_describes_every_config() {
        assert_eq!(names(&select(entries(), None, false)).len(), 2);
        assert_eq!(names(&select(entries(), Some(&[]), false)).len(), 2);
    }

    #[test]
    fn named_keys_describe_only_those_configs() {
        let keys = [StrBytes::from_static_str("segment.bytes")];
        let selected = select(entries(), Some(&keys), false);
        assert_eq!(names(&selected), ["segment.bytes"]);
    }

    #[test]
    fn synonyms_are_described_only_when_asked_for() {
        assert!(select(entries(), None, false)[0].synonyms.is_empty());
        let with_synonyms = select(entries(), None, true);
        assert_eq!(
            with_synonyms[0].synonyms[0].name.as_str(),
            "log.retention.ms"
        );
    }

    #[test]
    fn an_entry_takes_the_source_of_its_first_synonym() {
        assert_eq!(entries()[0].source, config_source::DEFAULT_CONFIG);
        let unbacked = Entry::new(
            "preallocate".to_owned(),
            "false".to_owned(),
            false,
            Vec::new(),
        );
        assert_eq!(unbacked.source, config_source::DEFAULT_CONFIG);
    }
}

//! AlterConfigs: replace a topic's config overrides as a whole.
//!
//! The legacy, non-incremental form of IncrementalAlterConfigs (kafkajs
//! `alterConfigs`, Sarama `AlterConfig`): the entries sent become the topic's
//! complete set of overrides, so any override not named returns to the
//! broker default. Validation and persistence are the ones
//! IncrementalAlterConfigs uses ([`Broker::set_topic_configs`]), and broker
//! resources are refused the same way, so the two APIs agree.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_configs_request::AlterableConfig;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use sluice_protocol::ErrorCode;

use super::describe_configs::resource_type;
use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::RequestContext;

/// Answers an AlterConfigs request; each resource succeeds or fails as a whole.
pub async fn handle(
    ctx: &RequestContext<'_>,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let broker = ctx.broker;
    let responses = request
        .resources
        .into_iter()
        .map(|resource| {
            let result = match resource.resource_type {
                resource_type::TOPIC => replace_topic_configs(
                    broker,
                    &resource.resource_name,
                    &resource.configs,
                    request.validate_only,
                ),
                _ => Err(ErrorCode::InvalidRequest),
            };
            let response = AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name);
            match result {
                Ok(()) => response,
                Err(code) => response
                    .with_error_code(code.code())
                    .with_error_message(Some(str_bytes(code.name()))),
            }
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

fn replace_topic_configs(
    broker: &Broker,
    name: &str,
    entries: &[AlterableConfig],
    validate_only: bool,
) -> Result<(), ErrorCode> {
    let configs = overrides(entries)?;
    broker.set_topic_configs(name, configs, validate_only)
}

/// The requested overrides by name.
///
/// # Errors
/// INVALID_REQUEST for a null value or a name given twice, as Kafka refuses
/// both before looking at the resource.
fn overrides(entries: &[AlterableConfig]) -> Result<BTreeMap<String, String>, ErrorCode> {
    let mut configs = BTreeMap::new();
    for entry in entries {
        let value = entry.value.as_ref().ok_or(ErrorCode::InvalidRequest)?;
        if configs
            .insert(entry.name.to_string(), value.to_string())
            .is_some()
        {
            return Err(ErrorCode::InvalidRequest);
        }
    }
    Ok(configs)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::protocol::StrBytes;

    use super::*;

    fn entry(name: &'static str, value: Option<&'static str>) -> AlterableConfig {
        AlterableConfig::default()
            .with_name(StrBytes::from_static_str(name))
            .with_value(value.map(StrBytes::from_static_str))
    }

    #[test]
    fn entries_become_the_overrides() {
        let configs = overrides(&[
            entry("retention.ms", Some("60000")),
            entry("segment.bytes", Some("4096")),
        ])
        .unwrap();
        assert_eq!(configs.len(), 2);
        assert_eq!(configs["retention.ms"], "60000");
    }

    #[test]
    fn null_value_is_invalid_request() {
        assert_eq!(
            overrides(&[entry("retention.ms", None)]),
            Err(ErrorCode::InvalidRequest)
        );
    }

    #[test]
    fn duplicate_name_is_invalid_request() {
        assert_eq!(
            overrides(&[
                entry("retention.ms", Some("1")),
                entry("retention.ms", Some("2"))
            ]),
            Err(ErrorCode::InvalidRequest)
        );
    }
}

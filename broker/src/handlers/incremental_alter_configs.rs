//! IncrementalAlterConfigs: set, delete, append to and subtract from topic configs.
//!
//! Broker settings are static on a single node (they come from the config
//! file), so broker resources are refused.

use std::collections::BTreeMap;

use kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use sluice_protocol::ErrorCode;

use super::describe_configs::resource_type;
use super::str_bytes;
use crate::broker::Broker;
use crate::dispatch::RequestContext;

/// Kafka's `AlterConfigOp.OpType` codes.
mod op {
    pub const SET: i8 = 0;
    pub const DELETE: i8 = 1;
    pub const APPEND: i8 = 2;
    pub const SUBTRACT: i8 = 3;
}

/// Answers an IncrementalAlterConfigs request.
pub async fn handle(
    ctx: &RequestContext<'_>,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let broker = ctx.broker;
    let responses = request
        .resources
        .into_iter()
        .map(|resource| {
            let result = match resource.resource_type {
                resource_type::TOPIC => alter_topic(
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
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

fn alter_topic(
    broker: &Broker,
    name: &str,
    changes: &[AlterableConfig],
    validate_only: bool,
) -> Result<(), ErrorCode> {
    let topic = broker
        .topic(name)
        .ok_or(ErrorCode::UnknownTopicOrPartition)?;
    let mut configs = topic.configs.clone();
    for change in changes {
        apply(&mut configs, broker, &topic, change)?;
    }
    broker.set_topic_configs(name, configs, validate_only)
}

fn apply(
    configs: &mut BTreeMap<String, String>,
    broker: &Broker,
    topic: &crate::topics::TopicMeta,
    change: &AlterableConfig,
) -> Result<(), ErrorCode> {
    let name = change.name.to_string();
    let value = change.value.as_ref().map(ToString::to_string);
    match change.config_operation {
        op::SET => {
            configs.insert(name, value.ok_or(ErrorCode::InvalidConfig)?);
        }
        op::DELETE => {
            configs.remove(&name);
        }
        op::APPEND | op::SUBTRACT => {
            let value = value.ok_or(ErrorCode::InvalidConfig)?;
            let current = current_value(configs, broker, topic, &name)?;
            let mut items: Vec<String> = current
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if change.config_operation == op::APPEND {
                    if !items.iter().any(|i| i == item) {
                        items.push(item.to_owned());
                    }
                } else {
                    items.retain(|i| i != item);
                }
            }
            configs.insert(name, items.join(","));
        }
        _ => return Err(ErrorCode::InvalidRequest),
    }
    Ok(())
}

fn current_value(
    configs: &BTreeMap<String, String>,
    broker: &Broker,
    topic: &crate::topics::TopicMeta,
    name: &str,
) -> Result<String, ErrorCode> {
    if let Some(value) = configs.get(name) {
        return Ok(value.clone());
    }
    Ok(broker
        .topic_config_entries(topic)?
        .into_iter()
        .find(|e| e.name == name)
        .map(|e| e.value)
        .unwrap_or_default())
}

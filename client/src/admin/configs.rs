//! Topic configuration: DescribeConfigs and IncrementalAlterConfigs.

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{DescribeConfigsRequest, IncrementalAlterConfigsRequest};

use crate::admin::types::{AlterConfigOp, ConfigEntry, ConfigSource, ResourceError};
use crate::admin::{Admin, text};
use crate::error::Result;

/// `resource_type` of a topic in the config APIs.
const TOPIC_RESOURCE: i8 = 2;
/// `config_operation` values of IncrementalAlterConfigs.
const OPERATION_SET: i8 = 0;
const OPERATION_DELETE: i8 = 1;

impl Admin {
    /// Every configuration entry of `topic`, with where each value comes from.
    ///
    /// # Errors
    /// Transport errors, or the topic's error (UNKNOWN_TOPIC_OR_PARTITION, ...).
    pub async fn describe_topic_config(&self, topic: &str) -> Result<Vec<ConfigEntry>> {
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(TOPIC_RESOURCE)
                .with_resource_name(text(topic))
                // Null asks for every config (the codec's default is an empty list).
                .with_configuration_keys(None),
        ]);
        let response = self.client.send_to_any(&request).await?;
        let mut entries = Vec::new();
        for result in response.results {
            if let Some(error) = ResourceError::from_parts(
                result.error_code,
                result.error_message.map(|m| m.to_string()),
            ) {
                return Err(error.into());
            }
            entries.extend(result.configs.into_iter().map(|c| ConfigEntry {
                name: c.name.to_string(),
                value: c.value.map(|v| v.to_string()),
                source: ConfigSource::from_wire(c.config_source),
                read_only: c.read_only,
                is_sensitive: c.is_sensitive,
            }));
        }
        Ok(entries)
    }

    /// Applies `changes` to `topic`'s configuration (only the named entries;
    /// others keep their values).
    ///
    /// # Errors
    /// Transport errors, or the topic's error (INVALID_CONFIG, ...).
    pub async fn alter_topic_config(
        &self,
        topic: &str,
        changes: &[AlterConfigOp],
        validate_only: bool,
    ) -> Result<()> {
        let configs = changes
            .iter()
            .map(|change| match change {
                AlterConfigOp::Set { name, value } => AlterableConfig::default()
                    .with_name(text(name))
                    .with_config_operation(OPERATION_SET)
                    .with_value(Some(text(value))),
                AlterConfigOp::Delete { name } => AlterableConfig::default()
                    .with_name(text(name))
                    .with_config_operation(OPERATION_DELETE),
            })
            .collect();
        let request = IncrementalAlterConfigsRequest::default()
            .with_validate_only(validate_only)
            .with_resources(vec![
                AlterConfigsResource::default()
                    .with_resource_type(TOPIC_RESOURCE)
                    .with_resource_name(text(topic))
                    .with_configs(configs),
            ]);
        let response = self.client.send_to_any(&request).await?;
        for result in response.responses {
            if let Some(error) = ResourceError::from_parts(
                result.error_code,
                result.error_message.map(|m| m.to_string()),
            ) {
                return Err(error.into());
            }
        }
        Ok(())
    }
}

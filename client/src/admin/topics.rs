//! Topic administration: create, delete, describe, add partitions.

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, TopicName,
};

use crate::admin::types::{CreatedTopic, NewTopic, ResourceError, ResourceOutcome};
use crate::admin::{Admin, text};
use crate::error::Result;
use crate::metadata::TopicMetadata;

fn topic_name(name: &str) -> TopicName {
    TopicName(text(name))
}

impl Admin {
    /// Creates topics (or, with `validate_only`, only checks that they could be).
    /// Per-topic failures such as TOPIC_ALREADY_EXISTS are in the results.
    ///
    /// # Errors
    /// Transport or version errors for the request as a whole.
    pub async fn create_topics(
        &self,
        topics: &[NewTopic],
        validate_only: bool,
    ) -> Result<Vec<CreatedTopic>> {
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(self.broker_timeout_ms())
            .with_validate_only(validate_only)
            .with_topics(topics.iter().map(creatable_topic).collect());
        let response = self.client.send_to_controller(&request).await?;
        self.client.invalidate_metadata();
        Ok(response
            .topics
            .into_iter()
            .map(|t| CreatedTopic {
                name: t.name.0.to_string(),
                topic_id: t.topic_id,
                partitions: t.num_partitions,
                replication_factor: t.replication_factor,
                error: ResourceError::from_parts(
                    t.error_code,
                    t.error_message.map(|m| m.to_string()),
                ),
            })
            .collect())
    }

    /// Deletes topics by name.
    ///
    /// # Errors
    /// Transport or version errors for the request as a whole.
    pub async fn delete_topics(&self, names: &[String]) -> Result<Vec<ResourceOutcome>> {
        let request = DeleteTopicsRequest::default()
            .with_timeout_ms(self.broker_timeout_ms())
            .with_topic_names(names.iter().map(|name| topic_name(name)).collect());
        let response = self.client.send_to_controller(&request).await?;
        self.client.invalidate_metadata();
        Ok(response
            .responses
            .into_iter()
            .map(|t| ResourceOutcome {
                name: t.name.map(|n| n.0.to_string()).unwrap_or_default(),
                error: ResourceError::from_parts(
                    t.error_code,
                    t.error_message.map(|m| m.to_string()),
                ),
            })
            .collect())
    }

    /// Describes topics from fresh metadata (all topics for an empty list).
    /// A topic that does not exist comes back with UNKNOWN_TOPIC_OR_PARTITION
    /// in its `error`.
    ///
    /// # Errors
    /// Transport errors when no broker answers Metadata.
    pub async fn describe_topics(&self, names: &[String]) -> Result<Vec<TopicMetadata>> {
        let topics = (!names.is_empty()).then_some(names);
        let metadata = self.client.refresh_metadata(topics).await?;
        Ok(metadata.topics)
    }

    /// Raises `topic`'s partition count to `total_partitions`.
    ///
    /// # Errors
    /// Transport errors, or the topic's error (INVALID_PARTITIONS, ...).
    pub async fn create_partitions(
        &self,
        topic: &str,
        total_partitions: i32,
        validate_only: bool,
    ) -> Result<()> {
        let request = CreatePartitionsRequest::default()
            .with_timeout_ms(self.broker_timeout_ms())
            .with_validate_only(validate_only)
            .with_topics(vec![
                CreatePartitionsTopic::default()
                    .with_name(topic_name(topic))
                    .with_count(total_partitions)
                    // Null lets the controller place the new replicas.
                    .with_assignments(None),
            ]);
        let response = self.client.send_to_controller(&request).await?;
        for result in response.results {
            if let Some(error) = ResourceError::from_parts(
                result.error_code,
                result.error_message.map(|m| m.to_string()),
            ) {
                return Err(error.into());
            }
        }
        self.client.invalidate_metadata();
        Ok(())
    }
}

fn creatable_topic(topic: &NewTopic) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(topic_name(&topic.name))
        .with_num_partitions(topic.partitions)
        .with_replication_factor(topic.replication_factor)
        .with_configs(
            topic
                .configs
                .iter()
                .map(|(name, value)| {
                    CreatableTopicConfig::default()
                        .with_name(text(name))
                        .with_value(Some(text(value)))
                })
                .collect(),
        )
}

//! Client configuration: one serde struct, Kafka's setting names as aliases,
//! Kafka's defaults.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{ClientError, Result};

/// Settings shared by every Sluice client (admin, producer, consumer).
///
/// Field names are Kafka's with `_` for `.`; the dotted Kafka spelling is accepted
/// too (`bootstrap.servers`), so a Java client's properties carry over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// Comma-separated `host:port` list used only to find the cluster; the
    /// brokers' advertised addresses are used after that.
    #[serde(alias = "bootstrap.servers")]
    pub bootstrap_servers: String,
    /// Sent in every request header; brokers log and quota by it.
    #[serde(alias = "client.id")]
    pub client_id: String,
    /// How long to wait for one response before giving up on it and closing the
    /// connection (Kafka: `request.timeout.ms`, 30000).
    #[serde(alias = "request.timeout.ms")]
    pub request_timeout_ms: u64,
    /// Upper bound of a whole operation including its retries
    /// (Kafka: `default.api.timeout.ms`, 60000).
    #[serde(alias = "default.api.timeout.ms")]
    pub default_api_timeout_ms: u64,
    /// First retry delay; doubles per attempt (Kafka: `retry.backoff.ms`, 100).
    #[serde(alias = "retry.backoff.ms")]
    pub retry_backoff_ms: u64,
    /// Ceiling of the retry delay (Kafka: `retry.backoff.max.ms`, 1000).
    #[serde(alias = "retry.backoff.max.ms")]
    pub retry_backoff_max_ms: u64,
    /// Metadata older than this is refreshed before use even without an error
    /// (Kafka: `metadata.max.age.ms`, 300000).
    #[serde(alias = "metadata.max.age.ms")]
    pub metadata_max_age_ms: u64,
    /// Idle connections are closed after this long (Kafka:
    /// `connections.max.idle.ms`, 540000).
    #[serde(alias = "connections.max.idle.ms")]
    pub connections_max_idle_ms: u64,
    /// Bound on opening a TCP connection (Kafka:
    /// `socket.connection.setup.timeout.ms`, 10000).
    #[serde(alias = "socket.connection.setup.timeout.ms")]
    pub socket_connection_setup_timeout_ms: u64,
    /// Requests sent on one connection before waiting for a response (Kafka:
    /// `max.in.flight.requests.per.connection`, 5).
    #[serde(alias = "max.in.flight.requests.per.connection")]
    pub max_in_flight_requests_per_connection: usize,
    /// Largest response frame accepted; bigger frames close the connection
    /// rather than allocate (Kafka's `socket.request.max.bytes` default, 100 MiB).
    #[serde(alias = "max.response.size")]
    pub max_response_bytes: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            bootstrap_servers: "127.0.0.1:9092".to_owned(),
            client_id: "sluice".to_owned(),
            request_timeout_ms: 30_000,
            default_api_timeout_ms: 60_000,
            retry_backoff_ms: 100,
            retry_backoff_max_ms: 1_000,
            metadata_max_age_ms: 300_000,
            connections_max_idle_ms: 540_000,
            socket_connection_setup_timeout_ms: 10_000,
            max_in_flight_requests_per_connection: 5,
            max_response_bytes: 100 * 1024 * 1024,
        }
    }
}

impl ClientConfig {
    /// A default configuration for the given bootstrap list.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        ClientConfig {
            bootstrap_servers: bootstrap_servers.into(),
            ..ClientConfig::default()
        }
    }

    /// The bootstrap list split into `host:port` entries.
    ///
    /// # Errors
    /// [`ClientError::Config`] when the list is empty or an entry has no port.
    pub fn bootstrap_addresses(&self) -> Result<Vec<String>> {
        let addresses: Vec<String> = self
            .bootstrap_servers
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(str::to_owned)
            .collect();
        if addresses.is_empty() {
            return Err(ClientError::Config("bootstrap_servers is empty".to_owned()));
        }
        for address in &addresses {
            let port_ok = address
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !port_ok {
                return Err(ClientError::Config(format!(
                    "bootstrap server {address:?} is not host:port"
                )));
            }
        }
        Ok(addresses)
    }

    /// Checks limits that must be positive.
    ///
    /// # Errors
    /// [`ClientError::Config`] naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        self.bootstrap_addresses()?;
        if self.max_in_flight_requests_per_connection == 0 {
            return Err(ClientError::Config(
                "max_in_flight_requests_per_connection must be at least 1".to_owned(),
            ));
        }
        if self.request_timeout_ms == 0 || self.default_api_timeout_ms == 0 {
            return Err(ClientError::Config("timeouts must be positive".to_owned()));
        }
        Ok(())
    }

    /// `request_timeout_ms` as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// `default_api_timeout_ms` as a duration.
    pub fn default_api_timeout(&self) -> Duration {
        Duration::from_millis(self.default_api_timeout_ms)
    }

    /// `socket_connection_setup_timeout_ms` as a duration.
    pub fn connection_setup_timeout(&self) -> Duration {
        Duration::from_millis(self.socket_connection_setup_timeout_ms)
    }

    /// `metadata_max_age_ms` as a duration.
    pub fn metadata_max_age(&self) -> Duration {
        Duration::from_millis(self.metadata_max_age_ms)
    }

    /// `connections_max_idle_ms` as a duration.
    pub fn connections_max_idle(&self) -> Duration {
        Duration::from_millis(self.connections_max_idle_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_kafka() {
        let config = ClientConfig::default();
        assert_eq!(config.request_timeout_ms, 30_000);
        assert_eq!(config.retry_backoff_ms, 100);
        assert_eq!(config.retry_backoff_max_ms, 1_000);
        assert_eq!(config.metadata_max_age_ms, 300_000);
    }

    #[test]
    fn bootstrap_list_is_split_and_trimmed() {
        let config = ClientConfig::new("a:1, b:2,,");
        assert_eq!(
            config.bootstrap_addresses().ok(),
            Some(vec!["a:1".to_owned(), "b:2".to_owned()])
        );
    }

    #[test]
    fn bootstrap_entry_without_port_is_rejected() {
        assert!(
            ClientConfig::new("localhost")
                .bootstrap_addresses()
                .is_err()
        );
        assert!(ClientConfig::new(" , ").bootstrap_addresses().is_err());
    }

    #[test]
    fn kafka_dotted_names_are_accepted() {
        let config: Result<ClientConfig, _> =
            toml::from_str("\"bootstrap.servers\" = \"k:9092\"\n\"request.timeout.ms\" = 5");
        let config = config.ok();
        assert_eq!(
            config.as_ref().map(|c| c.bootstrap_servers.as_str()),
            Some("k:9092")
        );
        assert_eq!(
            config.map(|c| (c.request_timeout_ms, c.retry_backoff_ms)),
            Some((5, 100))
        );
    }

    #[test]
    fn zero_in_flight_limit_is_rejected() {
        let config = ClientConfig {
            max_in_flight_requests_per_connection: 0,
            ..ClientConfig::default()
        };
        assert!(config.validate().is_err());
    }
}

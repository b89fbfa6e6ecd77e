//! The admin API: topics, partitions, configs, consumer groups and offsets,
//! with typed results. Each concern lives in its own module; this one holds
//! the handle.

mod configs;
mod groups;
mod offsets;
pub(crate) mod plan;
pub(crate) mod quorum;
mod topics;
pub(crate) mod types;

use kafka_protocol::protocol::StrBytes;

use crate::client::Client;
use crate::config::ClientConfig;
use crate::error::Result;

/// Administrative operations on a cluster, over a shared [`Client`].
#[derive(Debug, Clone)]
pub struct Admin {
    client: Client,
}

impl Admin {
    /// Connects a new client and wraps it.
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub async fn connect(config: ClientConfig) -> Result<Admin> {
        Ok(Admin {
            client: Client::connect(config).await?,
        })
    }

    /// Wraps an existing client (sharing its connections and metadata).
    pub fn new(client: Client) -> Admin {
        Admin { client }
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The request-level timeout admin requests ask the broker to honour.
    fn broker_timeout_ms(&self) -> i32 {
        i32::try_from(self.client.config().request_timeout_ms).unwrap_or(i32::MAX)
    }
}

fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

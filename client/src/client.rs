//! The cluster handle: bootstrap, the connection pool (one connection per
//! broker, reused), and metadata refreshes into the cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::backoff::Backoff;
use crate::config::ClientConfig;
use crate::connection::Connection;
use crate::error::{ClientError, Result};
use crate::metadata::{
    BrokerMetadata, ClusterMetadata, MetadataCache, MetadataScope, TopicMetadata,
};

/// A handle on a Kafka-compatible cluster; cheap to clone and shared by the
/// admin API, the producer and the consumer.
///
/// It knows the cluster through a metadata cache refreshed on demand, on
/// retriable errors and when older than `metadata_max_age_ms`, and keeps one
/// connection per broker. Routing (`send_to_leader`, `send_to_coordinator`,
/// `send_to_any`) retries with exponential backoff until `default_api_timeout_ms`.
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) inner: Arc<ClientInner>,
}

#[derive(Debug)]
pub(crate) struct ClientInner {
    pub(crate) config: ClientConfig,
    bootstrap: Vec<String>,
    metadata: Mutex<MetadataCache>,
    /// Open connections by `host:port`. Never locked across a connect, so one
    /// slow broker does not stall routing to the others.
    connections: Mutex<HashMap<String, Connection>>,
    pub(crate) coordinators: Mutex<HashMap<String, BrokerMetadata>>,
    pub(crate) backoff: Backoff,
    pub(crate) rng: Mutex<StdRng>,
    /// Held while a routing-triggered metadata refresh is in flight.
    refresh_gate: tokio::sync::Mutex<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // No code path panics while holding these locks; if one did, the data is
    // still a valid cache, so recover it rather than propagate the panic.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Client {
    /// Connects to the first reachable bootstrap server and loads the broker list.
    ///
    /// # Errors
    /// [`ClientError::Config`] for a bad configuration;
    /// [`ClientError::BootstrapFailed`] when no bootstrap server answers.
    pub async fn connect(config: ClientConfig) -> Result<Client> {
        Client::connect_with_rng(config, StdRng::from_os_rng()).await
    }

    /// As [`Client::connect`], with the RNG that jitters backoff delays
    /// injected (seeded in tests and simulations).
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub async fn connect_with_rng(config: ClientConfig, rng: StdRng) -> Result<Client> {
        config.validate()?;
        let bootstrap = config.bootstrap_addresses()?;
        let client = Client {
            inner: Arc::new(ClientInner {
                backoff: Backoff::new(config.retry_backoff_ms, config.retry_backoff_max_ms),
                config,
                bootstrap,
                metadata: Mutex::new(MetadataCache::new()),
                connections: Mutex::default(),
                coordinators: Mutex::default(),
                rng: Mutex::new(rng),
                refresh_gate: tokio::sync::Mutex::new(()),
            }),
        };
        client.bootstrap().await?;
        Ok(client)
    }

    async fn bootstrap(&self) -> Result<()> {
        let mut last_error = ClientError::Config("no bootstrap servers".to_owned());
        for address in &self.inner.bootstrap {
            match self.refresh_from(address, Some(&[])).await {
                Ok(()) => return Ok(()),
                Err(error) => {
                    tracing::debug!(%address, %error, "bootstrap server failed");
                    last_error = error;
                }
            }
        }
        Err(ClientError::BootstrapFailed {
            last_error: Box::new(last_error),
        })
    }

    /// The configuration this client runs with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Reads the metadata cache under its lock (no `.await` possible inside).
    pub fn with_metadata<T>(&self, read: impl FnOnce(&MetadataCache) -> T) -> T {
        read(&lock(&self.inner.metadata))
    }

    /// A cached topic, without refreshing.
    pub fn cached_topic(&self, topic: &str) -> Option<TopicMetadata> {
        self.with_metadata(|cache| cache.topic(topic).cloned())
    }

    /// Marks metadata stale so the next routing decision refreshes it.
    pub fn invalidate_metadata(&self) {
        lock(&self.inner.metadata).invalidate();
    }

    /// Fetches metadata for `topics` (all topics for `None`) from any broker and
    /// applies it to the cache.
    ///
    /// # Errors
    /// The last transport or protocol error when no broker answers.
    pub async fn refresh_metadata(&self, topics: Option<&[String]>) -> Result<ClusterMetadata> {
        let mut last_error = ClientError::Closed;
        for address in self.candidate_addresses() {
            match self.metadata_from(&address, topics).await {
                Ok(metadata) => return Ok(metadata),
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

    async fn refresh_from(&self, address: &str, topics: Option<&[String]>) -> Result<()> {
        self.metadata_from(address, topics).await.map(|_| ())
    }

    async fn metadata_from(
        &self,
        address: &str,
        topics: Option<&[String]>,
    ) -> Result<ClusterMetadata> {
        let connection = self.connection_to_address(address).await?;
        // v4+ can ask the broker not to auto-create topics; a lookup must not create them.
        let version = connection.version::<MetadataRequest>()?;
        let request = MetadataRequest::default()
            .with_allow_auto_topic_creation(version < 4)
            .with_topics(topics.map(|names| {
                names
                    .iter()
                    .map(|name| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(name.clone()))))
                    })
                    .collect()
            }));
        let response = connection.send_at_version(&request, version).await?;
        let metadata = ClusterMetadata::from(&response);
        let scope = if topics.is_none() {
            MetadataScope::AllTopics
        } else {
            MetadataScope::Topics
        };
        lock(&self.inner.metadata).apply(metadata.clone(), scope, Instant::now());
        tracing::debug!(%address, brokers = metadata.brokers.len(), topics = metadata.topics.len(), "metadata refreshed");
        Ok(metadata)
    }

    /// Makes sure `topic` is in the cache and the cache is fresh, refreshing
    /// that topic if not.
    ///
    /// # Errors
    /// As [`Client::refresh_metadata`].
    pub async fn ensure_topic(&self, topic: &str) -> Result<()> {
        let max_age = self.inner.config.metadata_max_age();
        let fresh = || {
            self.with_metadata(|cache| {
                cache.topic(topic).is_some() && !cache.needs_refresh(Instant::now(), max_age)
            })
        };
        if fresh() {
            return Ok(());
        }
        // Many requests fail together when a leader moves; let one of them
        // refresh and the others reuse its answer.
        let _gate = self.inner.refresh_gate.lock().await;
        if !fresh() {
            self.refresh_metadata(Some(&[topic.to_owned()])).await?;
        }
        Ok(())
    }

    /// Broker addresses to try for cluster-wide requests: known brokers
    /// first, then the bootstrap list.
    fn candidate_addresses(&self) -> Vec<String> {
        let mut addresses: Vec<String> =
            self.with_metadata(|cache| cache.brokers().map(BrokerMetadata::address).collect());
        for address in &self.inner.bootstrap {
            if !addresses.contains(address) {
                addresses.push(address.clone());
            }
        }
        addresses
    }

    /// The pooled connection to `broker_id`, opened if needed.
    ///
    /// # Errors
    /// [`ClientError::UnknownBroker`] when metadata has no address for it;
    /// connection errors.
    pub async fn connection_to(&self, broker_id: i32) -> Result<Connection> {
        let address = self
            .with_metadata(|cache| cache.broker(broker_id).map(BrokerMetadata::address))
            .ok_or(ClientError::UnknownBroker(broker_id))?;
        self.connection_to_address(&address).await
    }

    /// The pooled connection to `address`, opened (and negotiated) if absent,
    /// closed or idle longer than `connections_max_idle_ms`.
    ///
    /// # Errors
    /// Connection and negotiation errors.
    pub async fn connection_to_address(&self, address: &str) -> Result<Connection> {
        if let Some(connection) = self.pooled(address) {
            return Ok(connection);
        }
        let connection = Connection::connect(address, &self.inner.config).await?;
        let mut connections = lock(&self.inner.connections);
        // Another task may have connected meanwhile; keep one connection per broker.
        if let Some(existing) = connections.get(address).filter(|c| !c.is_closed()) {
            connection.close("duplicate connection");
            return Ok(existing.clone());
        }
        connections.insert(address.to_owned(), connection.clone());
        Ok(connection)
    }

    /// The pooled connection to `address` if it is open and not idle too long;
    /// a stale one is closed and removed.
    fn pooled(&self, address: &str) -> Option<Connection> {
        let mut connections = lock(&self.inner.connections);
        let connection = connections.get(address)?;
        if !connection.is_closed()
            && connection.idle_for() < self.inner.config.connections_max_idle()
        {
            return Some(connection.clone());
        }
        connection.close("idle or broken; replacing");
        connections.remove(address);
        None
    }

    /// Some open connection, preferring one already in the pool.
    ///
    /// # Errors
    /// The last connection error when no broker can be reached.
    pub async fn any_connection(&self) -> Result<Connection> {
        let open = lock(&self.inner.connections)
            .values()
            .find(|c| !c.is_closed())
            .cloned();
        if let Some(connection) = open {
            return Ok(connection);
        }
        let mut last_error = ClientError::Closed;
        for address in self.candidate_addresses() {
            match self.connection_to_address(&address).await {
                Ok(connection) => return Ok(connection),
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

    /// The delay before retry `attempt`, from the injected RNG.
    pub(crate) fn backoff_delay(&self, attempt: u32) -> Duration {
        self.inner
            .backoff
            .delay(attempt, &mut *lock(&self.inner.rng))
    }

    /// Forgets the cached coordinator of `group`, so the next
    /// [`Client::coordinator_for`] asks FindCoordinator again (for callers that
    /// see NOT_COORDINATOR outside [`Client::send_to_coordinator`]).
    pub fn forget_coordinator(&self, group: &str) {
        lock(&self.inner.coordinators).remove(group);
    }

    /// The cached coordinator of `group`.
    pub(crate) fn cached_coordinator(&self, group: &str) -> Option<BrokerMetadata> {
        lock(&self.inner.coordinators).get(group).cloned()
    }

    /// Caches the coordinator of `group`.
    pub(crate) fn remember_coordinator(&self, group: &str, broker: BrokerMetadata) {
        lock(&self.inner.coordinators).insert(group.to_owned(), broker);
    }

    /// Closes every pooled connection; later calls reconnect.
    pub fn close(&self) {
        let mut connections = lock(&self.inner.connections);
        for connection in connections.values() {
            connection.close("client closed");
        }
        connections.clear();
    }
}

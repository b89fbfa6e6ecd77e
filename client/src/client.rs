//! The cluster handle: bootstrap, the connection pool (one connection per
//! broker, reused, and one connection attempt per broker at a time), and
//! metadata refreshes into the cache.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use rand::SeedableRng;
use rand::rngs::StdRng;
use sluice_protocol::ErrorCode;

use crate::backoff::Backoff;
use crate::config::ClientConfig;
use crate::connection::Connection;
use crate::error::{ClientError, Result};
use crate::metadata::{
    BrokerMetadata, ClusterMetadata, MetadataCache, MetadataScope, TopicMetadata,
};
use crate::retry::RetryAction;

/// Whether a Metadata request asks the broker to create the missing topics
/// it names. Routing lookups never do; [`Client::lookup_topic_creating`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AutoCreate {
    Allow,
    Forbid,
}

/// What a Metadata response that leaves `topic` out means: it does not exist.
fn unknown_topic(topic: &str) -> TopicMetadata {
    TopicMetadata {
        name: topic.to_owned(),
        topic_id: uuid::Uuid::nil(),
        is_internal: false,
        partitions: Vec::new(),
        error: ErrorCode::UnknownTopicOrPartition,
    }
}

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
    /// Bumped after every metadata update (see [`Client::metadata_updates`]).
    metadata_updates: AtomicU64,
    /// Open connections and connection attempts by `host:port`. Never
    /// locked across a connect, so one slow broker does not stall routing to
    /// the others.
    pool: Mutex<Pool>,
    pub(crate) coordinators: Mutex<HashMap<String, BrokerMetadata>>,
    pub(crate) backoff: Backoff,
    pub(crate) rng: Mutex<StdRng>,
    /// Held while a routing-triggered metadata refresh is in flight.
    refresh_gate: tokio::sync::Mutex<()>,
}

/// A connection attempt in flight, awaited by every caller that wants the
/// same broker meanwhile; the error is shared because each waiter reports it.
type ConnectAttempt = Shared<BoxFuture<'static, std::result::Result<Connection, Arc<ClientError>>>>;

/// The connection pool: at most one open connection and one attempt per
/// broker address.
#[derive(Default)]
struct Pool {
    open: HashMap<String, Connection>,
    connecting: HashMap<String, ConnectAttempt>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("open", &self.open)
            .field("connecting", &self.connecting.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Pool {
    /// The open connection to `address` if it is usable and not idle longer
    /// than `max_idle`; a stale one is closed and removed.
    fn usable(&mut self, address: &str, max_idle: Duration) -> Option<Connection> {
        let connection = self.open.get(address)?;
        if !connection.is_closed() && connection.idle_for() < max_idle {
            return Some(connection.clone());
        }
        connection.close("idle or broken; replacing");
        self.open.remove(address);
        None
    }

    /// Records how `attempt` ended, once: whichever waiter gets here first
    /// forgets the attempt (so a failure is retried by the next call) and
    /// pools its connection; later waiters find a different entry or none.
    fn finish(
        &mut self,
        address: &str,
        attempt: &ConnectAttempt,
        outcome: &std::result::Result<Connection, Arc<ClientError>>,
    ) {
        if !self
            .connecting
            .get(address)
            .is_some_and(|current| current.ptr_eq(attempt))
        {
            return;
        }
        self.connecting.remove(address);
        if let Ok(connection) = outcome {
            self.open.insert(address.to_owned(), connection.clone());
        }
    }
}

/// Takes a lock of the client's state. No code path panics while holding
/// these locks; if one did, the data is still valid (a cache, a queue, a
/// pool), so recover it rather than propagate the panic.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
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
                metadata_updates: AtomicU64::new(0),
                pool: Mutex::default(),
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

    /// How many times the metadata cache has changed. What a caller derived
    /// from the cache (a topic's partition count, say) stays true while this
    /// number does, so a hot path can keep it without taking the cache's
    /// lock for every record.
    pub fn metadata_updates(&self) -> u64 {
        self.inner.metadata_updates.load(Ordering::Acquire)
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
        self.refresh_metadata_with(topics, AutoCreate::Forbid).await
    }

    /// Looks `topic` up the way Kafka's producer and consumer do: the
    /// Metadata request asks the broker to create the topic when it does not
    /// exist (`allow_auto_topic_creation`), and the broker's
    /// `auto.create.topics.enable` decides. While a new topic has no leader
    /// yet (LEADER_NOT_AVAILABLE and other retriable codes) the lookup is
    /// retried with backoff until `default_api_timeout_ms`.
    ///
    /// The returned topic's `error` is UNKNOWN_TOPIC_OR_PARTITION when the
    /// broker does not create topics on use, or another non-retriable code
    /// (an illegal name, say).
    ///
    /// # Errors
    /// Transport errors when no broker answers, and
    /// [`ClientError::OperationTimeout`] when the topic stays unavailable.
    pub async fn lookup_topic_creating(&self, topic: &str) -> Result<TopicMetadata> {
        let names = [topic.to_owned()];
        let mut retries = crate::routing::Retries::new(self);
        loop {
            let metadata = self
                .refresh_metadata_with(Some(&names), AutoCreate::Allow)
                .await?;
            let found = metadata
                .topics
                .into_iter()
                .find(|t| t.name == topic)
                .unwrap_or_else(|| unknown_topic(topic));
            let settled =
                found.error == ErrorCode::UnknownTopicOrPartition || !found.error.is_retriable();
            if settled {
                return Ok(found);
            }
            let error = ClientError::broker(found.error, Some(topic.to_owned()));
            retries
                .wait(self, RetryAction::Backoff, None, error)
                .await?;
        }
    }

    async fn refresh_metadata_with(
        &self,
        topics: Option<&[String]>,
        auto_create: AutoCreate,
    ) -> Result<ClusterMetadata> {
        let mut last_error = ClientError::Closed;
        for address in self.candidate_addresses() {
            match self.metadata_from(&address, topics, auto_create).await {
                Ok(metadata) => return Ok(metadata),
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

    async fn refresh_from(&self, address: &str, topics: Option<&[String]>) -> Result<()> {
        self.metadata_from(address, topics, AutoCreate::Forbid)
            .await
            .map(|_| ())
    }

    async fn metadata_from(
        &self,
        address: &str,
        topics: Option<&[String]>,
        auto_create: AutoCreate,
    ) -> Result<ClusterMetadata> {
        let connection = self.connection_to_address(address).await?;
        // Before v4 every Metadata request for a missing topic may create it.
        let version = connection.version::<MetadataRequest>()?;
        let request = MetadataRequest::default()
            .with_allow_auto_topic_creation(version < 4 || auto_create == AutoCreate::Allow)
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
        {
            let mut cache = lock(&self.inner.metadata);
            cache.apply(metadata.clone(), scope, Instant::now());
            self.inner.metadata_updates.fetch_add(1, Ordering::Release);
        }
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
    /// Callers that ask while no connection is open share one connection
    /// attempt: one socket is opened, and its error reaches every one of
    /// them. A failed attempt is forgotten, so the next call tries again.
    ///
    /// # Errors
    /// Connection and negotiation errors.
    pub async fn connection_to_address(&self, address: &str) -> Result<Connection> {
        let attempt = {
            let mut pool = lock(&self.inner.pool);
            let max_idle = self.inner.config.connections_max_idle();
            if let Some(connection) = pool.usable(address, max_idle) {
                return Ok(connection);
            }
            pool.connecting
                .entry(address.to_owned())
                .or_insert_with(|| self.connect_attempt(address))
                .clone()
        };
        let outcome = attempt.clone().await;
        lock(&self.inner.pool).finish(address, &attempt, &outcome);
        outcome.map_err(|error| copy_error(&error))
    }

    /// A new, not yet started attempt to connect to `address`; it runs while
    /// any waiter polls it.
    fn connect_attempt(&self, address: &str) -> ConnectAttempt {
        let address = address.to_owned();
        let config = self.inner.config.clone();
        async move {
            tracing::debug!(%address, "connecting");
            Connection::connect(&address, &config)
                .await
                .map_err(Arc::new)
        }
        .boxed()
        .shared()
    }

    /// Some open connection, preferring one already in the pool.
    ///
    /// # Errors
    /// The last connection error when no broker can be reached.
    pub async fn any_connection(&self) -> Result<Connection> {
        let open = lock(&self.inner.pool)
            .open
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
        let mut pool = lock(&self.inner.pool);
        for connection in pool.open.values() {
            connection.close("client closed");
        }
        pool.open.clear();
        pool.connecting.clear();
    }
}

/// A copy of a shared connection error for one of the attempt's waiters.
/// Every variant is listed, so a new one must decide how it is copied.
// `#[derive(Clone)]` on `ClientError` would turn this into `.clone()`.
fn copy_error(error: &ClientError) -> ClientError {
    use ClientError as E;
    match error {
        E::Config(reason) => E::Config(reason.clone()),
        E::Connect { address, reason } => E::Connect {
            address: address.clone(),
            reason: reason.clone(),
        },
        E::BootstrapFailed { last_error } => E::BootstrapFailed {
            last_error: Box::new(copy_error(last_error)),
        },
        E::Disconnected { address, reason } => E::Disconnected {
            address: address.clone(),
            reason: reason.clone(),
        },
        E::RequestTimeout {
            api,
            address,
            timeout,
        } => E::RequestTimeout {
            api,
            address: address.clone(),
            timeout: *timeout,
        },
        E::OperationTimeout {
            timeout,
            last_error,
        } => E::OperationTimeout {
            timeout: *timeout,
            last_error: Box::new(copy_error(last_error)),
        },
        E::UnsupportedVersion {
            api,
            address,
            broker,
            client,
        } => E::UnsupportedVersion {
            api,
            address: address.clone(),
            broker: *broker,
            client: *client,
        },
        E::Protocol { address, reason } => E::Protocol {
            address: address.clone(),
            reason: reason.clone(),
        },
        E::Encode {
            api,
            version,
            reason,
        } => E::Encode {
            api,
            version: *version,
            reason: reason.clone(),
        },
        E::Broker { code, context } => E::broker(*code, context.clone()),
        E::UnknownPartition { topic, partition } => E::UnknownPartition {
            topic: topic.clone(),
            partition: *partition,
        },
        E::UnknownBroker(broker_id) => E::UnknownBroker(*broker_id),
        E::GroupNotEmpty { group, state } => E::GroupNotEmpty {
            group: group.clone(),
            state: state.clone(),
        },
        E::Closed => E::Closed,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures::{SinkExt, StreamExt};
    use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};
    use sluice_protocol::{FrameCodec, decode_request_frame, encode_response};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_util::codec::Framed;

    use super::*;

    /// A listener that counts the connections it accepts, hangs up on the
    /// first `refused` of them and answers ApiVersions on the others.
    struct CountingBroker {
        address: String,
        accepted: Arc<AtomicUsize>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for CountingBroker {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    impl CountingBroker {
        async fn start(refused: usize) -> std::io::Result<CountingBroker> {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let address = listener.local_addr()?.to_string();
            let accepted = Arc::new(AtomicUsize::new(0));
            let counter = accepted.clone();
            let task = tokio::spawn(async move {
                while let Ok((socket, _)) = listener.accept().await {
                    if counter.fetch_add(1, Ordering::SeqCst) >= refused {
                        tokio::spawn(answer_api_versions(socket));
                    }
                }
            });
            Ok(CountingBroker {
                address,
                accepted,
                task,
            })
        }

        fn accepted(&self) -> usize {
            self.accepted.load(Ordering::SeqCst)
        }
    }

    async fn answer_api_versions(socket: TcpStream) {
        let mut frames = Framed::new(socket, FrameCodec::default());
        while let Some(Ok(frame)) = frames.next().await {
            let Ok(request) = decode_request_frame(frame) else {
                return;
            };
            if request.api_key != ApiKey::ApiVersions {
                return;
            }
            let response = ApiVersionsResponse::default();
            let encoded =
                encode_response(request.correlation_id(), request.api_version(), &response);
            let Ok(encoded) = encoded else { return };
            if frames.send(encoded).await.is_err() {
                return;
            }
        }
    }

    /// A client with no connection open yet (no bootstrap round trip).
    fn unconnected_client(bootstrap: &str) -> Client {
        let config = ClientConfig::new(bootstrap);
        Client {
            inner: Arc::new(ClientInner {
                backoff: Backoff::new(config.retry_backoff_ms, config.retry_backoff_max_ms),
                bootstrap: vec![bootstrap.to_owned()],
                config,
                metadata: Mutex::new(MetadataCache::new()),
                metadata_updates: AtomicU64::new(0),
                pool: Mutex::default(),
                coordinators: Mutex::default(),
                rng: Mutex::new(StdRng::seed_from_u64(7)),
                refresh_gate: tokio::sync::Mutex::new(()),
            }),
        }
    }

    const CALLERS: usize = 8;

    #[tokio::test]
    async fn concurrent_callers_share_one_connection() -> std::io::Result<()> {
        let broker = CountingBroker::start(0).await?;
        let client = unconnected_client(&broker.address);
        let calls = (0..CALLERS).map(|_| client.connection_to_address(&broker.address));
        let results = futures::future::join_all(calls).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(broker.accepted(), 1);
        Ok(())
    }

    #[tokio::test]
    async fn a_failed_attempt_fails_every_waiter() -> std::io::Result<()> {
        let broker = CountingBroker::start(1).await?;
        let client = unconnected_client(&broker.address);
        let calls = (0..CALLERS).map(|_| client.connection_to_address(&broker.address));
        let results = futures::future::join_all(calls).await;
        assert!(
            results
                .iter()
                .all(|result| matches!(result, Err(ClientError::Disconnected { .. }))),
            "{results:?}"
        );
        assert_eq!(broker.accepted(), 1);
        Ok(())
    }

    #[tokio::test]
    async fn a_failed_attempt_is_retried_by_the_next_call() -> std::io::Result<()> {
        let broker = CountingBroker::start(1).await?;
        let client = unconnected_client(&broker.address);
        assert!(client.connection_to_address(&broker.address).await.is_err());
        assert!(client.connection_to_address(&broker.address).await.is_ok());
        assert_eq!(broker.accepted(), 2);
        Ok(())
    }

    #[tokio::test]
    async fn an_open_connection_is_reused() -> std::io::Result<()> {
        let broker = CountingBroker::start(0).await?;
        let client = unconnected_client(&broker.address);
        assert!(client.connection_to_address(&broker.address).await.is_ok());
        assert!(client.connection_to_address(&broker.address).await.is_ok());
        assert_eq!(broker.accepted(), 1);
        Ok(())
    }
}

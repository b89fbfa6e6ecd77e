//! Request routing: to a partition's leader, to a group's coordinator, to the
//! controller, or to any broker — each a loop that sends, asks
//! [`crate::retry`] what the outcome calls for, and backs off until the
//! operation's deadline.

use std::time::{Duration, Instant};

use kafka_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::{Request, StrBytes};
use sluice_protocol::ErrorCode;

use crate::client::Client;
use crate::connection::Connection;
use crate::error::{ClientError, Result};
use crate::metadata::BrokerMetadata;
use crate::retry::{ResponseErrors, RetryAction, action_for_codes, action_for_error};

/// `key_type` of FindCoordinator for consumer groups.
const GROUP_KEY_TYPE: i8 = 0;

/// Deadline and attempt count of one routed operation.
pub(crate) struct Retries {
    started: Instant,
    deadline: Duration,
    attempt: u32,
}

impl Retries {
    pub(crate) fn new(client: &Client) -> Self {
        Retries {
            started: Instant::now(),
            deadline: client.config().default_api_timeout(),
            attempt: 0,
        }
    }

    /// Applies `action`, then sleeps for the backoff; `Err(last_error)` wrapped
    /// in [`ClientError::OperationTimeout`] when the deadline would pass.
    pub(crate) async fn wait(
        &mut self,
        client: &Client,
        action: RetryAction,
        group: Option<&str>,
        last_error: ClientError,
    ) -> Result<()> {
        let delay = client.backoff_delay(self.attempt);
        if self.started.elapsed() + delay >= self.deadline {
            return Err(ClientError::OperationTimeout {
                timeout: self.deadline,
                last_error: Box::new(last_error),
            });
        }
        tracing::debug!(attempt = self.attempt, ?action, ?delay, error = %last_error, "retrying");
        match action {
            RetryAction::RefreshMetadata => client.invalidate_metadata(),
            RetryAction::RediscoverCoordinator => {
                if let Some(group) = group {
                    client.forget_coordinator(group);
                }
            }
            RetryAction::Backoff | RetryAction::Done => {}
        }
        self.attempt += 1;
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

/// The error describing a response whose error codes call for a retry.
fn response_error(codes: &[ErrorCode]) -> ClientError {
    let code = codes
        .iter()
        .copied()
        .find(|code| *code != ErrorCode::None)
        .unwrap_or(ErrorCode::UnknownServerError);
    ClientError::broker(code, None)
}

impl Client {
    /// Sends `request` to one broker, once, without retries.
    ///
    /// # Errors
    /// Transport, version and protocol errors.
    pub async fn send_to_broker<R: Request>(
        &self,
        broker_id: i32,
        request: &R,
    ) -> Result<R::Response> {
        self.connection_to(broker_id).await?.send(request).await
    }

    /// Sends `request` to the leader of `topic`-`partition`, refreshing
    /// metadata and retrying with backoff on leadership errors
    /// (NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, ...) and on
    /// disconnects, until `default_api_timeout_ms`. A response whose errors
    /// still call for a retry when time runs out is returned as is.
    ///
    /// # Errors
    /// [`ClientError::OperationTimeout`] with the last transport error; any
    /// non-retriable error at once.
    pub async fn send_to_leader<R>(
        &self,
        topic: &str,
        partition: i32,
        request: &R,
    ) -> Result<R::Response>
    where
        R: Request,
        R::Response: ResponseErrors,
    {
        self.route(None, || async {
            let leader = self.leader_for(topic, partition).await?;
            self.connection_to_address(&leader.address())
                .await?
                .send(request)
                .await
        })
        .await
    }

    /// Sends `request` to the coordinator of consumer group `group`, finding it
    /// with FindCoordinator (cached) and finding it again on NOT_COORDINATOR or
    /// COORDINATOR_NOT_AVAILABLE; retries as [`Client::send_to_leader`].
    ///
    /// # Errors
    /// As [`Client::send_to_leader`].
    pub async fn send_to_coordinator<R>(&self, group: &str, request: &R) -> Result<R::Response>
    where
        R: Request,
        R::Response: ResponseErrors,
    {
        self.route(Some(group), || async {
            let coordinator = self.coordinator_for(group).await?;
            self.connection_to_address(&coordinator.address())
                .await?
                .send(request)
                .await
        })
        .await
    }

    /// Sends `request` to any reachable broker (cluster-wide requests such as
    /// Metadata or ListGroups on a single node), retrying on disconnects.
    ///
    /// # Errors
    /// As [`Client::send_to_leader`].
    pub async fn send_to_any<R>(&self, request: &R) -> Result<R::Response>
    where
        R: Request,
        R::Response: ResponseErrors,
    {
        self.route(None, || async {
            self.any_connection().await?.send(request).await
        })
        .await
    }

    /// Sends `request` to the controller named by metadata (any broker when
    /// none is named; KRaft brokers forward admin requests), refreshing
    /// metadata on NOT_CONTROLLER.
    ///
    /// # Errors
    /// As [`Client::send_to_leader`].
    pub async fn send_to_controller<R>(&self, request: &R) -> Result<R::Response>
    where
        R: Request,
        R::Response: ResponseErrors,
    {
        self.route(None, || async {
            let controller = self.with_metadata(|cache| cache.controller_id());
            let connection = match controller {
                Some(id) => self.connection_to(id).await?,
                None => self.any_connection().await?,
            };
            connection.send(request).await
        })
        .await
    }

    /// The current leader of `topic`-`partition`, refreshing metadata when the
    /// topic is missing or the cache stale.
    ///
    /// # Errors
    /// Metadata errors, or the routing errors of [`crate::MetadataCache::leader_for`].
    pub async fn leader_for(&self, topic: &str, partition: i32) -> Result<BrokerMetadata> {
        self.ensure_topic(topic).await?;
        self.with_metadata(|cache| cache.leader_for(topic, partition).cloned())
    }

    /// The coordinator of `group`, from the cache or FindCoordinator.
    ///
    /// # Errors
    /// The FindCoordinator error (COORDINATOR_NOT_AVAILABLE while
    /// `__consumer_offsets` is being created) or a transport error.
    pub async fn coordinator_for(&self, group: &str) -> Result<BrokerMetadata> {
        if let Some(coordinator) = self.cached_coordinator(group) {
            return Ok(coordinator);
        }
        let connection = self.any_connection().await?;
        let coordinator = find_coordinator(&connection, group).await?;
        self.remember_coordinator(group, coordinator.clone());
        Ok(coordinator)
    }

    /// The retry loop shared by every route: one `attempt`, then done, or
    /// back off and try again as [`crate::retry`] decides.
    async fn route<T, F, Fut>(&self, group: Option<&str>, mut attempt: F) -> Result<T>
    where
        T: ResponseErrors,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut retries = Retries::new(self);
        loop {
            match attempt().await {
                Ok(response) => {
                    let codes = response.error_codes();
                    let action = action_for_codes(codes.iter().copied());
                    if action == RetryAction::Done {
                        return Ok(response);
                    }
                    if retries
                        .wait(self, action, group, response_error(&codes))
                        .await
                        .is_err()
                    {
                        return Ok(response);
                    }
                }
                Err(error) => {
                    let action = action_for_error(&error);
                    if action == RetryAction::Done {
                        return Err(error);
                    }
                    retries.wait(self, action, group, error).await?;
                }
            }
        }
    }
}

/// Asks `connection`'s broker for the coordinator of `group`, in the request
/// shape of the negotiated version (v4 batches keys).
async fn find_coordinator(connection: &Connection, group: &str) -> Result<BrokerMetadata> {
    let version = connection.version::<FindCoordinatorRequest>()?;
    let key = StrBytes::from_string(group.to_owned());
    let request = FindCoordinatorRequest::default().with_key_type(GROUP_KEY_TYPE);
    let request = if version >= 4 {
        request.with_coordinator_keys(vec![key])
    } else {
        request.with_key(key)
    };
    let response: FindCoordinatorResponse = connection.send_at_version(&request, version).await?;
    let (code, message, node_id, host, port) = match response.coordinators.first() {
        Some(c) if version >= 4 => (
            c.error_code,
            c.error_message.clone(),
            c.node_id.0,
            c.host.clone(),
            c.port,
        ),
        _ => (
            response.error_code,
            response.error_message,
            response.node_id.0,
            response.host,
            response.port,
        ),
    };
    let code = ErrorCode::from_code(code);
    if code != ErrorCode::None {
        let context = message.map_or_else(|| format!("group {group}"), |m| m.to_string());
        return Err(ClientError::broker(code, Some(context)));
    }
    Ok(BrokerMetadata {
        id: node_id,
        host: host.to_string(),
        port,
        rack: None,
    })
}

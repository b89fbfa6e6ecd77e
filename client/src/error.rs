//! The crate's error type: what can go wrong between this client and a broker,
//! in the caller's terms.

use std::time::Duration;

use sluice_protocol::ErrorCode;

/// Everything a client operation can fail with.
///
/// Broker-reported failures carry the Kafka [`ErrorCode`] so callers can match on
/// it; transport failures say which broker and why. Retriable failures are
/// retried inside the client until the operation's deadline; what reaches the
/// caller is the last error seen.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The configuration cannot work (empty bootstrap list, bad address, zero limit).
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// A TCP connection could not be opened within the connection setup timeout.
    #[error("cannot connect to {address}: {reason}")]
    Connect {
        /// The `host:port` we dialled.
        address: String,
        /// The OS error or "timed out".
        reason: String,
    },
    /// No bootstrap server answered ApiVersions and Metadata.
    #[error("no bootstrap server reachable (last error: {last_error})")]
    BootstrapFailed {
        /// The error from the last server tried.
        last_error: Box<ClientError>,
    },
    /// The connection closed (or broke) before the response arrived.
    #[error("connection to {address} closed: {reason}")]
    Disconnected {
        /// The broker address.
        address: String,
        /// What broke it.
        reason: String,
    },
    /// A request got no response within `request_timeout_ms`; the connection is
    /// closed because later responses on it can no longer be trusted to match.
    #[error("request {api} to {address} timed out after {timeout:?}")]
    RequestTimeout {
        /// The API name (`Metadata`, `ListOffsets`, ...).
        api: &'static str,
        /// The broker address.
        address: String,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// The whole operation, retries included, ran past `default_api_timeout_ms`.
    #[error("operation timed out after {timeout:?} (last error: {last_error})")]
    OperationTimeout {
        /// The deadline that passed.
        timeout: Duration,
        /// The last retriable error seen.
        last_error: Box<ClientError>,
    },
    /// The broker and this client share no version of an API.
    #[error("{}", describe_mismatch(api, address, *broker, *client))]
    UnsupportedVersion {
        /// The API name.
        api: &'static str,
        /// The broker address.
        address: String,
        /// The broker's `(min, max)` versions, `None` when it does not offer the API.
        broker: Option<(i16, i16)>,
        /// The client's `(min, max)` versions, `None` when the client does not speak it.
        client: Option<(i16, i16)>,
    },
    /// A frame was malformed, too large or did not match the request it answers.
    #[error("protocol error from {address}: {reason}")]
    Protocol {
        /// The broker address.
        address: String,
        /// What was wrong.
        reason: String,
    },
    /// Encoding a request failed (a field not representable at the chosen version).
    #[error("cannot encode {api} v{version}: {reason}")]
    Encode {
        /// The API name.
        api: &'static str,
        /// The version we tried.
        version: i16,
        /// The codec's message.
        reason: String,
    },
    /// The broker answered with a Kafka error code.
    #[error("broker error {code}{}", context.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Broker {
        /// The Kafka error code.
        code: ErrorCode,
        /// The broker's error message or the resource it concerns.
        context: Option<String>,
    },
    /// Metadata does not know the topic or partition asked for.
    #[error("unknown topic or partition {topic}-{partition}")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition index.
        partition: i32,
    },
    /// The metadata names a broker id it gives no address for.
    #[error("no address known for broker {0}")]
    UnknownBroker(i32),
    /// A consumer-group offset reset was refused because the group has members.
    #[error("group {group} is {state}; offsets can only be reset when it is Empty")]
    GroupNotEmpty {
        /// The group id.
        group: String,
        /// The group's current state.
        state: String,
    },
    /// The client was closed.
    #[error("client is closed")]
    Closed,
}

impl ClientError {
    /// A broker error with optional context.
    pub fn broker(code: ErrorCode, context: Option<String>) -> Self {
        ClientError::Broker { code, context }
    }

    /// The Kafka error code, for broker errors.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Broker { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether retrying the same operation later may succeed: transport
    /// failures and retriable Kafka errors.
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Connect { .. }
            | ClientError::Disconnected { .. }
            | ClientError::RequestTimeout { .. }
            | ClientError::UnknownPartition { .. }
            | ClientError::UnknownBroker(_) => true,
            ClientError::Broker { code, .. } => code.is_retriable(),
            _ => false,
        }
    }
}

fn describe_mismatch(
    api: &str,
    address: &str,
    broker: Option<(i16, i16)>,
    client: Option<(i16, i16)>,
) -> String {
    let range = |side: Option<(i16, i16)>| {
        side.map_or_else(
            || "no versions".to_owned(),
            |(min, max)| format!("versions {min}..={max}"),
        )
    };
    format!(
        "no common {api} version: broker {address} offers {}, client speaks {}",
        range(broker),
        range(client)
    )
}

/// Shows an error followed by each of its sources, `outer: inner: root`,
/// as the CLI prints errors. Errors state their cause only through
/// `source()`, never in their own text, so `to_string()` alone would drop
/// the cause where an error becomes a string (a report, a log line).
#[derive(Debug, Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// Results of this crate.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

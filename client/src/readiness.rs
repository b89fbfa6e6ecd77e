//! Waiting until a freshly started broker answers: what test harnesses and
//! the benchmark suite do after spawning one.

use std::time::{Duration, Instant};

use crate::client::Client;
use crate::config::ClientConfig;

/// Why [`wait_until_answering`] gave up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAnswering {
    /// `gone` reported that the process behind the address ended.
    #[error("{0}")]
    Gone(String),
    /// Nothing answered within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// Polls every `poll_interval` until a client bootstrapping from `bootstrap`
/// sees at least one broker in the metadata, for at most `timeout`. Before
/// each attempt `gone` may say that the process being waited for ended
/// (its exit status), which ends the wait at once.
///
/// # Errors
/// [`NotAnswering::Gone`] or [`NotAnswering::Timeout`].
pub async fn wait_until_answering(
    bootstrap: &str,
    timeout: Duration,
    poll_interval: Duration,
    mut gone: impl FnMut() -> Option<String>,
) -> Result<(), NotAnswering> {
    let started = Instant::now();
    let mut config = ClientConfig::new(bootstrap);
    config.request_timeout_ms = 5_000;
    config.default_api_timeout_ms = 5_000;
    config.socket_connection_setup_timeout_ms = 2_000;
    loop {
        if let Some(reason) = gone() {
            return Err(NotAnswering::Gone(reason));
        }
        if let Ok(client) = Client::connect(config.clone()).await {
            let brokers = client.with_metadata(|cache| cache.brokers().count());
            client.close();
            if brokers > 0 {
                return Ok(());
            }
        }
        if started.elapsed() > timeout {
            return Err(NotAnswering::Timeout(timeout));
        }
        tokio::time::sleep(poll_interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_gone_process_ends_the_wait_at_once() {
        let outcome = wait_until_answering(
            "127.0.0.1:1",
            Duration::from_secs(60),
            Duration::from_millis(10),
            || Some("exited with status 1".to_owned()),
        )
        .await;
        assert_eq!(
            outcome,
            Err(NotAnswering::Gone("exited with status 1".to_owned()))
        );
    }

    #[tokio::test]
    async fn nothing_listening_times_out() {
        // Port 1 on loopback: connections are refused at once.
        let outcome = wait_until_answering(
            "127.0.0.1:1",
            Duration::from_millis(200),
            Duration::from_millis(20),
            || None,
        )
        .await;
        assert_eq!(
            outcome,
            Err(NotAnswering::Timeout(Duration::from_millis(200)))
        );
    }
}

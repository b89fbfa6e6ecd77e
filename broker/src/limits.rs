//! The front door's limits: connections per broker and per client address,
//! the memory that requests read but not yet answered may hold across all
//! connections, and log lines that cannot flood.
//!
//! - `max.connections` / `max.connections.per.ip`: [`ConnectionQuotas`]
//!   admits a new connection or refuses it; an admitted connection holds a
//!   [`ConnectionPermit`] that gives its slot back when dropped. A refused
//!   connection is closed right after accept (Kafka closes a connection over
//!   `max.connections.per.ip` the same way).
//! - `queued.max.request.bytes`: [`RequestMemoryPool`] is one pool shared by
//!   every connection (Kafka's memory pool). A connection takes memory from
//!   it for the bytes of a request as they arrive and gives it back when the
//!   response is written; when the pool is empty it stops reading. A request
//!   larger than the whole pool is let through once it holds the whole pool
//!   (that is, when no other request holds any of it).
//! - [`LogRateLimit`]: at most one line per interval for an event that a
//!   client can cause at will (refused connections, bad frames), with the
//!   count of the events the quiet interval swallowed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::BrokerConfig;

/// Shortest time between two lines of one rate-limited log event.
pub(crate) const LOG_INTERVAL: Duration = Duration::from_secs(10);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section below leaves its counters consistent.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Everything the accept loop and the connections share.
#[derive(Debug)]
pub(crate) struct ServerLimits {
    /// `max.connections` and `max.connections.per.ip`.
    pub(crate) connections: Arc<ConnectionQuotas>,
    /// `queued.max.request.bytes`.
    pub(crate) request_memory: RequestMemoryPool,
    /// One line per interval about refused connections.
    pub(crate) refused_log: LogRateLimit,
    /// One line per interval about connections closed for bad input.
    pub(crate) bad_input_log: LogRateLimit,
}

impl ServerLimits {
    /// The limits `config` asks for.
    pub(crate) fn new(config: &BrokerConfig) -> Self {
        Self {
            connections: Arc::new(ConnectionQuotas::new(
                config.max_connections,
                config.max_connections_per_ip,
            )),
            request_memory: RequestMemoryPool::new(config.queued_max_request_bytes),
            refused_log: LogRateLimit::new(LOG_INTERVAL),
            bad_input_log: LogRateLimit::new(LOG_INTERVAL),
        }
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// The broker already serves `max.connections` connections.
    #[error("max.connections ({0}) reached")]
    Broker(usize),
    /// The client address already has `max.connections.per.ip` connections.
    #[error("max.connections.per.ip ({0}) reached")]
    PerIp(usize),
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Counts open connections, in total and per client address.
#[derive(Debug)]
pub(crate) struct ConnectionQuotas {
    max_connections: usize,
    max_connections_per_ip: usize,
    open: Mutex<Open>,
}

impl ConnectionQuotas {
    /// Quotas of `max_connections` in total and `max_connections_per_ip`
    /// per address (non-positive values admit nothing, as in Kafka a
    /// per-ip limit of 0 blocks that address).
    pub(crate) fn new(max_connections: i32, max_connections_per_ip: i32) -> Self {
        Self {
            max_connections: usize::try_from(max_connections).unwrap_or(0),
            max_connections_per_ip: usize::try_from(max_connections_per_ip).unwrap_or(0),
            open: Mutex::new(Open::default()),
        }
    }

    /// Admits one more connection from `ip`, or says which limit refuses it.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionPermit, Refusal> {
        let mut open = lock(&self.open);
        if open.total >= self.max_connections {
            return Err(Refusal::Broker(self.max_connections));
        }
        let from_ip = open.per_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= self.max_connections_per_ip {
            return Err(Refusal::PerIp(self.max_connections_per_ip));
        }
        open.total += 1;
        open.per_ip.insert(ip, from_ip + 1);
        Ok(ConnectionPermit {
            quotas: Arc::clone(self),
            ip,
        })
    }

    /// Connections open right now.
    #[cfg(test)]
    fn open_connections(&self) -> usize {
        lock(&self.open).total
    }

    fn release(&self, ip: IpAddr) {
        let mut open = lock(&self.open);
        debug_assert!(open.total > 0, "a permit is released once");
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.per_ip.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                open.per_ip.remove(&ip);
            }
        }
    }
}

/// One admitted connection's slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct ConnectionPermit {
    quotas: Arc<ConnectionQuotas>,
    ip: IpAddr,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.quotas.release(self.ip);
    }
}

/// The memory that requests read but not yet answered may hold, shared by
/// all connections (`queued.max.request.bytes`; negative: unbounded).
#[derive(Debug)]
pub(crate) struct RequestMemoryPool {
    /// `None` when unbounded.
    semaphore: Option<Arc<Semaphore>>,
    capacity: usize,
}

/// Memory taken from a [`RequestMemoryPool`]; dropping it gives it back.
#[derive(Debug, Default)]
pub(crate) struct RequestMemory {
    permit: Option<OwnedSemaphorePermit>,
}

impl RequestMemory {
    /// Adds `other` to this reservation.
    pub(crate) fn merge(&mut self, other: RequestMemory) {
        match (&mut self.permit, other.permit) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (mine @ None, theirs) => *mine = theirs,
            (Some(_), None) => {}
        }
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.permit
            .as_ref()
            .map_or(0, OwnedSemaphorePermit::num_permits)
    }
}

impl RequestMemoryPool {
    /// A pool of `queued_max_request_bytes` bytes; negative means unbounded.
    pub(crate) fn new(queued_max_request_bytes: i64) -> Self {
        match usize::try_from(queued_max_request_bytes) {
            Ok(bytes) => {
                // Zero would admit nothing at all; one byte keeps requests
                // flowing one at a time.
                let capacity = bytes.clamp(1, Semaphore::MAX_PERMITS);
                Self {
                    semaphore: Some(Arc::new(Semaphore::new(capacity))),
                    capacity,
                }
            }
            Err(_) => Self {
                semaphore: None,
                capacity: usize::MAX,
            },
        }
    }

    /// Bytes free right now (`usize::MAX` when unbounded).
    #[cfg(test)]
    pub(crate) fn available(&self) -> usize {
        self.semaphore
            .as_ref()
            .map_or(usize::MAX, |semaphore| semaphore.available_permits())
    }

    /// Takes `bytes` from the pool, waiting until they are free. A request
    /// that already holds `held` bytes never takes more than the whole pool
    /// in total, so one larger than the pool proceeds once it holds all of it.
    pub(crate) async fn take(&self, bytes: usize, held: usize) -> RequestMemory {
        let Some(semaphore) = &self.semaphore else {
            return RequestMemory::default();
        };
        let wanted = bytes.min(self.capacity.saturating_sub(held));
        if wanted == 0 {
            return RequestMemory::default();
        }
        let wanted = u32::try_from(wanted).unwrap_or(u32::MAX);
        let permit = match Arc::clone(semaphore).try_acquire_many_owned(wanted) {
            Ok(permit) => Some(permit),
            // The semaphore is never closed, so acquiring only waits.
            Err(_) => Arc::clone(semaphore).acquire_many_owned(wanted).await.ok(),
        };
        RequestMemory { permit }
    }
}

/// Lets one log line through per interval and counts the events in between.
#[derive(Debug)]
pub(crate) struct LogRateLimit {
    interval: Duration,
    state: Mutex<LogState>,
}

#[derive(Debug, Default)]
struct LogState {
    last_line: Option<Instant>,
    events_since: u64,
}

impl LogRateLimit {
    /// At most one line per `interval`.
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            state: Mutex::new(LogState::default()),
        }
    }

    /// Records one event at `now`; returns the number of events (this one
    /// included) the caller should report in one line, or `None` to stay quiet.
    pub(crate) fn event(&self, now: Instant) -> Option<u64> {
        let mut state = lock(&self.state);
        state.events_since += 1;
        let due = state
            .last_line
            .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if !due {
            return None;
        }
        state.last_line = Some(now);
        Some(std::mem::take(&mut state.events_since))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn connections_over_max_connections_are_refused_until_one_closes() {
        let quotas = Arc::new(ConnectionQuotas::new(2, i32::MAX));
        let first = quotas.admit(A).unwrap();
        let _second = quotas.admit(B).unwrap();
        assert_eq!(quotas.admit(A).unwrap_err(), Refusal::Broker(2));
        drop(first);
        assert!(quotas.admit(B).is_ok());
    }

    #[test]
    fn max_connections_per_ip_refuses_only_that_address() {
        let quotas = Arc::new(ConnectionQuotas::new(i32::MAX, 1));
        let _a = quotas.admit(A).unwrap();
        assert_eq!(quotas.admit(A).unwrap_err(), Refusal::PerIp(1));
        let _b = quotas.admit(B).unwrap();
        assert_eq!(quotas.open_connections(), 2);
    }

    #[test]
    fn dropped_permits_free_their_address() {
        let quotas = Arc::new(ConnectionQuotas::new(i32::MAX, 1));
        drop(quotas.admit(A).unwrap());
        assert!(lock(&quotas.open).per_ip.is_empty());
        let _again = quotas.admit(A).unwrap();
        assert_eq!(lock(&quotas.open).per_ip.len(), 1);
    }

    #[tokio::test]
    async fn request_memory_returns_to_the_pool_when_dropped() {
        let pool = RequestMemoryPool::new(100);
        let mut memory = pool.take(60, 0).await;
        memory.merge(pool.take(30, 60).await);
        assert_eq!((memory.bytes(), pool.available()), (90, 10));
        drop(memory);
        assert_eq!(pool.available(), 100);
    }

    #[tokio::test]
    async fn a_request_waits_while_the_pool_is_exhausted() {
        let pool = Arc::new(RequestMemoryPool::new(100));
        let held = pool.take(80, 0).await;
        let waiter = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.take(50, 0).await.bytes() })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(held);
        assert_eq!(waiter.await.unwrap(), 50);
    }

    #[tokio::test]
    async fn a_request_larger_than_the_pool_holds_at_most_the_whole_pool() {
        let pool = RequestMemoryPool::new(100);
        let mut memory = pool.take(70, 0).await;
        memory.merge(pool.take(70, 70).await);
        assert_eq!(memory.bytes(), 100);
        assert_eq!(pool.take(70, 100).await.bytes(), 0);
    }

    #[tokio::test]
    async fn negative_queued_max_request_bytes_is_unbounded() {
        let pool = RequestMemoryPool::new(-1);
        assert_eq!(pool.take(1 << 40, 0).await.bytes(), 0);
        assert_eq!(pool.available(), usize::MAX);
    }

    #[test]
    fn rate_limited_log_reports_the_swallowed_events_in_the_next_line() {
        let log = LogRateLimit::new(Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(log.event(start), Some(1));
        assert_eq!(log.event(start + Duration::from_secs(1)), None);
        assert_eq!(log.event(start + Duration::from_secs(2)), None);
        assert_eq!(log.event(start + Duration::from_secs(10)), Some(3));
    }
}

//! The active controller's soft state: broker sessions.
//!
//! Everything durable lives in the [`MetadataImage`]; what the controller
//! keeps besides is when each broker last heartbeaten and which metadata
//! offset it must reach to be caught up. A newly elected controller starts
//! with none of it and gives every unfenced broker a full session from its
//! first tick (Kafka does the same).

use std::collections::BTreeMap;

use crate::config::ControllerConfig;
use crate::image::MetadataImage;
use crate::records::BrokerId;

/// One broker's session as the active controller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Session {
    /// The registration the session belongs to.
    pub(crate) broker_epoch: i64,
    /// When the last heartbeat (or the registration) arrived.
    pub(crate) last_contact_ms: u64,
    /// The metadata offset the broker must have applied to be caught up.
    pub(crate) catch_up_offset: i64,
}

/// The controller's decisions, sans-IO.
///
/// Each method takes the current image (with every record the controller has
/// proposed so far applied), the time as `now_ms` where it matters, and a
/// request; it returns a [`crate::Decision`]: the records to commit and the
/// answer. It never reads a clock or touches a socket.
#[derive(Debug, Clone)]
pub struct ControllerState {
    pub(crate) config: ControllerConfig,
    pub(crate) sessions: BTreeMap<BrokerId, Session>,
}

impl ControllerState {
    /// A controller that has just become active.
    pub fn new(config: ControllerConfig) -> Self {
        Self {
            config,
            sessions: BTreeMap::new(),
        }
    }

    /// The controller's settings.
    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    /// Whether `broker_id`'s session (as of `now_ms`) has expired.
    pub(crate) fn session_expired(&self, broker_id: BrokerId, now_ms: u64) -> bool {
        self.sessions.get(&broker_id).is_some_and(|s| {
            now_ms.saturating_sub(s.last_contact_ms) > self.config.broker_session_timeout_ms
        })
    }

    /// Drops sessions of registrations the image no longer has, and starts a
    /// session for unfenced brokers the controller has not heard from (after
    /// a controller failover).
    pub(crate) fn reconcile_sessions(&mut self, image: &MetadataImage, now_ms: u64) {
        self.sessions.retain(|id, s| {
            image
                .broker(*id)
                .is_some_and(|b| b.broker_epoch == s.broker_epoch)
        });
        for broker in image.brokers().filter(|b| !b.fenced) {
            self.sessions.entry(broker.broker_id).or_insert(Session {
                broker_epoch: broker.broker_epoch,
                last_contact_ms: now_ms,
                catch_up_offset: 0,
            });
        }
    }
}

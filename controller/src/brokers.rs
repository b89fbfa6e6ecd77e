//! Broker lifecycle decisions: registration, heartbeats, session expiry and
//! controlled shutdown.

use sluice_protocol::ErrorCode;

use crate::election::{elect_offline_partitions, remove_broker_everywhere};
use crate::image::MetadataImage;
use crate::messages::{
    Decision, HeartbeatRequest, HeartbeatResponse, RegisterBrokerRequest, RegisterBrokerResponse,
};
use crate::pending::Pending;
use crate::records::{BrokerEpochRef, MetadataRecord, RegisterBrokerRecord};
use crate::state::{ControllerState, Session};

impl ControllerState {
    /// BrokerRegistration. A new incarnation replaces the old registration
    /// (which cannot heartbeat any more) and starts fenced; the old
    /// registration's leaderships move first. The same incarnation asking
    /// again (a retry) gets its current epoch back and no record.
    ///
    /// `metadata_end_offset` is the offset the registration record will get:
    /// the broker is caught up once it has applied that far.
    pub fn register_broker(
        &mut self,
        image: &MetadataImage,
        now_ms: u64,
        metadata_end_offset: i64,
        request: &RegisterBrokerRequest,
    ) -> Decision<RegisterBrokerResponse> {
        if request.broker_id < 0 {
            return Decision {
                records: Vec::new(),
                response: RegisterBrokerResponse {
                    error: ErrorCode::InvalidRegistration,
                    broker_epoch: -1,
                },
            };
        }
        if let Some(current) = image.broker(request.broker_id)
            && current.incarnation_id == request.incarnation_id
        {
            return Decision {
                records: Vec::new(),
                response: RegisterBrokerResponse {
                    error: ErrorCode::None,
                    broker_epoch: current.broker_epoch,
                },
            };
        }
        let broker_epoch = image.last_broker_epoch().saturating_add(1);
        let mut pending = Pending::new(image);
        pending.push(MetadataRecord::RegisterBroker(RegisterBrokerRecord {
            broker_id: request.broker_id,
            incarnation_id: request.incarnation_id,
            broker_epoch,
            endpoints: request.endpoints.clone(),
            rack: request.rack.clone(),
        }));
        // The new incarnation is fenced: its old leaderships and ISR places
        // (the restarted process may have lost unflushed records) go.
        let unclean = self.config.unclean_leader_election_enable;
        remove_broker_everywhere(&mut pending, request.broker_id, unclean);
        self.sessions.insert(
            request.broker_id,
            Session {
                broker_epoch,
                last_contact_ms: now_ms,
                catch_up_offset: metadata_end_offset,
            },
        );
        tracing::info!(
            broker_id = request.broker_id,
            broker_epoch,
            "broker registered"
        );
        Decision {
            records: pending.into_records(),
            response: RegisterBrokerResponse {
                error: ErrorCode::None,
                broker_epoch,
            },
        }
    }

    /// BrokerHeartbeat: renews the session; unfences a caught-up broker and
    /// elects it where partitions were offline; fences a broker that asks;
    /// runs a controlled shutdown (leaderships off, then
    /// `should_shut_down`).
    pub fn heartbeat(
        &mut self,
        image: &MetadataImage,
        now_ms: u64,
        request: &HeartbeatRequest,
    ) -> Decision<HeartbeatResponse> {
        let refused = |error| Decision {
            records: Vec::new(),
            response: HeartbeatResponse {
                error,
                is_caught_up: false,
                is_fenced: true,
                should_shut_down: false,
            },
        };
        let Some(registration) = image.broker(request.broker_id) else {
            return refused(ErrorCode::BrokerIdNotRegistered);
        };
        if registration.broker_epoch != request.broker_epoch {
            return refused(ErrorCode::StaleBrokerEpoch);
        }
        let broker = BrokerEpochRef {
            broker_id: request.broker_id,
            broker_epoch: request.broker_epoch,
        };
        let session = self.sessions.entry(request.broker_id).or_insert(Session {
            broker_epoch: request.broker_epoch,
            last_contact_ms: now_ms,
            catch_up_offset: 0,
        });
        session.last_contact_ms = now_ms;
        let is_caught_up = request.current_metadata_offset >= session.catch_up_offset;
        let unclean = self.config.unclean_leader_election_enable;
        let mut pending = Pending::new(image);
        if request.want_shut_down {
            if !registration.in_controlled_shutdown {
                pending.push(MetadataRecord::BrokerControlledShutdown(broker));
                remove_broker_everywhere(&mut pending, request.broker_id, unclean);
            }
        } else if request.want_fence {
            if !registration.fenced {
                pending.push(MetadataRecord::FenceBroker(broker));
                remove_broker_everywhere(&mut pending, request.broker_id, unclean);
            }
        } else if registration.fenced && is_caught_up {
            pending.push(MetadataRecord::UnfenceBroker(broker));
            elect_offline_partitions(&mut pending, unclean);
            tracing::info!(broker_id = request.broker_id, "broker unfenced");
        }
        let should_shut_down = request.want_shut_down
            && pending
                .image()
                .partitions_led_by(request.broker_id)
                .is_empty();
        let fenced_now = pending
            .image()
            .broker(request.broker_id)
            .is_some_and(|b| b.fenced);
        if should_shut_down && !fenced_now {
            pending.push(MetadataRecord::FenceBroker(broker));
        }
        let is_fenced = pending
            .image()
            .broker(request.broker_id)
            .is_none_or(|b| b.fenced);
        Decision {
            records: pending.into_records(),
            response: HeartbeatResponse {
                error: ErrorCode::None,
                is_caught_up,
                is_fenced,
                should_shut_down,
            },
        }
    }

    /// The periodic check (every 100 ms or so): fences every unfenced broker
    /// whose last heartbeat is older than `broker.session.timeout.ms` and
    /// moves its leaderships to live ISR members.
    pub fn tick(&mut self, image: &MetadataImage, now_ms: u64) -> Vec<MetadataRecord> {
        self.reconcile_sessions(image, now_ms);
        let expired: Vec<BrokerEpochRef> = image
            .brokers()
            .filter(|b| !b.fenced && self.session_expired(b.broker_id, now_ms))
            .map(|b| BrokerEpochRef {
                broker_id: b.broker_id,
                broker_epoch: b.broker_epoch,
            })
            .collect();
        let unclean = self.config.unclean_leader_election_enable;
        let mut pending = Pending::new(image);
        for broker in expired {
            tracing::warn!(
                broker_id = broker.broker_id,
                "broker session expired; fencing it"
            );
            pending.push(MetadataRecord::FenceBroker(broker));
            remove_broker_everywhere(&mut pending, broker.broker_id, unclean);
        }
        pending.into_records()
    }
}

//! Sluice's cluster controller: the metadata log's records, the image they
//! build, the active controller's decisions, and the Raft log on disk
//! (DESIGN.md section 5; issue 18, first steps).
//!
//! Everything here is synchronous and sans-IO except the file code, which does
//! plain blocking file I/O (call it from a blocking task), and the `quorum`
//! module, the async shell (tokio, openraft) around the rest. Nothing depends
//! on the broker; the broker will depend on this crate.
//!
//! # The map
//!
//! | module | what it holds |
//! |---|---|
//! | `records` | [`MetadataRecord`]: broker registrations (id, incarnation, endpoints, rack), fencing, controlled shutdown, topics with configs, partitions (replicas, ISR, leader, leader epoch, partition epoch), partition changes (KIP-497), config changes, topic removal, producer-id blocks (KIP-730). |
//! | `codec` | [`encode_batch`] / [`decode_batch`]: one decision's records as one Raft entry's bytes (a version byte, then postcard; deterministic). |
//! | `image` | [`MetadataImage`]: the cluster as the records describe it; a pure [`MetadataImage::apply`] that refuses inconsistent records ([`ApplyError`]) and the queries brokers need. |
//! | `config` | [`ControllerConfig`]: `broker.session.timeout.ms` (2000), `broker.heartbeat.interval.ms` (500), `unclean.leader.election.enable` (false), `num.partitions`, `default.replication.factor`, producer-id block size, per-request partition limit. |
//! | `state`, `brokers` | [`ControllerState`]: broker sessions; registration, heartbeats (unfence once caught up), session expiry on `tick`, controlled shutdown. |
//! | `election` | Leader election from the ISR in replica order; the partition goes offline (leader -1) rather than elect outside the ISR unless unclean election is on. |
//! | `placement` | [`place_replicas`]: spreads replicas and leaders evenly (within one per broker without racks), rack-aware. |
//! | `topics`, `alter_partition`, `producer_ids` | CreateTopics, CreatePartitions, DeleteTopics; AlterPartition with Kafka's error codes; producer-id blocks. |
//! | `messages` | The plain request and response structs of the decisions, and [`Decision`]. |
//! | `raft_log` | [`RaftLogFile`]: the append-only Raft log (length + CRC-32 frames, fsync on append, torn tail cut at open, suffix truncation, prefix purge by rewrite and rename). |
//! | `snapshot`, `checked_file` | [`SnapshotStore`]: snapshots and the vote, written through a temp file, fsync and rename; a corrupt newest snapshot falls back to an older one. |
//! | `quorum` | [`MetadataQuorum`], our one trait over Raft (propose, subscribe, image, status), and [`RaftQuorum`]: openraft `=0.10.0-alpha.37` over the files above, a TCP transport between controllers, and the metadata state machine. The only module that names openraft. |
//!
//! # How the shell drives it
//!
//! The active controller (the Raft leader) owns one [`ControllerState`] and
//! an image with every record it has proposed applied. For each request it
//! calls the decision (`register_broker`, `heartbeat`, `create_topics`, ...)
//! with `now_ms`, proposes the returned [`Decision::records`] as one Raft
//! entry ([`encode_batch`]), applies them to its image at once so the next
//! decision sees them, and answers [`Decision::response`] once the entry is
//! committed. Every ~100 ms it calls [`ControllerState::tick`] and proposes
//! what that returns (fencing of expired sessions and the elections that
//! follow). On losing leadership it drops its state and rebuilds the image
//! from committed records. Every node (voter or not) applies committed
//! entries ([`decode_batch`], then [`MetadataImage::apply`] per record) to
//! the image its broker reads.
//!
//! ```
//! use sluice_controller::{
//!     ControllerConfig, ControllerState, CreatableTopic, CreateTopicsRequest, HeartbeatRequest,
//!     MetadataImage, RegisterBrokerRequest,
//! };
//!
//! let mut image = MetadataImage::new();
//! let mut controller = ControllerState::new(ControllerConfig::default());
//! let register = RegisterBrokerRequest {
//!     broker_id: 1,
//!     incarnation_id: uuid::Uuid::from_u128(7),
//!     endpoints: Vec::new(),
//!     rack: None,
//! };
//! let decision = controller.register_broker(&image, 0, 0, &register);
//! for record in &decision.records {
//!     image.apply(record).expect("the controller's records fit its image");
//! }
//! let heartbeat = HeartbeatRequest {
//!     broker_id: 1,
//!     broker_epoch: decision.response.broker_epoch,
//!     current_metadata_offset: 1,
//!     want_fence: false,
//!     want_shut_down: false,
//! };
//! for record in &controller.heartbeat(&image, 500, &heartbeat).records {
//!     image.apply(record).expect("the controller's records fit its image");
//! }
//! let topic = CreatableTopic { name: "orders".into(), num_partitions: 3, replication_factor: 1, ..Default::default() };
//! let request = CreateTopicsRequest { topics: vec![topic], validate_only: false };
//! let decision = controller.create_topics(&image, &request, &mut || uuid::Uuid::from_u128(42));
//! for record in &decision.records {
//!     image.apply(record).expect("the controller's records fit its image");
//! }
//! assert_eq!(image.partitions_led_by(1).len(), 3);
//! ```
//!
//! # Design notes
//!
//! - **Records carry their epochs.** Kafka derives leader and partition
//!   epochs on replay; here a [`PartitionChangeRecord`] states them and
//!   `apply` refuses one that does not follow (partition epoch + 1; leader
//!   epoch + 1 exactly when the leader changes), so a bug shows as an error,
//!   not as a silently different image.
//! - **Broker epochs** are a counter in the image (each registration gets the
//!   last + 1), not the record's log offset as in Kafka, so decisions need
//!   no offsets. A new incarnation replaces the old registration at once
//!   (Kafka refuses it while the old session lives): a restarted broker does
//!   not wait out a session; the old process's heartbeats get
//!   STALE_BROKER_EPOCH. The new registration starts fenced and leaves every
//!   ISR (its unflushed tail may be gone).
//! - **Session 2000 ms, heartbeat 500 ms** ([`ControllerConfig`]): a killed
//!   broker is fenced 2.0-2.1 s after its last heartbeat (with a 100 ms
//!   tick) and its leaderships move in the same entry, under the 3 s goal.
//! - **No ELR (KIP-966).** When the last ISR member is fenced it stays the
//!   ISR and the partition is offline (leader -1) until it returns, or until
//!   an unclean election if enabled.
//! - **Placement** is a greedy least-loaded pick (see [`place_replicas`]),
//!   not Kafka's randomised striping, so it is deterministic and testable.
//! - **Producer-id blocks** are consecutive ranges; the image keeps only the
//!   next free id.
//! - **The Raft glue.** openraft's standard leader id makes a log id exactly
//!   (term, index), the frame [`RaftLogFile`] stores; an entry's payload is a
//!   kind byte and an encoded record batch (or openraft's membership as
//!   JSON). Between controllers, frames are a length and JSON (openraft's
//!   own serde types), one connection per peer. Every voter proposes the
//!   configured voters as the first membership when its log is empty.
//!   Offsets are Raft indexes.
//! - **Wired so far:** `sluice broker` voters (`--controller-listen`,
//!   `--controller-quorum-voters`) run a [`RaftQuorum`] in combined mode and
//!   answer DescribeQuorum from [`MetadataQuorum::status`].
//! - **Not yet here:** the active controller's loop (tick,
//!   proposing decisions, rebuilding its state on leadership change),
//!   forwarding admin requests, config validation, partition reassignment,
//!   snapshots tuned to the metadata size (openraft's default policy now).
#![deny(missing_docs)]

mod alter_partition;
mod brokers;
mod checked_file;
mod codec;
mod config;
mod election;
mod error;
mod image;
mod messages;
mod pending;
mod placement;
mod producer_ids;
mod quorum;
mod raft_log;
mod records;
mod snapshot;
mod state;
mod storage_error;
mod topics;

#[cfg(test)]
mod alter_partition_tests;
#[cfg(test)]
mod brokers_tests;
#[cfg(test)]
mod codec_tests;
#[cfg(test)]
mod image_tests;
#[cfg(test)]
mod property_tests;
#[cfg(test)]
mod raft_log_tests;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod topics_tests;

pub use codec::{CodecError, RECORD_FORMAT_VERSION, decode_batch, encode_batch};
pub use config::ControllerConfig;
pub use error::ApplyError;
pub use image::{BrokerRegistration, MetadataImage, PartitionState, TopicImage};
pub use messages::{
    AllocateProducerIdsRequest, AllocateProducerIdsResponse, AlterPartitionItem,
    AlterPartitionRequest, AlterPartitionResponse, AlterPartitionResult, CreatableTopic,
    CreatePartitionsRequest, CreatePartitionsTopic, CreateTopicsRequest, CreatedTopic, Decision,
    DeleteTopicsRequest, HeartbeatRequest, HeartbeatResponse, RegisterBrokerRequest,
    RegisterBrokerResponse, TopicOutcome,
};
pub use placement::{PlacementBroker, place_replicas};
pub use quorum::{
    CommittedBatch, MetadataBatch, MetadataQuorum, QuorumConfig, QuorumError, QuorumStatus,
    RaftQuorum, VoterProgress,
};
pub use raft_log::{
    LogEntry, LogId, LogRecovery, RAFT_LOG_FILE_NAME, RaftLogFile, RaftStorageConfig,
};
pub use records::{
    BrokerEndpoint, BrokerEpochRef, BrokerId, ConfigRecord, ConfigResource, MetadataRecord,
    NO_LEADER, PartitionChangeRecord, PartitionRecord, ProducerIdsRecord, RegisterBrokerRecord,
    TopicRecord,
};
pub use snapshot::{Snapshot, SnapshotStore, VOTE_FILE_NAME};
pub use state::ControllerState;
pub use storage_error::StorageError;

//! The controller's settings, with Kafka's names and documented defaults.

use serde::{Deserialize, Serialize};

/// The controller's settings.
///
/// Field names are Kafka's with dots turned into underscores; the serde names
/// are Kafka's own (`broker.session.timeout.ms`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ControllerConfig {
    /// A broker that has not heartbeaten for this long is fenced and its
    /// leaderships move (`broker.session.timeout.ms`). Default 2000 ms, not
    /// Kafka's 9000: issue 18 wants a killed broker's leaderships moved in
    /// under 3 s. Fencing happens at most one controller tick (100 ms) after
    /// the timeout, the fence and elections commit in one Raft round trip on
    /// loopback (milliseconds), which leaves about 800 ms for brokers to see
    /// the new image. Four heartbeats fit in a session, so one or two late
    /// heartbeats (a GC pause, a slow fsync) do not fence a healthy broker.
    #[serde(rename = "broker.session.timeout.ms")]
    pub broker_session_timeout_ms: u64,
    /// How often brokers heartbeat (`broker.heartbeat.interval.ms`); the
    /// controller hands it out and checks it is well below the session
    /// timeout. Default 500 ms (Kafka: 2000 ms).
    #[serde(rename = "broker.heartbeat.interval.ms")]
    pub broker_heartbeat_interval_ms: u64,
    /// Whether a replica outside the ISR may become leader when no ISR member
    /// is alive (`unclean.leader.election.enable`), losing acknowledged
    /// records. Default false: the partition stays offline (leader -1) until
    /// an ISR member returns.
    #[serde(rename = "unclean.leader.election.enable")]
    pub unclean_leader_election_enable: bool,
    /// Partitions of a topic created without a count (`num.partitions`).
    /// Default 1.
    #[serde(rename = "num.partitions")]
    pub num_partitions: i32,
    /// Replication factor of a topic created without one
    /// (`default.replication.factor`). Default 1.
    #[serde(rename = "default.replication.factor")]
    pub default_replication_factor: i16,
    /// Producer ids per block handed to a broker (KIP-730; Kafka fixes it at
    /// 1000). Default 1000.
    #[serde(rename = "producer.id.block.size")]
    pub producer_id_block_size: i64,
    /// Most partitions one CreateTopics or CreatePartitions may create per
    /// topic, so one request cannot make the metadata log explode. Default
    /// 10000.
    #[serde(rename = "max.partitions.per.request")]
    pub max_partitions_per_request: i32,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            broker_session_timeout_ms: 2000,
            broker_heartbeat_interval_ms: 500,
            unclean_leader_election_enable: false,
            num_partitions: 1,
            default_replication_factor: 1,
            producer_id_block_size: 1000,
            max_partitions_per_request: 10_000,
        }
    }
}

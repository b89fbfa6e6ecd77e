//! Settings of the group coordinator, named after Kafka's broker settings.

/// Limits and timeouts of the classic group coordinator.
///
/// Every field mirrors the Kafka broker setting of the same name so that
/// clients tuned for Kafka behave the same against Sluice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms`: the shortest session a member may ask
    /// for; shorter ones get INVALID_SESSION_TIMEOUT so a flaky client cannot
    /// make the coordinator churn.
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`: the longest session a member may ask
    /// for; bounds how long a dead consumer can hold its partitions.
    pub group_max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an
    /// empty group waits for more members, so a fleet starting together gets
    /// one rebalance instead of one per member.
    pub group_initial_rebalance_delay_ms: i32,
    /// `group.max.size`: the most members a group may have; joins beyond it
    /// get GROUP_MAX_SIZE_REACHED.
    pub group_max_size: usize,
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets`;
    /// fixes which partition holds a group's records.
    pub offsets_topic_num_partitions: i32,
    /// `offsets.retention.ms`: how long committed offsets of an empty group
    /// (or of a group without group management) are kept.
    pub offsets_retention_ms: i64,
    /// `offsets.retention.check.interval.ms`: how often `tick` looks for
    /// expired offsets; scanning every group on every tick would be wasteful.
    pub offsets_retention_check_interval_ms: i64,
    /// `offset.metadata.max.bytes`: the largest commit metadata string kept;
    /// longer ones get OFFSET_METADATA_TOO_LARGE.
    pub offset_metadata_max_bytes: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        Self {
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_initial_rebalance_delay_ms: 3_000,
            group_max_size: i32::MAX as usize,
            offsets_topic_num_partitions: 50,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            offsets_retention_check_interval_ms: 600_000,
            offset_metadata_max_bytes: 4096,
        }
    }
}

//! The broker's typed configuration.
//!
//! Field names are Kafka's broker setting names with dots turned into
//! underscores, so a Kafka operator recognises every knob; defaults are
//! Kafka's except where a single laptop node wants something else (listener
//! on loopback, data in `./sluice-data`). `config/single.toml` writes every
//! default out.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sluice_storage::LogConfig;

/// Everything the broker needs to start; `Default` is a working single node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// `listeners`: the address the broker binds (`host:port`).
    pub listeners: String,
    /// `advertised.listeners`: the address clients are told to connect to;
    /// `None` advertises the bound address.
    pub advertised_listeners: Option<String>,
    /// `node.id`: this broker's id in Metadata responses.
    pub node_id: i32,
    /// The controller listener's address (`host:port`), which the other
    /// controllers reach this node's quorum on (Kafka: the listener named by
    /// `controller.listener.names`). Only voters have one; `None` on a
    /// single node.
    pub controller_listener: Option<String>,
    /// `controller.quorum.voters`: every controller of the metadata quorum,
    /// `id@host:port,...` (`1@127.0.0.1:19093,2@127.0.0.1:29093`). `None`
    /// (the default) runs a single node without a quorum.
    pub controller_quorum_voters: Option<String>,
    /// `log.dirs`: where partition logs, topic metadata and `meta.properties` live.
    pub data_dir: PathBuf,
    /// `message.max.bytes`: the largest record batch a produce may carry
    /// (topic-level `max.message.bytes` overrides it per topic).
    pub message_max_bytes: usize,
    /// `socket.request.max.bytes`: the largest request frame; bigger length
    /// prefixes close the connection before anything is allocated.
    pub socket_request_max_bytes: usize,
    /// `connections.max.idle.ms`: a connection is closed after this long
    /// without a complete request or a response, including one that stalls
    /// half-way through a frame.
    pub connections_max_idle_ms: u64,
    /// `max.connections`: connections the broker serves at once; one more is
    /// closed right after accept. Kafka's default (`i32::MAX`) is no limit.
    pub max_connections: i32,
    /// `max.connections.per.ip`: connections one client address may hold; one
    /// more is closed right after accept. Kafka's default (`i32::MAX`) is no
    /// limit.
    pub max_connections_per_ip: i32,
    /// `socket.listen.backlog.size`: connections the kernel queues for the
    /// listener before the broker accepts them.
    pub socket_listen_backlog_size: u32,
    /// `queued.max.request.bytes`, for the whole broker: bytes of requests
    /// read but not yet answered, over all connections (Kafka's memory
    /// pool). A connection takes memory as a request's bytes arrive and
    /// stops reading while the pool is empty; one request larger than the
    /// pool goes through once no other request holds any of it. `-1` is no
    /// limit (Kafka's default); ours is 100 MiB so that a single node's
    /// memory for unanswered requests is bounded out of the box.
    pub queued_max_request_bytes: i64,
    /// `queued.max.requests`, per connection: requests read but not yet
    /// answered; when reached the connection stops reading.
    pub queued_max_requests: usize,
    /// `auto.create.topics.enable`: whether Metadata creates unknown topics.
    pub auto_create_topics_enable: bool,
    /// `num.partitions`: partitions of auto-created topics and of
    /// CreateTopics requests that leave the count to the broker.
    pub num_partitions: i32,
    /// `default.replication.factor`: the only factor a single node supports is 1.
    pub default_replication_factor: i16,
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets`.
    pub offsets_topic_num_partitions: i32,
    /// `offsets.topic.segment.bytes`: segment size of `__consumer_offsets`
    /// partitions, small so 50 mostly empty partitions stay cheap.
    pub offsets_topic_segment_bytes: u64,
    /// `group.min.session.timeout.ms`: shortest session a group member may ask for.
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`: longest session a group member may ask for.
    pub group_max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`: how long a new group waits for more members.
    pub group_initial_rebalance_delay_ms: i32,
    /// `fetch.max.bytes`: the broker's cap on one Fetch response.
    pub fetch_max_bytes: usize,
    /// `log.retention.check.interval.ms`: how often retention runs.
    pub log_retention_check_interval_ms: u64,
    /// `log.flush.scheduler.interval.ms`: how often idle partitions check
    /// whether `flush.ms` makes a flush due.
    pub log_flush_scheduler_interval_ms: u64,
    /// Defaults for every partition log (`log.*` settings); topics override them.
    pub log: LogConfig,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            listeners: "127.0.0.1:9092".to_owned(),
            advertised_listeners: None,
            node_id: 1,
            controller_listener: None,
            controller_quorum_voters: None,
            data_dir: PathBuf::from("./sluice-data"),
            message_max_bytes: 1_048_588,
            socket_request_max_bytes: 104_857_600,
            connections_max_idle_ms: 600_000,
            max_connections: i32::MAX,
            max_connections_per_ip: i32::MAX,
            socket_listen_backlog_size: 50,
            queued_max_request_bytes: 104_857_600,
            queued_max_requests: 500,
            auto_create_topics_enable: true,
            num_partitions: 1,
            default_replication_factor: 1,
            offsets_topic_num_partitions: 50,
            offsets_topic_segment_bytes: 8 * 1024 * 1024,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            // Kafka's code default is 3000; its shipped server.properties sets
            // 0, which is what a single node run without a config wants.
            group_initial_rebalance_delay_ms: 0,
            fetch_max_bytes: 57_671_680,
            log_retention_check_interval_ms: 300_000,
            log_flush_scheduler_interval_ms: 1_000,
            log: LogConfig::default(),
        }
    }
}

/// Each topic-level config the `[log]` table holds, with the Kafka broker
/// setting it falls back to (DescribeConfigs reports that setting as the
/// topic config's synonym).
const TOPIC_CONFIG_BROKER_SETTINGS: &[(&str, &str)] = &[
    ("cleanup.policy", "log.cleanup.policy"),
    ("flush.messages", "log.flush.interval.messages"),
    ("flush.ms", "log.flush.interval.ms"),
    ("index.interval.bytes", "log.index.interval.bytes"),
    ("max.message.bytes", "message.max.bytes"),
    ("message.timestamp.type", "log.message.timestamp.type"),
    ("retention.bytes", "log.retention.bytes"),
    ("retention.ms", "log.retention.ms"),
    ("segment.bytes", "log.segment.bytes"),
    ("segment.index.bytes", "log.index.size.max.bytes"),
    ("segment.ms", "log.roll.ms"),
];

/// The Kafka broker setting that supplies the default of topic config
/// `topic_config` (`retention.ms` -> `log.retention.ms`), if there is one.
pub fn broker_setting_for_topic_config(topic_config: &str) -> Option<&'static str> {
    TOPIC_CONFIG_BROKER_SETTINGS
        .iter()
        .find(|(topic, _)| *topic == topic_config)
        .map(|(_, broker)| *broker)
}

/// Why a configuration file could not be used; each message is one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error, as text.
        reason: String,
    },
    /// The file is not valid TOML for [`BrokerConfig`].
    #[error("invalid config file {path}: line {line}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The 1-based line of the problem.
        line: usize,
        /// What the parser reported.
        reason: String,
    },
}

/// Why the cluster settings (`node_id`, `controller_listener`,
/// `controller_quorum_voters`) cannot be used; each message is one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterConfigError {
    /// The voter list does not parse.
    #[error(
        "invalid controller quorum voters {voters:?}: {reason} (expected id@host:port,..., e.g. 1@127.0.0.1:19093,2@127.0.0.1:29093)"
    )]
    InvalidVoters {
        /// The list as given.
        voters: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two voters share a node id.
    #[error("invalid controller quorum voters: node id {0} appears more than once")]
    DuplicateVoter(i32),
    /// A controller listener on a node that is not a voter.
    #[error(
        "node {node_id} has a controller listener ({listener}) but is not among the controller quorum voters {voters:?}"
    )]
    ListenerOnNonVoter {
        /// This node.
        node_id: i32,
        /// The controller listener given.
        listener: String,
        /// The voter ids (empty when none are configured).
        voters: Vec<i32>,
    },
    /// A voter without a controller listener.
    #[error(
        "node {0} is a controller quorum voter but has no controller listener (--controller-listen / controller_listener)"
    )]
    VoterWithoutListener(i32),
    /// The controller listener is the client listener.
    #[error("the controller listener {0} must differ from the client listener (listeners)")]
    SharedListener(String),
    /// A node that is not a voter: it would need a broker-only role.
    #[error(
        "broker-only nodes are not supported yet: node {node_id} is not among the controller quorum voters {voters:?}"
    )]
    BrokerOnly {
        /// This node.
        node_id: i32,
        /// The voter ids.
        voters: Vec<i32>,
    },
}

/// What this node runs of the controller quorum, from its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerRole {
    /// This node's id.
    pub node_id: i32,
    /// The address to bind the controller listener on.
    pub listener: String,
    /// Every voter's id and controller address, this node included.
    pub voters: BTreeMap<i32, String>,
}

/// Parses `controller.quorum.voters` (`id@host:port,...`).
///
/// # Errors
/// [`ClusterConfigError::InvalidVoters`] or
/// [`ClusterConfigError::DuplicateVoter`].
pub fn parse_quorum_voters(text: &str) -> Result<BTreeMap<i32, String>, ClusterConfigError> {
    let invalid = |reason: String| ClusterConfigError::InvalidVoters {
        voters: text.to_owned(),
        reason,
    };
    let mut voters = BTreeMap::new();
    for entry in text.split(',').map(str::trim) {
        if entry.is_empty() {
            return Err(invalid("empty entry".to_owned()));
        }
        let (id, address) = entry
            .split_once('@')
            .ok_or_else(|| invalid(format!("{entry:?} has no '@'")))?;
        let id: i32 = id
            .trim()
            .parse()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| invalid(format!("{id:?} is not a node id")))?;
        let port = address
            .rsplit_once(':')
            .filter(|(host, _)| !host.is_empty())
            .and_then(|(_, port)| port.parse::<u16>().ok())
            .filter(|port| *port != 0);
        if port.is_none() {
            return Err(invalid(format!("{address:?} is not host:port")));
        }
        if voters.insert(id, address.to_owned()).is_some() {
            return Err(ClusterConfigError::DuplicateVoter(id));
        }
    }
    Ok(voters)
}

impl BrokerConfig {
    /// Checks the cluster settings and says whether this node runs a
    /// controller: `Ok(None)` for a single node (no voters configured),
    /// `Ok(Some(role))` for a voter in combined mode.
    ///
    /// # Errors
    /// [`ClusterConfigError`] for a voter list that does not parse or names
    /// a node twice, a controller listener on a node that is not a voter, a
    /// voter without one, and a node outside the voters (broker-only nodes
    /// are not supported yet).
    pub fn controller_role(&self) -> Result<Option<ControllerRole>, ClusterConfigError> {
        let voters = match self.controller_quorum_voters.as_deref().map(str::trim) {
            None | Some("") => BTreeMap::new(),
            Some(text) => parse_quorum_voters(text)?,
        };
        let ids = || voters.keys().copied().collect::<Vec<_>>();
        match (
            &self.controller_listener,
            voters.contains_key(&self.node_id),
        ) {
            (Some(listener), false) => Err(ClusterConfigError::ListenerOnNonVoter {
                node_id: self.node_id,
                listener: listener.clone(),
                voters: ids(),
            }),
            (None, true) => Err(ClusterConfigError::VoterWithoutListener(self.node_id)),
            (None, false) if voters.is_empty() => Ok(None),
            (None, false) => Err(ClusterConfigError::BrokerOnly {
                node_id: self.node_id,
                voters: ids(),
            }),
            (Some(listener), true) if *listener == self.listeners => {
                Err(ClusterConfigError::SharedListener(listener.clone()))
            }
            (Some(listener), true) => Ok(Some(ControllerRole {
                node_id: self.node_id,
                listener: listener.clone(),
                voters,
            })),
        }
    }

    /// Parses a TOML document; missing fields take their defaults.
    ///
    /// # Errors
    /// The parser's error for invalid TOML or unknown fields.
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// Reads and parses a TOML file.
    ///
    /// # Errors
    /// [`ConfigFileError`] when the file cannot be read or parsed.
    pub fn from_file(path: &std::path::Path) -> Result<Self, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigFileError::Read {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Self::from_toml(&text).map_err(|e| {
            let offset = e.span().map_or(0, |span| span.start);
            ConfigFileError::Parse {
                path: path.to_owned(),
                line: text[..offset.min(text.len())].lines().count().max(1),
                reason: e.message().replace('\n', " "),
            }
        })
    }

    /// The `host:port` clients are told to connect to.
    pub fn advertised_address(&self) -> &str {
        self.advertised_listeners
            .as_deref()
            .unwrap_or(&self.listeners)
    }

    /// The settings DescribeConfigs reports for this node, by their Kafka
    /// names, as `(name, value)`.
    pub fn kafka_settings(&self) -> Vec<(&'static str, String)> {
        let settings = [
            ("node.id", self.node_id.to_string()),
            ("listeners", self.listeners.clone()),
            (
                "controller.quorum.voters",
                self.controller_quorum_voters.clone().unwrap_or_default(),
            ),
            ("advertised.listeners", self.advertised_address().to_owned()),
            ("log.dirs", self.data_dir.display().to_string()),
            ("message.max.bytes", self.message_max_bytes.to_string()),
            (
                "socket.request.max.bytes",
                self.socket_request_max_bytes.to_string(),
            ),
            (
                "connections.max.idle.ms",
                self.connections_max_idle_ms.to_string(),
            ),
            ("max.connections", self.max_connections.to_string()),
            (
                "max.connections.per.ip",
                self.max_connections_per_ip.to_string(),
            ),
            (
                "socket.listen.backlog.size",
                self.socket_listen_backlog_size.to_string(),
            ),
            (
                "queued.max.request.bytes",
                self.queued_max_request_bytes.to_string(),
            ),
            ("queued.max.requests", self.queued_max_requests.to_string()),
            (
                "auto.create.topics.enable",
                self.auto_create_topics_enable.to_string(),
            ),
            ("num.partitions", self.num_partitions.to_string()),
            (
                "default.replication.factor",
                self.default_replication_factor.to_string(),
            ),
            (
                "offsets.topic.num.partitions",
                self.offsets_topic_num_partitions.to_string(),
            ),
            ("fetch.max.bytes", self.fetch_max_bytes.to_string()),
        ];
        // `[log] max_message_bytes` is not listed: `message.max.bytes`
        // replaces it as the topics' default.
        let log_defaults = self
            .log
            .entries()
            .into_iter()
            .filter(|(topic_config, _)| *topic_config != "max.message.bytes")
            .filter_map(|(topic_config, value)| {
                broker_setting_for_topic_config(topic_config).map(|name| (name, value))
            });
        settings.into_iter().chain(log_defaults).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_log_default_has_a_kafka_broker_setting() {
        for (topic_config, _) in LogConfig::default().entries() {
            assert!(
                broker_setting_for_topic_config(topic_config).is_some(),
                "{topic_config}"
            );
        }
    }

    #[test]
    fn kafka_settings_name_each_setting_once() {
        let settings = BrokerConfig::default().kafka_settings();
        let mut names: Vec<_> = settings.iter().map(|(name, _)| *name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), settings.len());
    }

    #[test]
    fn empty_toml_is_the_default_config() {
        assert_eq!(
            BrokerConfig::from_toml("").unwrap(),
            BrokerConfig::default()
        );
    }

    #[test]
    fn toml_fields_override_defaults() {
        let config = BrokerConfig::from_toml("node_id = 7\nnum_partitions = 3\n").unwrap();
        assert_eq!((config.node_id, config.num_partitions), (7, 3));
    }

    #[test]
    fn shipped_single_node_config_is_the_default() {
        let text = include_str!("../../config/single.toml");
        let mut config = BrokerConfig::from_toml(text).unwrap();
        // The file documents that max.message.bytes follows message_max_bytes.
        config.log.max_message_bytes = BrokerConfig::default().log.max_message_bytes;
        assert_eq!(config, BrokerConfig::default());
    }

    #[test]
    fn config_file_error_is_one_line_with_the_line_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "node_id = 1\nnum_partitions = \"many\"\n").unwrap();
        let message = BrokerConfig::from_file(&path).unwrap_err().to_string();
        assert!(message.contains("line 2"), "{message}");
        assert_eq!(message.lines().count(), 1, "{message}");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(BrokerConfig::from_toml("no_such_setting = 1\n").is_err());
    }

    fn voter_config(node_id: i32, listener: Option<&str>, voters: &str) -> BrokerConfig {
        BrokerConfig {
            node_id,
            controller_listener: listener.map(str::to_owned),
            controller_quorum_voters: Some(voters.to_owned()),
            ..BrokerConfig::default()
        }
    }

    const VOTERS: &str = "1@127.0.0.1:19093,2@127.0.0.1:29093,3@127.0.0.1:39093";

    #[test]
    fn no_voters_is_a_single_node_without_a_controller() {
        assert_eq!(BrokerConfig::default().controller_role(), Ok(None));
    }

    #[test]
    fn a_voter_with_a_controller_listener_runs_a_controller() {
        let role = voter_config(2, Some("127.0.0.1:29093"), VOTERS)
            .controller_role()
            .unwrap()
            .unwrap();
        assert_eq!(role.node_id, 2);
        assert_eq!(role.listener, "127.0.0.1:29093");
        assert_eq!(role.voters.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(role.voters[&3], "127.0.0.1:39093");
    }

    #[test]
    fn malformed_voter_lists_are_refused() {
        for bad in [
            "1@127.0.0.1",
            "x@127.0.0.1:1",
            "1-127.0.0.1:1",
            "1@127.0.0.1:1,,2@h:2",
            "1@:1",
            "-1@h:1",
            "1@h:99999",
        ] {
            assert!(
                matches!(
                    parse_quorum_voters(bad),
                    Err(ClusterConfigError::InvalidVoters { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn duplicate_voter_ids_are_refused() {
        assert_eq!(
            parse_quorum_voters("1@h:1,2@h:2,1@h:3"),
            Err(ClusterConfigError::DuplicateVoter(1))
        );
    }

    #[test]
    fn controller_listener_outside_the_voters_is_refused() {
        let mut config = voter_config(4, Some("127.0.0.1:49093"), VOTERS);
        assert!(matches!(
            config.controller_role(),
            Err(ClusterConfigError::ListenerOnNonVoter { node_id: 4, .. })
        ));
        config.controller_quorum_voters = None;
        assert!(matches!(
            config.controller_role(),
            Err(ClusterConfigError::ListenerOnNonVoter { node_id: 4, .. })
        ));
    }

    #[test]
    fn voter_without_controller_listener_is_refused() {
        assert_eq!(
            voter_config(1, None, VOTERS).controller_role(),
            Err(ClusterConfigError::VoterWithoutListener(1))
        );
    }

    #[test]
    fn broker_only_node_is_refused() {
        assert!(matches!(
            voter_config(4, None, VOTERS).controller_role(),
            Err(ClusterConfigError::BrokerOnly { node_id: 4, .. })
        ));
    }

    #[test]
    fn controller_listener_must_differ_from_the_client_listener() {
        let config = voter_config(1, Some("127.0.0.1:9092"), "1@127.0.0.1:9092");
        assert!(matches!(
            config.controller_role(),
            Err(ClusterConfigError::SharedListener(_))
        ));
    }

    #[test]
    fn shipped_cluster_configs_are_voters_in_combined_mode() {
        for (id, text) in [
            (1, include_str!("../../config/cluster/node1.toml")),
            (2, include_str!("../../config/cluster/node2.toml")),
            (3, include_str!("../../config/cluster/node3.toml")),
        ] {
            let role = BrokerConfig::from_toml(text)
                .unwrap()
                .controller_role()
                .unwrap()
                .unwrap();
            assert_eq!((role.node_id, role.voters.len()), (id, 3));
        }
    }

    #[test]
    fn advertised_address_falls_back_to_the_listener() {
        let mut config = BrokerConfig::default();
        assert_eq!(config.advertised_address(), "127.0.0.1:9092");
        config.advertised_listeners = Some("broker.example:9093".to_owned());
        assert_eq!(config.advertised_address(), "broker.example:9093");
    }
}

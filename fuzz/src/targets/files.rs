//! `files`: the files the broker reads when it starts, through the readers
//! it uses: a partition's checkpoint and `partition.metadata` (storage), the
//! topic registry `topics.toml` and the identity file `cluster.properties`
//! (broker), and the key and value decoders of `__consumer_offsets`
//! records, which the group coordinator replays at start.
//!
//! An input is one byte naming the kind of file, then its content. The
//! file kinds are written to a scratch directory (in `/dev/shm` when there
//! is one) and read back by the real readers. Mutants get their checksum
//! line recomputed most of the time, so the parsers behind it run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::Rng;
use rand::rngs::StdRng;
use sluice_broker::group::messages::TopicPartition;
use sluice_broker::group::records::{
    GroupValue, MemberValue, OffsetValue, decode_group_value, decode_key, decode_offset_value,
    encode_group_value, encode_offset_value, group_key, offset_key,
};
use sluice_broker::{TopicMeta, TopicRegistry, load_or_create};
use sluice_storage::PartitionMetadata;
use sluice_storage::testing::{read_partition_files, write_partition_files};

use super::{Target, outcome};

/// The kinds of input, by their first byte (modulo the count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Checkpoint,
    PartitionMetadata,
    Topics,
    ClusterProperties,
    OffsetsKey,
    OffsetValue,
    GroupValue,
}

const KINDS: [Kind; 7] = [
    Kind::Checkpoint,
    Kind::PartitionMetadata,
    Kind::Topics,
    Kind::ClusterProperties,
    Kind::OffsetsKey,
    Kind::OffsetValue,
    Kind::GroupValue,
];

impl Kind {
    fn of(input: &[u8]) -> Option<(Kind, &[u8])> {
        let (first, content) = input.split_first()?;
        Some((KINDS[usize::from(*first) % KINDS.len()], content))
    }

    fn tag(self) -> u8 {
        KINDS.iter().position(|k| *k == self).unwrap_or(0) as u8
    }

    /// The file name the reader looks for, for the kinds that are files.
    fn file_name(self) -> Option<&'static str> {
        match self {
            Kind::Checkpoint => Some("recovery-point-offset-checkpoint"),
            Kind::PartitionMetadata => Some("partition.metadata"),
            Kind::Topics => Some("topics.toml"),
            Kind::ClusterProperties => Some("cluster.properties"),
            _ => None,
        }
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct FilesTarget {
    scratch: tempfile::TempDir,
}

impl FilesTarget {
    /// A target with its own scratch directory.
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn new() -> std::io::Result<Self> {
        let shm = Path::new("/dev/shm");
        let scratch = if shm.is_dir() {
            tempfile::Builder::new()
                .prefix("sluice-fuzz")
                .tempdir_in(shm)?
        } else {
            tempfile::Builder::new().prefix("sluice-fuzz").tempdir()?
        };
        Ok(FilesTarget { scratch })
    }

    fn dir(&self) -> &Path {
        self.scratch.path()
    }

    /// Leaves exactly one file, `name` with `content`, in the scratch directory.
    fn place(&self, name: &str, content: &[u8]) -> std::io::Result<PathBuf> {
        for kind in KINDS {
            if let Some(other) = kind.file_name()
                && other != name
            {
                let _ = std::fs::remove_file(self.dir().join(other));
            }
        }
        let path = self.dir().join(name);
        std::fs::write(&path, content)?;
        Ok(path)
    }

    fn file_seeds(&self) -> std::io::Result<Vec<Vec<u8>>> {
        let mut seeds = Vec::new();
        let metadata = PartitionMetadata {
            topic_id: Some("0123456789abcdef0123456789abcdef".to_owned()),
            config_overrides: BTreeMap::from([
                ("retention.ms".to_owned(), "60000".to_owned()),
                ("cleanup.policy".to_owned(), "compact".to_owned()),
            ]),
        };
        let fresh = tempfile::tempdir_in(self.dir())?;
        write_partition_files(fresh.path(), 120, 100, 7, &metadata)
            .map_err(std::io::Error::other)?;
        for kind in [Kind::Checkpoint, Kind::PartitionMetadata] {
            let name = kind.file_name().unwrap_or_default();
            let content = std::fs::read(fresh.path().join(name))?;
            seeds.push([&[kind.tag()][..], &content].concat());
        }
        let mut registry = TopicRegistry::load(fresh.path()).map_err(std::io::Error::other)?;
        for (name, internal) in [("orders", false), ("__consumer_offsets", true)] {
            registry
                .insert(TopicMeta {
                    name: name.to_owned(),
                    topic_id: uuid::Uuid::from_u128(0x42),
                    partitions: 3,
                    configs: BTreeMap::from([("retention.ms".to_owned(), "1000".to_owned())]),
                    internal,
                })
                .map_err(std::io::Error::other)?;
        }
        registry
            .allocate_producer_id()
            .map_err(std::io::Error::other)?;
        load_or_create(fresh.path(), 1).map_err(std::io::Error::other)?;
        for kind in [Kind::Topics, Kind::ClusterProperties] {
            let name = kind.file_name().unwrap_or_default();
            let content = std::fs::read(fresh.path().join(name))?;
            seeds.push([&[kind.tag()][..], &content].concat());
        }
        Ok(seeds)
    }
}

fn record_seeds() -> Vec<Vec<u8>> {
    let partition = TopicPartition {
        topic: "orders".to_owned(),
        partition: 3,
    };
    let offset = OffsetValue {
        offset: 42,
        leader_epoch: 3,
        metadata: "meta".to_owned(),
        commit_timestamp_ms: 1_700_000_000_000,
        expire_timestamp_ms: None,
    };
    let expiring = OffsetValue {
        expire_timestamp_ms: Some(1_700_000_100_000),
        ..offset.clone()
    };
    let member = MemberValue {
        member_id: "member-1".to_owned(),
        group_instance_id: Some("instance".to_owned()),
        client_id: "client".to_owned(),
        client_host: "/127.0.0.1".to_owned(),
        rebalance_timeout_ms: 30_000,
        session_timeout_ms: 10_000,
        subscription: bytes::Bytes::from_static(b"\x00\x01\x00\x00\x00\x01\x00\x06orders"),
        assignment: bytes::Bytes::from_static(b"\x00\x01\x00\x00\x00\x01"),
    };
    let group = GroupValue {
        protocol_type: "consumer".to_owned(),
        generation: 4,
        protocol: Some("range".to_owned()),
        leader: Some("member-1".to_owned()),
        current_state_timestamp_ms: 1_700_000_000_000,
        members: vec![
            member.clone(),
            MemberValue {
                group_instance_id: None,
                ..member
            },
        ],
    };
    let tagged = |kind: Kind, bytes: &[u8]| [&[kind.tag()][..], bytes].concat();
    vec![
        tagged(Kind::OffsetsKey, &offset_key("group-a", &partition)),
        tagged(Kind::OffsetsKey, &group_key("group-a")),
        tagged(Kind::OffsetValue, &encode_offset_value(&offset)),
        tagged(Kind::OffsetValue, &encode_offset_value(&expiring)),
        tagged(Kind::GroupValue, &encode_group_value(&group)),
    ]
}

impl Target for FilesTarget {
    fn seeds(&self) -> Vec<Vec<u8>> {
        let mut seeds = self.file_seeds().unwrap_or_default();
        seeds.extend(record_seeds());
        seeds
    }

    fn fix_up(&self, rng: &mut StdRng, input: &mut Vec<u8>) {
        if !rng.random_bool(0.8) {
            return;
        }
        let Some((kind, content)) = Kind::of(input) else {
            return;
        };
        let fixed = match kind {
            Kind::Checkpoint | Kind::PartitionMetadata => with_crc_line(content),
            Kind::Topics => with_crc_header(content),
            _ => return,
        };
        input.truncate(1);
        input.extend_from_slice(&fixed);
    }

    fn run(&mut self, input: &[u8]) -> String {
        let Some((kind, content)) = Kind::of(input) else {
            return "empty".to_owned();
        };
        let result = match kind {
            Kind::OffsetsKey => outcome(&decode_key(content)),
            Kind::OffsetValue => outcome(&decode_offset_value(content)),
            Kind::GroupValue => outcome(&decode_group_value(content)),
            Kind::Checkpoint | Kind::PartitionMetadata => {
                self.read_with(kind, content, |dir| outcome(&read_partition_files(dir)))
            }
            Kind::Topics => self.read_with(kind, content, |dir| outcome(&TopicRegistry::load(dir))),
            Kind::ClusterProperties => {
                self.read_with(kind, content, |dir| outcome(&load_or_create(dir, 1)))
            }
        };
        format!("{kind:?} {result}")
    }

    fn label(&self, input: &[u8]) -> String {
        Kind::of(input).map_or_else(|| "empty".to_owned(), |(kind, _)| format!("{kind:?}"))
    }
}

impl FilesTarget {
    fn read_with(&self, kind: Kind, content: &[u8], read: impl FnOnce(&Path) -> String) -> String {
        let name = kind.file_name().unwrap_or_default();
        match self.place(name, content) {
            Ok(_) => read(self.dir()),
            Err(error) => format!("scratch i/o: {error}"),
        }
    }
}

/// `content` with its last line replaced by the storage crate's
/// `crc32 <hex>` line for the text before it.
fn with_crc_line(content: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(content);
    let body_end = text.trim_end_matches('\n').rfind('\n').map_or(0, |i| i + 1);
    let body = &text[..body_end];
    format!("{body}crc32 {:08x}\n", crc32fast::hash(body.as_bytes())).into_bytes()
}

/// `content` with its first line replaced by the registry's checksum line
/// for the text after it.
fn with_crc_header(content: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(content);
    let body = text.split_once('\n').map_or("", |(_, body)| body);
    format!("crc32 = {}\n{body}", crc32fast::hash(body.as_bytes())).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_seed_that_reads_back() {
        let mut target = FilesTarget::new().unwrap();
        let seeds = target.seeds();
        for kind in KINDS {
            assert!(seeds.iter().any(|s| s[0] == kind.tag()), "{kind:?}");
        }
        for seed in seeds {
            let outcome = target.run(&seed);
            assert!(outcome.ends_with(" ok"), "{outcome}");
        }
    }

    #[test]
    fn a_repaired_checkpoint_reads_back() {
        let mut target = FilesTarget::new().unwrap();
        let seed = target.seeds().remove(0);
        let edited = String::from_utf8(seed).unwrap().replace("120", "121");
        let mut input = edited.into_bytes();
        assert!(!target.run(&input).ends_with(" ok"));
        let fixed = with_crc_line(&input[1..]);
        input.truncate(1);
        input.extend_from_slice(&fixed);
        assert!(
            target.run(&input).ends_with(" ok"),
            "{}",
            target.run(&input)
        );
    }
}

//! The node's identity file, `cluster.properties`.
//!
//! Like Kafka's `meta.properties` (which storage uses for its format version), it records the cluster id (made once, at first start) and
//! the node id, so a restarted broker reports the same cluster to clients and
//! a data directory cannot silently be reused by a differently numbered node.

use std::path::{Path, PathBuf};

/// The identity file's name inside the data directory.
pub const META_FILE: &str = "cluster.properties";

/// Why the identity file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// Reading or writing failed.
    #[error("cannot use {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file belongs to another node id.
    #[error("{path} belongs to node {found}, but this broker is node {configured}")]
    NodeIdMismatch {
        /// The file.
        path: PathBuf,
        /// Node id in the file.
        found: i32,
        /// Node id in the configuration.
        configured: i32,
    },
    /// The file lacks `cluster.id` or `node.id`.
    #[error("{path} is malformed: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is missing.
        reason: &'static str,
    },
}

/// The identity read from (or written to) `meta.properties`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdentity {
    /// The cluster id clients see in Metadata and DescribeCluster.
    pub cluster_id: String,
    /// This node's id.
    pub node_id: i32,
}

/// Reads the identity file, or creates it with a fresh cluster id.
///
/// # Errors
/// [`MetaError`] when the file cannot be read or written, is malformed, or
/// names a different node id.
pub fn load_or_create(data_dir: &Path, node_id: i32) -> Result<NodeIdentity, MetaError> {
    let path = data_dir.join(META_FILE);
    let io = |source| MetaError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let identity = parse(&text).map_err(|reason| MetaError::Malformed {
                path: path.clone(),
                reason,
            })?;
            if identity.node_id != node_id {
                return Err(MetaError::NodeIdMismatch {
                    path,
                    found: identity.node_id,
                    configured: node_id,
                });
            }
            Ok(identity)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let identity = NodeIdentity {
                cluster_id: new_cluster_id(),
                node_id,
            };
            let text = format!(
                "#Written by sluice at first start; do not edit.\nversion=1\ncluster.id={}\nnode.id={}\n",
                identity.cluster_id, identity.node_id
            );
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, text).map_err(io)?;
            std::fs::File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(io)?;
            std::fs::rename(&tmp, &path).map_err(io)?;
            Ok(identity)
        }
        Err(e) => Err(io(e)),
    }
}

fn parse(text: &str) -> Result<NodeIdentity, &'static str> {
    let value = |key: &str| {
        text.lines()
            .filter_map(|line| line.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_owned())
    };
    let cluster_id = value("cluster.id").ok_or("missing cluster.id")?;
    let node_id = value("node.id")
        .and_then(|v| v.parse().ok())
        .ok_or("missing or invalid node.id")?;
    Ok(NodeIdentity {
        cluster_id,
        node_id,
    })
}

/// A Kafka-style cluster id: 16 random bytes, URL-safe base64 without padding
/// (22 characters).
fn new_cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bits = uuid::Uuid::new_v4().as_u128();
    (0..22)
        .map(|i| char::from(ALPHABET[((bits >> (i * 6)) & 63) as usize]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_id_is_stable_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), 1).unwrap();
        assert_eq!(load_or_create(dir.path(), 1).unwrap(), first);
        assert_eq!(first.cluster_id.len(), 22);
    }

    #[test]
    fn another_node_id_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path(), 1).unwrap();
        assert!(matches!(
            load_or_create(dir.path(), 2),
            Err(MetaError::NodeIdMismatch {
                found: 1,
                configured: 2,
                ..
            })
        ));
    }
}

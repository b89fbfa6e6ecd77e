//! Small whole files written atomically and read back with a checksum.
//!
//! Layout: an 8-byte magic naming the kind of file, a format version byte,
//! the body's length (u64, little-endian), the body's CRC-32 (IEEE,
//! `crc32fast`), then the body. Writing goes to `<name>.tmp`, is fsynced,
//! renamed over `<name>`, and the directory is fsynced, so a crash leaves
//! either the old file or the new one. Reading checks the length against the
//! file's size and a limit before it allocates.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::storage_error::{IoContext, StorageError};

/// The format version of every checked file.
const VERSION: u8 = 0;
/// Magic, version, length, CRC.
pub(crate) const HEADER_BYTES: usize = 8 + 1 + 8 + 4;

/// Fsyncs a directory so a rename or a new file in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .at("fsync directory", dir)
}

/// The temp file `path` is written through.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Replaces `path` with `bytes`, atomically and durably.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let temp = temp_path(path);
    let mut file = File::create(&temp).at("create", &temp)?;
    file.write_all(bytes).at("write", &temp)?;
    file.sync_all().at("fsync", &temp)?;
    drop(file);
    fs::rename(&temp, path).at("rename", &temp)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Writes `body` as a checked file of kind `magic`.
pub(crate) fn write(path: &Path, magic: &[u8; 8], body: &[u8]) -> Result<(), StorageError> {
    let mut bytes = Vec::with_capacity(HEADER_BYTES + body.len());
    bytes.extend_from_slice(magic);
    bytes.push(VERSION);
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    bytes.extend_from_slice(body);
    write_atomically(path, &bytes)
}

/// Reads a checked file of kind `magic`; `Ok(None)` when it does not exist.
///
/// # Errors
///
/// [`StorageError::Corrupt`] for a wrong magic or version, a length that
/// does not match the file or is over `max_body_bytes`, or a CRC mismatch.
pub(crate) fn read(
    path: &Path,
    magic: &[u8; 8],
    max_body_bytes: u64,
) -> Result<Option<Vec<u8>>, StorageError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).at("open", path),
    };
    let corrupt = |reason: String| StorageError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let file_bytes = file.metadata().at("stat", path)?.len();
    let mut header = [0u8; HEADER_BYTES];
    if file_bytes < HEADER_BYTES as u64 {
        return Err(corrupt(format!(
            "{file_bytes} bytes is shorter than a header"
        )));
    }
    file.read_exact(&mut header).at("read", path)?;
    if &header[..8] != magic || header[8] != VERSION {
        return Err(corrupt("wrong magic or format version".into()));
    }
    let body_bytes = u64::from_le_bytes(header[9..17].try_into().unwrap_or_default());
    let crc = u32::from_le_bytes(header[17..21].try_into().unwrap_or_default());
    if body_bytes != file_bytes - HEADER_BYTES as u64 || body_bytes > max_body_bytes {
        return Err(corrupt(format!(
            "body length {body_bytes} does not fit a {file_bytes}-byte file (limit {max_body_bytes})"
        )));
    }
    let mut body = vec![0u8; body_bytes as usize];
    file.read_exact(&mut body).at("read", path)?;
    if crc32fast::hash(&body) != crc {
        return Err(corrupt("CRC mismatch".into()));
    }
    Ok(Some(body))
}

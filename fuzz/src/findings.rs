//! Saved findings: each distinct finding's (minimized) input goes to
//! `<dir>/<target>/<hash>.bin`, with a `.txt` beside it that says what it
//! did.

use std::path::{Path, PathBuf};

use crate::campaign::fnv1a;
use crate::targets::TargetName;

/// One distinct finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What tells it apart: kind, place and the part of the target.
    pub signature: String,
    /// What happened, with its numbers.
    pub detail: String,
    /// The saved input.
    pub path: PathBuf,
    /// Size of the saved input.
    pub input_bytes: usize,
}

/// Writes findings under one directory.
#[derive(Debug, Clone)]
pub struct FindingStore {
    dir: PathBuf,
}

impl FindingStore {
    /// A store rooted at `dir` (created on the first save).
    pub fn new(dir: &Path) -> Self {
        FindingStore {
            dir: dir.to_owned(),
        }
    }

    /// Saves `input` and its description.
    ///
    /// # Errors
    /// When the files cannot be written.
    pub fn save(
        &self,
        target: TargetName,
        input: &[u8],
        signature: &str,
        detail: &str,
    ) -> std::io::Result<Finding> {
        let dir = self.dir.join(target.name());
        std::fs::create_dir_all(&dir)?;
        let hash = format!("{:016x}", fnv1a(input));
        let path = dir.join(format!("{hash}.bin"));
        std::fs::write(&path, input)?;
        std::fs::write(
            dir.join(format!("{hash}.txt")),
            format!("{signature}\n{detail}\n"),
        )?;
        Ok(Finding {
            signature: signature.to_owned(),
            detail: detail.to_owned(),
            path,
            input_bytes: input.len(),
        })
    }
}

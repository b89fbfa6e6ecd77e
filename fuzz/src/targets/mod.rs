//! The fuzz targets: what each one feeds its input to, the valid seeds it
//! starts from, and the structure-aware repairs it makes after a mutation.

use rand::rngs::StdRng;

pub mod files;
pub mod frame;
pub mod record_batch;
pub mod request;
mod request_seeds;

/// One decoder under test.
pub trait Target {
    /// Valid inputs built in code; the corpus starts from these.
    fn seeds(&self) -> Vec<Vec<u8>>;

    /// Repairs what a mutation broke that the decoder checks first (a CRC,
    /// a length), so mutants reach the code behind the check. Called after
    /// every mutation; it decides itself how often to repair.
    fn fix_up(&self, _rng: &mut StdRng, _input: &mut Vec<u8>) {}

    /// Runs one input the way the broker would and describes the outcome
    /// (an error kind, "ok", ...); inputs with a new outcome join the corpus.
    fn run(&mut self, input: &[u8]) -> String;

    /// A short name for the part of the target `input` reaches (the API of
    /// a request, the codec of a batch, the kind of a file): findings are
    /// told apart by it.
    fn label(&self, input: &[u8]) -> String;
}

/// The targets, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetName {
    /// The frame codec and the request header decoder.
    Frame,
    /// Every request body at every served version.
    Request,
    /// The RecordBatch validator of Produce, with every codec.
    RecordBatch,
    /// The files the broker reads at start.
    Files,
}

impl TargetName {
    /// Every target, in the order `all` runs them.
    pub const ALL: [TargetName; 4] = [
        TargetName::Frame,
        TargetName::Request,
        TargetName::RecordBatch,
        TargetName::Files,
    ];

    /// The name used on the command line and in the findings directory.
    pub fn name(self) -> &'static str {
        match self {
            TargetName::Frame => "frame",
            TargetName::Request => "request",
            TargetName::RecordBatch => "record_batch",
            TargetName::Files => "files",
        }
    }

    /// The target called `name`.
    pub fn from_name(name: &str) -> Option<TargetName> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// A fresh instance of the target.
    ///
    /// # Errors
    /// When the target's scratch directory cannot be created.
    pub fn build(self) -> std::io::Result<Box<dyn Target>> {
        Ok(match self {
            TargetName::Frame => Box::new(frame::FrameTarget),
            TargetName::Request => Box::new(request::RequestTarget),
            TargetName::RecordBatch => Box::new(record_batch::RecordBatchTarget),
            TargetName::Files => Box::new(files::FilesTarget::new()?),
        })
    }
}

/// Characters of an error message that count as its kind.
const OUTCOME_CHARS: usize = 96;

/// An outcome description for the corpus feedback: the first line of the
/// error's text, cut short (and before any quote), with its numbers blanked, so "offset 17" and
/// "offset 18" count as one and a parser quoting the input does not make
/// every input new.
pub fn outcome<T, E: std::fmt::Display>(result: &Result<T, E>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(error) => {
            let text = error.to_string();
            // Up to the first quote: what follows often quotes the input.
            let first_line: String = text
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take_while(|c| !matches!(c, '`' | '"' | '\''))
                .take(OUTCOME_CHARS)
                .collect();
            without_digits(&first_line)
        }
    }
}

/// `text` with each run of digits replaced by `#`.
pub fn without_digits(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_number = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            out.push(c);
            in_number = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_blanked_in_outcomes() {
        assert_eq!(
            without_digits("frame of 123 bytes at 7"),
            "frame of # bytes at #"
        );
    }

    #[test]
    fn every_target_has_seeds_that_run() {
        for name in TargetName::ALL {
            let mut target = name.build().unwrap();
            let seeds = target.seeds();
            assert!(!seeds.is_empty(), "{}", name.name());
            for seed in &seeds {
                target.run(seed);
            }
        }
    }
}

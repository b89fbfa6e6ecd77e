//! The history file: [`Event`]s as JSON lines. [`HistoryWriter`] appends;
//! [`HistoryReader`] reads back with a bound on the line length, so a
//! malformed or huge line is an error naming its line number.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::HistoryError;
use crate::event::Event;

/// The longest line a history may hold. The longest event the workload
/// writes (an assignment of every partition of a large topic) stays far
/// below it; a longer line is damage, not data.
pub const MAX_HISTORY_LINE_BYTES: usize = 1024 * 1024;

/// Appends events to a history file, one JSON object per line.
#[derive(Debug)]
pub struct HistoryWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl HistoryWriter {
    /// Creates (or truncates) the history file at `path`.
    ///
    /// # Errors
    /// [`HistoryError::Io`] when the file cannot be created.
    pub fn create(path: &Path) -> Result<HistoryWriter, HistoryError> {
        let file = File::create(path).map_err(|source| HistoryError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(HistoryWriter {
            path: path.to_owned(),
            out: BufWriter::new(file),
        })
    }

    /// Where the history goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event as one line.
    ///
    /// # Errors
    /// [`HistoryError::Io`] when the write fails.
    pub fn append(&mut self, event: &Event) -> Result<(), HistoryError> {
        serde_json::to_writer(&mut self.out, event)
            .map_err(std::io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"))
            .map_err(|source| HistoryError::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// Writes out what is buffered.
    ///
    /// # Errors
    /// [`HistoryError::Io`] when the write fails.
    pub fn flush(&mut self) -> Result<(), HistoryError> {
        self.out.flush().map_err(|source| HistoryError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

/// Reads events back from a history, line by line (blank lines are skipped).
#[derive(Debug)]
pub struct HistoryReader<R> {
    input: R,
    line_number: u64,
    max_line_bytes: usize,
    line: Vec<u8>,
}

impl HistoryReader<BufReader<File>> {
    /// Opens the history file at `path`.
    ///
    /// # Errors
    /// [`HistoryError::Io`] when the file cannot be opened.
    pub fn open(path: &Path) -> Result<Self, HistoryError> {
        let file = File::open(path).map_err(|source| HistoryError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(HistoryReader::new(BufReader::new(file)))
    }
}

impl<R: BufRead> HistoryReader<R> {
    /// Reads `input`, with lines of at most [`MAX_HISTORY_LINE_BYTES`].
    pub fn new(input: R) -> Self {
        Self::with_max_line_bytes(input, MAX_HISTORY_LINE_BYTES)
    }

    /// Reads `input`, with lines of at most `max_line_bytes`.
    pub fn with_max_line_bytes(input: R, max_line_bytes: usize) -> Self {
        HistoryReader {
            input,
            line_number: 0,
            max_line_bytes,
            line: Vec::new(),
        }
    }

    /// The next event, `None` at the end of the input.
    ///
    /// # Errors
    /// [`HistoryError::LineTooLong`], [`HistoryError::Malformed`] or
    /// [`HistoryError::Read`], each with the line number.
    pub fn next_event(&mut self) -> Result<Option<Event>, HistoryError> {
        loop {
            self.line.clear();
            self.line_number += 1;
            let line = self.line_number;
            let limit = u64::try_from(self.max_line_bytes)
                .unwrap_or(u64::MAX)
                .saturating_add(1);
            let read = (&mut self.input)
                .take(limit)
                .read_until(b'\n', &mut self.line)
                .map_err(|source| HistoryError::Read { line, source })?;
            if read == 0 {
                return Ok(None);
            }
            if self.line.last() == Some(&b'\n') {
                self.line.pop();
            } else if self.line.len() > self.max_line_bytes {
                return Err(HistoryError::LineTooLong {
                    line,
                    max_bytes: self.max_line_bytes,
                });
            }
            if self.line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return serde_json::from_slice(&self.line)
                .map(Some)
                .map_err(|source| HistoryError::Malformed { line, source });
        }
    }
}

impl<R: BufRead> Iterator for HistoryReader<R> {
    type Item = Result<Event, HistoryError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_event().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(seq: u64) -> Event {
        Event::Send {
            ts_ms: 1,
            producer: 0,
            seq,
            partition: 0,
        }
    }

    #[test]
    fn written_events_read_back_in_order() -> Result<(), HistoryError> {
        let dir = tempfile::tempdir().map_err(|source| HistoryError::Read { line: 0, source })?;
        let path = dir.path().join("history.jsonl");
        let mut writer = HistoryWriter::create(&path)?;
        for seq in 0..3 {
            writer.append(&send(seq))?;
        }
        writer.flush()?;
        let events = HistoryReader::open(&path)?.collect::<Result<Vec<_>, _>>()?;
        assert_eq!(events, vec![send(0), send(1), send(2)]);
        Ok(())
    }

    #[test]
    fn malformed_line_is_an_error_naming_its_line() {
        let input =
            "\n{\"type\":\"send\",\"ts_ms\":1,\"producer\":0,\"seq\":0,\"partition\":0}\n{oops\n";
        let mut reader = HistoryReader::new(input.as_bytes());
        assert!(matches!(reader.next(), Some(Ok(_))));
        match reader.next() {
            Some(Err(HistoryError::Malformed { line, .. })) => assert_eq!(line, 3),
            other => panic!("expected a malformed line 3, got {other:?}"),
        }
    }

    #[test]
    fn huge_line_is_an_error_naming_its_line_without_reading_it_whole() {
        let input = format!("\n{}\n", "x".repeat(100));
        let mut reader = HistoryReader::with_max_line_bytes(input.as_bytes(), 10);
        match reader.next() {
            Some(Err(HistoryError::LineTooLong { line, max_bytes })) => {
                assert_eq!((line, max_bytes), (2, 10));
            }
            other => panic!("expected line 2 too long, got {other:?}"),
        }
    }

    #[test]
    fn last_line_without_newline_is_read() {
        let input = r#"{"type":"send","ts_ms":1,"producer":0,"seq":4,"partition":0}"#;
        let events = HistoryReader::new(input.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .ok();
        assert_eq!(events, Some(vec![send(4)]));
    }
}

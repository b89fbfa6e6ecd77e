//! The parent's handle on a worker process: send a batch of inputs, collect
//! one result per input, and notice when the worker dies or hangs.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::targets::{TargetName, without_digits};
use crate::worker::{RunResult, read_result, write_job};

/// How much of the worker's stderr is kept for the finding's description.
const STDERR_TAIL_BYTES: usize = 4096;

/// Why a worker stopped in the middle of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Death {
    /// `abort`, `signal N`, `exit N` or `hang`.
    pub kind: String,
    /// The last line the worker wrote to stderr (numbers blanked), e.g.
    /// "memory allocation of # bytes failed".
    pub message: String,
    /// The same line with its numbers.
    pub raw_message: String,
}

/// What a batch did.
#[derive(Debug)]
pub struct BatchResult {
    /// One result per input that finished, in order.
    pub results: Vec<RunResult>,
    /// Set when the worker died on input `results.len()`.
    pub death: Option<Death>,
}

/// A running worker.
#[derive(Debug)]
pub struct WorkerProcess {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    results: Receiver<Option<RunResult>>,
    stderr_tail: Arc<Mutex<Vec<u8>>>,
    stderr_reader: Option<JoinHandle<()>>,
}

impl WorkerProcess {
    /// Starts `exe --worker`.
    ///
    /// # Errors
    /// When the process cannot be started.
    pub fn spawn(exe: &Path) -> io::Result<Self> {
        let mut child = Command::new(exe)
            .arg("--worker")
            // A backtrace on abort costs seconds of symbolizing per crash.
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let missing = || io::Error::other("worker pipe missing");
        let stdin = BufWriter::new(child.stdin.take().ok_or_else(missing)?);
        let stdout = child.stdout.take().ok_or_else(missing)?;
        let mut stderr = child.stderr.take().ok_or_else(missing)?;
        let (sender, results) = channel();
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            loop {
                let result = read_result(&mut stdout).ok().flatten();
                let end = result.is_none();
                if sender.send(result).is_err() || end {
                    return;
                }
            }
        });
        let stderr_tail = Arc::new(Mutex::new(Vec::new()));
        let tail = Arc::clone(&stderr_tail);
        let stderr_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    return;
                }
                if let Ok(mut tail) = tail.lock() {
                    tail.extend_from_slice(&buf[..n]);
                    let excess = tail.len().saturating_sub(STDERR_TAIL_BYTES);
                    tail.drain(..excess);
                }
            }
        });
        Ok(WorkerProcess {
            child,
            stdin,
            results,
            stderr_tail,
            stderr_reader: Some(stderr_reader),
        })
    }

    /// Runs `inputs` on `target`; an input that runs longer than `hang`
    /// counts as a hang and the worker is killed.
    ///
    /// After a death the worker is gone: drop it and spawn another.
    pub fn run(&mut self, target: TargetName, inputs: &[&[u8]], hang: Duration) -> BatchResult {
        // A write error means the worker died; its results tell where.
        let _ = write_job(&mut self.stdin, target, inputs);
        let mut results = Vec::with_capacity(inputs.len());
        while results.len() < inputs.len() {
            match self.results.recv_timeout(hang) {
                Ok(Some(result)) => results.push(result),
                Ok(None) | Err(RecvTimeoutError::Disconnected) => {
                    let death = self.reap(false);
                    return BatchResult {
                        results,
                        death: Some(death),
                    };
                }
                Err(RecvTimeoutError::Timeout) => {
                    let death = self.reap(true);
                    return BatchResult {
                        results,
                        death: Some(death),
                    };
                }
            }
        }
        BatchResult {
            results,
            death: None,
        }
    }

    /// Waits for (or kills, when it hangs) the worker and says how it ended.
    fn reap(&mut self, hung: bool) -> Death {
        if hung {
            let _ = self.child.kill();
        }
        let status = self.child.wait();
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        let tail = self
            .stderr_tail
            .lock()
            .map(|t| String::from_utf8_lossy(&t).into_owned())
            .unwrap_or_default();
        // The last line that says what happened, not a note about backtraces.
        let raw_message = tail
            .lines()
            .map(str::trim)
            .rev()
            .find(|l| !l.is_empty() && !l.starts_with("note:"))
            .unwrap_or("")
            .to_owned();
        let kind = match status {
            _ if hung => "hang".to_owned(),
            Ok(status) => match (status.signal(), status.code()) {
                (Some(6), _) => "abort".to_owned(),
                (Some(signal), _) => format!("signal {signal}"),
                (None, Some(code)) => format!("exit {code}"),
                (None, None) => "died".to_owned(),
            },
            Err(error) => format!("lost: {error}"),
        };
        Death {
            kind,
            message: without_digits(&raw_message),
            raw_message,
        }
    }

    /// Closes the worker's stdin and waits for it to exit.
    pub fn finish(mut self) {
        let _ = self.stdin.flush();
        drop(self.stdin);
        let _ = self.child.wait();
    }
}

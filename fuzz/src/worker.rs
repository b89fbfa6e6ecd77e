//! The worker process and the pipe protocol between it and the parent.
//!
//! The parent writes jobs to the worker's stdin: a target number, an input
//! count, then each input as a `u32` length and its bytes. The worker runs
//! each input under `catch_unwind` (with a silent panic hook) and writes one
//! result per input to stdout, flushed before the next input starts, so
//! when the worker dies the parent knows exactly which input killed it: the
//! first one without a result.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;

use crate::alloc;
use crate::targets::{Target, TargetName};

/// Allocations above this abort the worker instead of taking the memory
/// (the parent reports the abort); well above the finding bound, so the
/// bound is what flags an oversized allocation.
pub const REFUSE_ALLOCATIONS_ABOVE: usize = 1 << 30;

/// What one input did in the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunResult {
    /// The target returned; `outcome` describes how.
    Returned {
        /// The target's description of the outcome.
        outcome: String,
        /// Largest single allocation during the call, in bytes.
        largest_allocation: usize,
    },
    /// The target panicked.
    Panicked {
        /// The panic message and location.
        message: String,
    },
}

/// The last panic's message, recorded by the silent hook.
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

fn install_silent_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload_as_str().unwrap_or("non-string panic payload");
        let location = info
            .location()
            .map_or_else(|| "unknown location".to_owned(), |l| l.to_string());
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = format!("{payload} at {location}");
        }
    }));
}

/// Runs one input in this process.
pub fn run_one(target: &mut dyn Target, input: &[u8]) -> RunResult {
    alloc::reset_largest();
    let result = catch_unwind(AssertUnwindSafe(|| target.run(input)));
    let largest_allocation = alloc::largest();
    match result {
        Ok(outcome) => RunResult::Returned {
            outcome,
            largest_allocation,
        },
        Err(_) => RunResult::Panicked {
            message: LAST_PANIC
                .lock()
                .map(|m| m.clone())
                .unwrap_or_else(|_| "panic (message lost)".to_owned()),
        },
    }
}

/// The worker's main loop: jobs from stdin until it closes.
///
/// # Errors
/// When the pipes fail or a job names an unknown target.
pub fn serve() -> io::Result<()> {
    install_silent_panic_hook();
    alloc::set_refuse_above(REFUSE_ALLOCATIONS_ABOVE);
    let mut input = BufReader::new(io::stdin().lock());
    let mut output = BufWriter::new(io::stdout().lock());
    let mut targets: Vec<Option<Box<dyn Target>>> = TargetName::ALL.iter().map(|_| None).collect();
    loop {
        let mut index = [0u8; 1];
        match input.read_exact(&mut index) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let name = TargetName::ALL
            .get(usize::from(index[0]))
            .copied()
            .ok_or_else(|| io::Error::other("unknown target number"))?;
        let slot = &mut targets[usize::from(index[0])];
        if slot.is_none() {
            *slot = Some(name.build()?);
        }
        let Some(target) = slot.as_deref_mut() else {
            return Err(io::Error::other("target not built"));
        };
        let count = read_u32(&mut input)?;
        for _ in 0..count {
            let len = read_u32(&mut input)? as usize;
            let mut bytes = vec![0; len];
            input.read_exact(&mut bytes)?;
            let result = run_one(target, &bytes);
            write_result(&mut output, &result)?;
            output.flush()?;
        }
    }
}

fn read_u32(reader: &mut impl Read) -> io::Result<u32> {
    let mut bytes = [0; 4];
    reader.read_exact(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

fn read_u64(reader: &mut impl Read) -> io::Result<u64> {
    let mut bytes = [0; 8];
    reader.read_exact(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

/// Writes a job: `target` and its `inputs`.
///
/// # Errors
/// When the pipe fails.
pub fn write_job(writer: &mut impl Write, target: TargetName, inputs: &[&[u8]]) -> io::Result<()> {
    let index = TargetName::ALL
        .iter()
        .position(|t| *t == target)
        .unwrap_or(0);
    writer.write_all(&[index as u8])?;
    writer.write_all(&(inputs.len() as u32).to_le_bytes())?;
    for input in inputs {
        writer.write_all(&(input.len() as u32).to_le_bytes())?;
        writer.write_all(input)?;
    }
    writer.flush()
}

fn write_result(writer: &mut impl Write, result: &RunResult) -> io::Result<()> {
    let (status, largest, text) = match result {
        RunResult::Returned {
            outcome,
            largest_allocation,
        } => (0u8, *largest_allocation, outcome),
        RunResult::Panicked { message } => (1u8, 0, message),
    };
    writer.write_all(&[status])?;
    writer.write_all(&(largest as u64).to_le_bytes())?;
    writer.write_all(&(text.len() as u32).to_le_bytes())?;
    writer.write_all(text.as_bytes())
}

/// Reads one result; `Ok(None)` at the end of the stream (the worker died
/// or exited).
///
/// # Errors
/// When the pipe fails mid-record.
pub fn read_result(reader: &mut impl Read) -> io::Result<Option<RunResult>> {
    let mut status = [0u8; 1];
    match reader.read_exact(&mut status) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let largest = usize::try_from(read_u64(reader)?).unwrap_or(usize::MAX);
    let len = read_u32(reader)? as usize;
    let mut text = vec![0; len];
    reader.read_exact(&mut text)?;
    let text = String::from_utf8_lossy(&text).into_owned();
    Ok(Some(match status[0] {
        0 => RunResult::Returned {
            outcome: text,
            largest_allocation: largest,
        },
        _ => RunResult::Panicked { message: text },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_round_trip_through_the_pipe_format() {
        let results = [
            RunResult::Returned {
                outcome: "ok".to_owned(),
                largest_allocation: 1 << 40,
            },
            RunResult::Panicked {
                message: "boom at x.rs:1:2".to_owned(),
            },
        ];
        let mut wire = Vec::new();
        for result in &results {
            write_result(&mut wire, result).unwrap();
        }
        let mut reader = &wire[..];
        for result in &results {
            assert_eq!(read_result(&mut reader).unwrap().as_ref(), Some(result));
        }
        assert_eq!(read_result(&mut reader).unwrap(), None);
    }
}

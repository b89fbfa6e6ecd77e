//! The parent's loop: make inputs, run them in a worker, keep the ones that
//! reach new outcomes, and turn panics, aborts, hangs and oversized
//! allocations into saved findings.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::findings::{Finding, FindingStore};
use crate::mutate;
use crate::process::{BatchResult, WorkerProcess};
use crate::targets::{Target, TargetName};
use crate::worker::RunResult;

/// Inputs sent to the worker at once.
const BATCH_INPUTS: usize = 128;
/// The corpus of one target never holds more inputs than this.
const MAX_CORPUS: usize = 20_000;
/// Worker runs spent shrinking one new finding.
const MINIMIZE_RUNS: usize = 200;
/// Time spent shrinking one new finding.
const MINIMIZE_TIME: Duration = Duration::from_secs(5);

/// What a campaign does and where it saves findings.
#[derive(Debug, Clone)]
pub struct CampaignConfig {
    /// Inputs to run per target (the seeds count).
    pub iterations: u64,
    /// The RNG seed; the same seed makes the same inputs.
    pub seed: u64,
    /// Stop a target after this long even if `iterations` are not done.
    pub time_limit: Option<Duration>,
    /// An input running longer than this is a hang.
    pub hang_timeout: Duration,
    /// A single allocation larger than this is a finding.
    pub allocation_bound: usize,
    /// Findings go to `<findings_dir>/<target>/<hash>.bin`.
    pub findings_dir: PathBuf,
    /// The fuzzer's own executable, started with `--worker`.
    pub worker_exe: PathBuf,
}

/// Figures of one target's run.
#[derive(Debug, Clone)]
pub struct TargetReport {
    /// The target.
    pub target: TargetName,
    /// Inputs run.
    pub inputs: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Distinct findings (by signature).
    pub findings: Vec<Finding>,
    /// Corpus size at the end (seeds plus inputs with new outcomes).
    pub corpus: usize,
    /// The seed.
    pub seed: u64,
}

impl TargetReport {
    /// Inputs per second.
    pub fn inputs_per_second(&self) -> f64 {
        self.inputs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs one result through the finding rules; `Some` signature for a finding.
pub fn classify(result: &RunResult, allocation_bound: usize, label: &str) -> Option<String> {
    match result {
        RunResult::Returned {
            largest_allocation, ..
        } if *largest_allocation > allocation_bound => Some(format!(
            "allocation over {} MiB [{label}]",
            allocation_bound >> 20
        )),
        RunResult::Returned { .. } => None,
        RunResult::Panicked { message } => {
            // The location identifies a panic; the message may hold values.
            let location = message.rsplit(" at ").next().unwrap_or(message);
            Some(format!("panic at {location} [{label}]"))
        }
    }
}

/// A running campaign on one target.
struct Campaign<'a> {
    config: &'a CampaignConfig,
    name: TargetName,
    target: Box<dyn Target>,
    worker: Option<WorkerProcess>,
    store: FindingStore,
    signatures: HashMap<String, Finding>,
}

impl Campaign<'_> {
    fn worker(&mut self) -> std::io::Result<&mut WorkerProcess> {
        if self.worker.is_none() {
            self.worker = Some(WorkerProcess::spawn(&self.config.worker_exe)?);
        }
        self.worker
            .as_mut()
            .ok_or_else(|| std::io::Error::other("no worker"))
    }

    /// Runs `inputs`, restarting the worker after each death; returns one
    /// result per input (`None` where the worker died) and the signatures
    /// of the deaths.
    fn run_batch(&mut self, inputs: &[Vec<u8>]) -> std::io::Result<Vec<Result<RunResult, String>>> {
        let mut out = Vec::with_capacity(inputs.len());
        while out.len() < inputs.len() {
            let rest: Vec<&[u8]> = inputs[out.len()..].iter().map(Vec::as_slice).collect();
            let hang = self.config.hang_timeout;
            let name = self.name;
            let BatchResult { results, death } = self.worker()?.run(name, &rest, hang);
            out.extend(results.into_iter().map(Ok));
            if let Some(death) = death {
                self.worker = None;
                let label = self.target.label(&inputs[out.len()]);
                out.push(Err(format!("{}: {} [{label}]", death.kind, death.message)));
            }
        }
        Ok(out)
    }

    fn signature(&self, input: &[u8], result: &Result<RunResult, String>) -> Option<String> {
        match result {
            Ok(result) => classify(
                result,
                self.config.allocation_bound,
                &self.target.label(input),
            ),
            Err(death) => Some(death.clone()),
        }
    }

    /// Shrinks `input` while it keeps producing `signature`, within a budget.
    fn minimize(&mut self, input: &[u8], signature: &str) -> std::io::Result<Vec<u8>> {
        let mut best = input.to_vec();
        let mut runs = 0;
        let started = Instant::now();
        let budget_left = |runs| runs < MINIMIZE_RUNS && started.elapsed() < MINIMIZE_TIME;
        let mut chunk = best.len() / 2;
        while chunk > 0 && budget_left(runs) {
            let mut at = 0;
            while at < best.len() && budget_left(runs) {
                let end = (at + chunk).min(best.len());
                let candidate = [&best[..at], &best[end..]].concat();
                runs += 1;
                let result = self.run_batch(std::slice::from_ref(&candidate))?;
                let same = result
                    .first()
                    .and_then(|r| self.signature(&candidate, r))
                    .is_some_and(|s| s == signature);
                if same {
                    best = candidate;
                } else {
                    at += chunk;
                }
            }
            chunk /= 2;
        }
        Ok(best)
    }

    fn record(&mut self, input: &[u8], signature: String, detail: String) -> std::io::Result<()> {
        if self.signatures.contains_key(&signature) {
            return Ok(());
        }
        let minimized = self.minimize(input, &signature)?;
        let finding = self
            .store
            .save(self.name, &minimized, &signature, &detail)?;
        self.signatures.insert(signature, finding);
        Ok(())
    }
}

fn detail_of(result: &Result<RunResult, String>) -> String {
    match result {
        Ok(RunResult::Returned {
            outcome,
            largest_allocation,
        }) => format!("largest allocation {largest_allocation} bytes; outcome {outcome}"),
        Ok(RunResult::Panicked { message }) => format!("panic: {message}"),
        Err(death) => death.clone(),
    }
}

/// A stable 64-bit FNV-1a hash (the findings' file names, corpus feedback).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Fuzzes one target as `config` says.
///
/// # Errors
/// When workers cannot be started or findings cannot be saved.
pub fn fuzz_target(config: &CampaignConfig, name: TargetName) -> std::io::Result<TargetReport> {
    let started = Instant::now();
    let target = name.build()?;
    let seeds = target.seeds();
    let mut campaign = Campaign {
        config,
        name,
        target,
        worker: None,
        store: FindingStore::new(&config.findings_dir),
        signatures: HashMap::new(),
    };
    let mut rng = StdRng::seed_from_u64(config.seed ^ fnv1a(name.name().as_bytes()));
    let mut corpus = seeds.clone();
    let mut seen_outcomes = HashSet::new();
    let mut inputs_run = 0u64;
    let mut pending: Vec<Vec<u8>> = seeds;
    let out_of_time = |started: Instant| config.time_limit.is_some_and(|l| started.elapsed() >= l);
    while inputs_run < config.iterations && !out_of_time(started) {
        let room = (config.iterations - inputs_run).min(BATCH_INPUTS as u64) as usize;
        let mut batch: Vec<Vec<u8>> = pending.drain(..room.min(pending.len())).collect();
        while batch.len() < room {
            batch.push(next_input(&mut rng, campaign.target.as_ref(), &corpus));
        }
        let results = campaign.run_batch(&batch)?;
        inputs_run += batch.len() as u64;
        for (input, result) in batch.iter().zip(&results) {
            if let Some(signature) = campaign.signature(input, result) {
                campaign.record(input, signature, detail_of(result))?;
                continue;
            }
            if let Ok(RunResult::Returned {
                outcome,
                largest_allocation,
            }) = result
            {
                // Larger allocations count as new behaviour: inputs that
                // make the decoder reserve more are kept and mutated on.
                let bucket = usize::BITS - largest_allocation.leading_zeros();
                let feedback = fnv1a(format!("{outcome}|{bucket}").as_bytes());
                if seen_outcomes.insert(feedback) {
                    add_to_corpus(&mut rng, &mut corpus, input.clone());
                }
            }
        }
    }
    if let Some(worker) = campaign.worker.take() {
        worker.finish();
    }
    Ok(TargetReport {
        target: name,
        inputs: inputs_run,
        elapsed: started.elapsed(),
        findings: campaign.signatures.into_values().collect(),
        corpus: corpus.len(),
        seed: config.seed,
    })
}

fn next_input(rng: &mut StdRng, target: &dyn Target, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut input = corpus[rng.random_range(0..corpus.len())].clone();
    let other = &corpus[rng.random_range(0..corpus.len())];
    let rounds = 1 + rng.random_range(0..4usize);
    mutate::mutate(rng, &mut input, other, rounds);
    target.fix_up(rng, &mut input);
    input
}

fn add_to_corpus(rng: &mut StdRng, corpus: &mut Vec<Vec<u8>>, input: Vec<u8>) {
    if corpus.len() < MAX_CORPUS {
        corpus.push(input);
    } else {
        let at = rng.random_range(0..corpus.len());
        corpus[at] = input;
    }
}

/// Runs saved inputs (files, or directories of `.bin` files) on `target`
/// and returns the findings they still produce, with the file of each.
///
/// # Errors
/// When a file cannot be read or the worker cannot be started.
pub fn replay(
    config: &CampaignConfig,
    name: TargetName,
    files: &[PathBuf],
) -> std::io::Result<Vec<(PathBuf, String, String)>> {
    let mut campaign = Campaign {
        config,
        name,
        target: name.build()?,
        worker: None,
        store: FindingStore::new(&config.findings_dir),
        signatures: HashMap::new(),
    };
    let mut still_failing = Vec::new();
    for file in files {
        let input = std::fs::read(file)?;
        let results = campaign.run_batch(std::slice::from_ref(&input))?;
        if let Some(result) = results.first()
            && let Some(signature) = campaign.signature(&input, result)
        {
            still_failing.push((file.clone(), signature, detail_of(result)));
        }
    }
    if let Some(worker) = campaign.worker.take() {
        worker.finish();
    }
    Ok(still_failing)
}

/// The `.bin` files under `path` (or `path` itself), sorted.
///
/// # Errors
/// When a directory cannot be listed.
pub fn input_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "bin") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allocation_over_the_bound_is_a_finding() {
        let result = RunResult::Returned {
            outcome: "ok".to_owned(),
            largest_allocation: 65 << 20,
        };
        assert!(classify(&result, 64 << 20, "x").is_some());
        let small = RunResult::Returned {
            outcome: "ok".to_owned(),
            largest_allocation: 1 << 20,
        };
        assert!(classify(&small, 64 << 20, "x").is_none());
    }

    #[test]
    fn panics_are_told_apart_by_location() {
        let at = |message: &str| {
            classify(
                &RunResult::Panicked {
                    message: message.to_owned(),
                },
                1,
                "l",
            )
        };
        assert_eq!(
            at("index 3 out of range at a.rs:1:1"),
            at("index 9 out of range at a.rs:1:1")
        );
        assert_ne!(at("x at a.rs:1:1"), at("x at a.rs:2:1"));
    }
}

//! `sluice-fuzz`: fuzz Sluice's decoders on stable Rust.
//!
//! ```text
//! sluice-fuzz --target <frame|request|record_batch|files|all> --iterations N --seed S [--time-limit SECS]
//! sluice-fuzz --replay fuzz/regressions/request [more files or directories]
//! ```
//! Prints per target the inputs run, inputs/s, distinct findings and the
//! seed; exits 1 when there was a finding, 2 on a usage or I/O error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use sluice_fuzz::alloc::CountingAllocator;
use sluice_fuzz::{CampaignConfig, TargetName, fuzz_target, input_files, replay};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(
    name = "sluice-fuzz",
    about = "Structure-aware fuzzing of Sluice's decoders"
)]
struct Args {
    /// frame, request, record_batch, files, or all.
    #[arg(long, default_value = "all")]
    target: String,
    /// Inputs to run per target (seeds included).
    #[arg(long, default_value_t = 100_000)]
    iterations: u64,
    /// RNG seed: the same seed makes the same inputs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop each target after this many seconds.
    #[arg(long)]
    time_limit: Option<u64>,
    /// An input running longer than this many seconds is a hang.
    #[arg(long, default_value_t = 20)]
    hang_secs: u64,
    /// A single allocation over this many MiB is a finding.
    #[arg(long, default_value_t = 64)]
    allocation_bound_mib: usize,
    /// Where findings are saved (default: the crate's `findings/`).
    #[arg(long)]
    findings_dir: Option<PathBuf>,
    /// Replay saved inputs (files or directories of .bin files) instead of
    /// fuzzing; the target comes from --target or the directory's name.
    #[arg(long, num_args = 1..)]
    replay: Vec<PathBuf>,
    /// Run as a worker (started by the fuzzer itself).
    #[arg(long, hide = true)]
    worker: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.worker {
        return match sluice_fuzz::worker::serve() {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::from(2),
        };
    }
    match run(&args) {
        Ok(true) => ExitCode::from(1),
        Ok(false) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "sluice-fuzz: {error}");
            ExitCode::from(2)
        }
    }
}

/// Fuzzes or replays; `Ok(true)` when something was found.
fn run(args: &Args) -> anyhow::Result<bool> {
    let config = CampaignConfig {
        iterations: args.iterations,
        seed: args.seed,
        time_limit: args.time_limit.map(Duration::from_secs),
        hang_timeout: Duration::from_secs(args.hang_secs),
        allocation_bound: args.allocation_bound_mib << 20,
        findings_dir: args
            .findings_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("findings")),
        worker_exe: std::env::current_exe()?,
    };
    let chosen = if args.target == "all" {
        None
    } else {
        Some(
            TargetName::from_name(&args.target)
                .ok_or_else(|| anyhow::anyhow!("unknown target {}", args.target))?,
        )
    };
    if !args.replay.is_empty() {
        return replay_paths(&config, chosen, &args.replay);
    }
    let mut out = std::io::stdout().lock();
    let mut found = false;
    let targets = chosen.map_or(TargetName::ALL.to_vec(), |t| vec![t]);
    for target in targets {
        let report = fuzz_target(&config, target)?;
        writeln!(
            out,
            "target={} inputs={} inputs/s={:.0} findings={} corpus={} seed={} elapsed={:.1}s",
            target.name(),
            report.inputs,
            report.inputs_per_second(),
            report.findings.len(),
            report.corpus,
            report.seed,
            report.elapsed.as_secs_f64()
        )?;
        for finding in &report.findings {
            writeln!(
                out,
                "  finding: {} -> {} ({} bytes)\n    {}",
                finding.signature,
                finding.path.display(),
                finding.input_bytes,
                finding.detail
            )?;
        }
        found |= !report.findings.is_empty();
    }
    Ok(found)
}

fn replay_paths(
    config: &CampaignConfig,
    chosen: Option<TargetName>,
    paths: &[PathBuf],
) -> anyhow::Result<bool> {
    let mut out = std::io::stdout().lock();
    let mut found = false;
    for path in paths {
        for file in input_files(path)? {
            let from_dir = file
                .parent()
                .and_then(|d| d.file_name())
                .and_then(|n| n.to_str())
                .and_then(TargetName::from_name);
            let target = chosen.or(from_dir).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: name a --target or put it in a <target>/ directory",
                    file.display()
                )
            })?;
            let failing = replay(config, target, std::slice::from_ref(&file))?;
            let status = failing.first().map_or_else(
                || "ok".to_owned(),
                |(_, signature, detail)| format!("FINDING {signature}: {detail}"),
            );
            writeln!(out, "{} {}: {status}", target.name(), file.display())?;
            found |= !failing.is_empty();
        }
    }
    Ok(found)
}

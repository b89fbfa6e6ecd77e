//! Recovery after `kill -9`: how fast a data directory opens again.
//!
//! Writes `--gib` GiB of batches of 16 records of 1 KiB each into
//! `--partitions` partitions (default config: 1 GiB segments, flush left to
//! the OS), then stops without a clean close: no clean-shutdown marker, and no
//! checkpoint beyond what the logs wrote themselves, as after `kill -9`. The
//! files are then fsynced and dropped from the page cache
//! (`posix_fadvise(DONTNEED)`), so recovery reads from disk, and
//! `LogManager::open` is timed. Printed: bytes in the logs, bytes past the
//! recovery points (what must be scanned), seconds and GB/s of data opened.
//!
//! Flags: `--gib <f64>` (default 4), `--partitions <n>` (1),
//! `--threads <n>` (`num.recovery.threads.per.data.dir`; default: the
//! config's), `--no-checkpoint` (delete every checkpoint first: the worst case,
//! a full scan), `--runs <n>` (open the same directory this many times,
//! dropping the page cache and restoring the unclean state before each).
//! Files go to `SLUICE_BENCH_DIR` (default: the system temp dir) and are removed
//! at the end.
//!
//! Run: `cargo bench -p sluice-storage --bench recovery -- --gib 4`
#![allow(unsafe_code, clippy::print_stdout)]

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sluice_storage::testing::batch_with_values;
use sluice_storage::{Log, LogConfig, LogManager, TopicPartition};

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const CHECKPOINT_FILE: &str = "recovery-point-offset-checkpoint";

#[derive(Debug)]
struct Options {
    gib: f64,
    partitions: usize,
    threads: Option<usize>,
    no_checkpoint: bool,
    runs: usize,
    data: Option<PathBuf>,
    write_only: bool,
}

fn options() -> BenchResult<Options> {
    let mut options = Options {
        gib: 4.0,
        partitions: 1,
        threads: None,
        no_checkpoint: false,
        runs: 1,
        data: None,
        write_only: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--gib" => options.gib = value()?.parse()?,
            "--partitions" => options.partitions = value()?.parse::<usize>()?.max(1),
            "--threads" => options.threads = Some(value()?.parse()?),
            "--no-checkpoint" => options.no_checkpoint = true,
            "--runs" => options.runs = value()?.parse::<usize>()?.max(1),
            "--write-only" => options.write_only = true,
            "--data" => options.data = Some(PathBuf::from(value()?)),
            // cargo bench passes --bench; ignore what we do not know.
            _ => {}
        }
    }
    Ok(options)
}

fn bench_dir() -> BenchResult<tempfile::TempDir> {
    Ok(match std::env::var_os("SLUICE_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    })
}

fn config(options: &Options) -> LogConfig {
    let mut config = LogConfig {
        retention_ms: -1,
        ..LogConfig::default()
    };
    if let Some(threads) = options.threads {
        config.num_recovery_threads_per_data_dir = threads;
    }
    config
}

/// Fills `partitions` logs with `bytes` in total and leaves them unclean.
fn write(data: &Path, options: &Options) -> BenchResult<u64> {
    let per_partition = (options.gib * f64::from(1u32 << 30)) as u64 / options.partitions as u64;
    let template = batch_with_values(0, 16, 1_700_000_000_000, 1024);
    let started = Instant::now();
    let mut total = 0;
    for partition in 0..options.partitions {
        let dir = data.join(TopicPartition::new("bench", partition as i32).dir_name());
        let mut log = Log::open(&dir, config(options))?;
        while log.size_bytes() < per_partition {
            let mut batch = template.clone();
            log.append(&mut batch, 0, 1_700_000_000_000)?;
        }
        total += log.size_bytes();
        // Not closed: what kill -9 leaves (background fsyncs may still finish).
        drop(log);
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "wrote {:.2} GiB in {} partition(s) in {seconds:.2} s ({:.2} GB/s)",
        total as f64 / f64::from(1u32 << 30),
        options.partitions,
        total as f64 / seconds / 1e9
    );
    Ok(total)
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) -> BenchResult<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files_under(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// Fsyncs every file under `data` and drops it from the page cache.
fn drop_page_cache(data: &Path) -> BenchResult<()> {
    let mut files = Vec::new();
    files_under(data, &mut files)?;
    for path in files {
        let file = File::open(&path)?;
        file.sync_all()?;
        // SAFETY: posix_fadvise reads no memory of ours; the descriptor is
        // valid for the call because `file` is borrowed.
        let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        if rc != 0 {
            return Err(format!("posix_fadvise {}: error {rc}", path.display()).into());
        }
    }
    Ok(())
}

/// The recovery point each checkpoint records, summed into the bytes past
/// it: what recovery must scan (segments holding the recovery point on).
fn bytes_to_scan(data: &Path) -> BenchResult<u64> {
    let mut total = 0;
    for entry in fs::read_dir(data)? {
        let dir = entry?.path();
        if !dir.is_dir() {
            continue;
        }
        let recovery_point = fs::read_to_string(dir.join(CHECKPOINT_FILE))
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("recovery_point ")?.parse::<i64>().ok())
            })
            .unwrap_or(i64::MIN);
        let mut bases: Vec<(i64, u64)> = Vec::new();
        for file in fs::read_dir(&dir)? {
            let path = file?.path();
            if path.extension().is_some_and(|e| e == "log")
                && let Some(base) = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.parse().ok())
            {
                bases.push((base, fs::metadata(&path)?.len()));
            }
        }
        bases.sort_unstable();
        for (i, (_, len)) in bases.iter().enumerate() {
            let next_base = bases.get(i + 1).map(|(b, _)| *b);
            if next_base.is_none_or(|next| next > recovery_point) {
                total += len;
            }
        }
    }
    Ok(total)
}

/// Copies the checkpoints aside so every run starts from the same state.
fn save_checkpoints(data: &Path, restore: bool) -> BenchResult<()> {
    for entry in fs::read_dir(data)? {
        let dir = entry?.path();
        if !dir.is_dir() {
            continue;
        }
        let (live, saved) = (
            dir.join(CHECKPOINT_FILE),
            dir.join("bench-saved-checkpoint"),
        );
        if restore {
            let _ = fs::remove_file(dir.join(".clean-shutdown"));
            match fs::copy(&saved, &live) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let _ = fs::remove_file(&live);
                }
                Err(e) => return Err(e.into()),
            }
        } else if live.exists() {
            fs::rename(&live, &saved)?;
        }
    }
    Ok(())
}

/// CPU seconds (user + system) this process has used so far.
fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes one `rusage` through the pointer, which points
    // to a zeroed value of that type that lives across the call.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return 0.0;
    }
    // SAFETY: zero-initialised and filled in by a successful getrusage.
    let usage = unsafe { usage.assume_init() };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// The one-minute load average, to judge how shared the machine was.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

fn main() -> BenchResult<()> {
    let options = options()?;
    let root = bench_dir()?;
    let data = options
        .data
        .clone()
        .unwrap_or_else(|| root.path().join("data"));
    let reuse = fs::read_dir(&data).is_ok_and(|mut entries| entries.next().is_some());
    fs::create_dir_all(&data)?;
    let written = if reuse {
        println!("reusing the logs in {}", data.display());
        None
    } else {
        let written = write(&data, &options)?;
        save_checkpoints(&data, false)?;
        Some(written)
    };
    let config = config(&options);
    if options.write_only {
        return Ok(());
    }
    for run in 1..=options.runs {
        save_checkpoints(&data, true)?;
        if options.no_checkpoint {
            for partition in 0..options.partitions {
                let dir = data.join(TopicPartition::new("bench", partition as i32).dir_name());
                let _ = fs::remove_file(dir.join(CHECKPOINT_FILE));
            }
        }
        let to_scan = bytes_to_scan(&data)?;
        let dropping = Instant::now();
        drop_page_cache(&data)?;
        println!(
            "page cache dropped in {:.2} s",
            dropping.elapsed().as_secs_f64()
        );
        let (started, cpu_before) = (Instant::now(), cpu_seconds());
        let (manager, logs) = LogManager::open(&data, config.clone())?;
        let seconds = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu_before;
        let opened: u64 = logs.iter().map(|(_, log)| log.size_bytes()).sum();
        if written.is_some_and(|written| opened != written) {
            return Err(format!("recovery kept {opened} of {written:?} bytes").into());
        }
        println!(
            "run {run}: opened {:.2} GiB ({:.2} GiB past the recovery points) with {} recovery thread(s) in {seconds:.2} s ({cpu:.2} s CPU, load {}): {:.2} GB/s{}",
            opened as f64 / f64::from(1u32 << 30),
            to_scan as f64 / f64::from(1u32 << 30),
            config.num_recovery_threads_per_data_dir,
            load_average(),
            opened as f64 / seconds / 1e9,
            if to_scan > 0 {
                format!(" (scan {:.2} GB/s)", to_scan as f64 / seconds / 1e9)
            } else {
                String::new()
            },
        );
        // Unclean again: the next run recovers the same way.
        drop(logs);
        drop(manager);
    }
    Ok(())
}

//! The machine's limits, measured in the same run as the workloads so each
//! result can be read as a fraction of what the hardware allows: loopback
//! TCP bandwidth (iperf3, from Debian) and sequential page-cache write
//! bandwidth (written here, in Rust).

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::summary::BYTES_PER_MB;

/// Size of each write of the page-cache test: large enough that syscall
/// overhead does not dominate, as a broker's batched appends.
const PAGE_CACHE_CHUNK_BYTES: usize = 1 << 20;
/// How often the iperf3 client retries while the server starts.
const IPERF_CONNECT_ATTEMPTS: u32 = 50;
/// Pause between those attempts.
const IPERF_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// One measured limit, or why it was not measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limit {
    /// Bandwidth in MB (10^6 bytes) per second, when measured.
    pub mb_per_sec: Option<f64>,
    /// How it was measured, or why it was not.
    pub note: String,
}

/// The machine's limits for this suite.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MachineLimits {
    /// Loopback TCP bandwidth, one iperf3 stream.
    pub loopback_tcp: Limit,
    /// Sequential buffered writes to a file, no fsync.
    pub page_cache_write: Limit,
}

impl MachineLimits {
    /// The limit for producing: data crosses loopback TCP and is then
    /// written to the page cache, so the lower of both bounds it.
    pub fn produce_mb_per_sec(&self) -> Option<f64> {
        match (
            self.loopback_tcp.mb_per_sec,
            self.page_cache_write.mb_per_sec,
        ) {
            (Some(tcp), Some(cache)) => Some(tcp.min(cache)),
            (tcp, cache) => tcp.or(cache),
        }
    }

    /// The limit for consuming: loopback TCP.
    pub fn consume_mb_per_sec(&self) -> Option<f64> {
        self.loopback_tcp.mb_per_sec
    }
}

/// Writes `total_bytes` sequentially in 1 MiB chunks to a new file in `dir`
/// without fsync, returns MB/s, and deletes the file.
///
/// # Errors
/// The file cannot be created or written (a full disk, no permission).
pub fn measure_page_cache_write(dir: &Path, total_bytes: u64) -> std::io::Result<f64> {
    let (written, elapsed) = write_sustained(dir, total_bytes, None)?;
    Ok(mb_per_sec(written, elapsed))
}

/// Writes like [`measure_page_cache_write`], but stops after `max_duration`
/// when given: the sustained rate over as long as a run lasts. A short test
/// only fills free memory; a run of several seconds at full speed outgrows
/// the dirty-page limits and then writes at the pace of write-back. Returns
/// the bytes written and the time the writes took.
fn write_sustained(
    dir: &Path,
    total_bytes: u64,
    max_duration: Option<Duration>,
) -> std::io::Result<(u64, Duration)> {
    let path = dir.join("page-cache-write.test");
    let chunk = vec![0x5a_u8; PAGE_CACHE_CHUNK_BYTES];
    let started = Instant::now();
    let outcome = write_chunks(&path, &chunk, total_bytes, |written| {
        written >= total_bytes || max_duration.is_some_and(|max| started.elapsed() >= max)
    });
    let elapsed = started.elapsed();
    let removed = std::fs::remove_file(&path);
    let written = outcome?;
    removed?;
    Ok((written, elapsed))
}

fn mb_per_sec(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / BYTES_PER_MB / elapsed.as_secs_f64().max(1e-9)
}

fn write_chunks(
    path: &Path,
    chunk: &[u8],
    total_bytes: u64,
    done: impl Fn(u64) -> bool,
) -> std::io::Result<u64> {
    let mut file = std::fs::File::create(path)?;
    let mut written = 0_u64;
    while !done(written) {
        let len = (total_bytes - written).min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..len])?;
        written += len as u64;
    }
    Ok(written)
}

/// The page-cache limit as a [`Limit`], with the reason when it failed:
/// at most `total_bytes`, for at most `max_duration`.
pub fn page_cache_limit(dir: &Path, total_bytes: u64, max_duration: Option<Duration>) -> Limit {
    match write_sustained(dir, total_bytes, max_duration) {
        Ok((written, elapsed)) => Limit {
            mb_per_sec: Some(mb_per_sec(written, elapsed)),
            note: format!(
                "{} MiB written sequentially in 1 MiB chunks in {:.1} s, no fsync",
                written >> 20,
                elapsed.as_secs_f64()
            ),
        },
        Err(error) => Limit {
            mb_per_sec: None,
            note: format!("not measured: {error}"),
        },
    }
}

/// Runs an iperf3 server and client on 127.0.0.1 for `duration` and
/// returns the received bandwidth as a [`Limit`]; "not measured" with the
/// reason when iperf3 is missing or fails.
pub fn loopback_tcp_limit(duration: Duration) -> Limit {
    match measure_loopback_tcp(duration) {
        Ok(mb_per_sec) => Limit {
            mb_per_sec: Some(mb_per_sec),
            note: format!(
                "iperf3, 1 stream on 127.0.0.1 for {} s",
                duration.as_secs_f64()
            ),
        },
        Err(reason) => Limit {
            mb_per_sec: None,
            note: format!("not measured: {reason}"),
        },
    }
}

fn measure_loopback_tcp(duration: Duration) -> Result<f64, String> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|error| format!("no free port: {error}"))?
        .port()
        .to_string();
    let mut server = Command::new("iperf3")
        .args(["-s", "-1", "-B", "127.0.0.1", "-p", &port])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| {
            format!("cannot run iperf3 ({error}); install it with `apt-get install iperf3` or scripts/setup.sh")
        })?;
    let seconds = duration.as_secs().max(1).to_string();
    let outcome = run_iperf_client(&port, &seconds);
    let _ = server.kill();
    let _ = server.wait();
    outcome
}

/// The client, retried while the server is still starting. iperf3 may exit
/// with status 0 after "unable to connect" in JSON mode, so success is a
/// report with a bandwidth, not the exit status.
fn run_iperf_client(port: &str, seconds: &str) -> Result<f64, String> {
    let mut last_error = String::new();
    for _ in 0..IPERF_CONNECT_ATTEMPTS {
        let output = Command::new("iperf3")
            .args(["-c", "127.0.0.1", "-p", port, "-t", seconds, "-J"])
            .stdin(Stdio::null())
            .output()
            .map_err(|error| format!("cannot run the iperf3 client: {error}"))?;
        match parse_iperf_json(&String::from_utf8_lossy(&output.stdout)) {
            Ok(mb_per_sec) => return Ok(mb_per_sec),
            Err(error) => last_error = error,
        }
        std::thread::sleep(IPERF_RETRY_PAUSE);
    }
    Err(format!("iperf3 client failed: {last_error}"))
}

/// MB/s received, from the `-J` report of an iperf3 client.
fn parse_iperf_json(text: &str) -> Result<f64, String> {
    let report: serde_json::Value =
        serde_json::from_str(text).map_err(|error| format!("iperf3 JSON: {error}"))?;
    if let Some(error) = report["error"].as_str() {
        return Err(format!("iperf3: {error}"));
    }
    report["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .filter(|bits| *bits > 0.0)
        .map(|bits| bits / 8.0 / BYTES_PER_MB)
        .ok_or_else(|| "iperf3 reported no received bandwidth".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_cache_test_writes_then_deletes_its_file() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mb_per_sec = measure_page_cache_write(dir.path(), 3 << 20).expect("a writable dir");
        assert!(mb_per_sec > 0.0);
        let left = std::fs::read_dir(dir.path()).expect("readable").count();
        assert_eq!(left, 0);
    }

    #[test]
    fn page_cache_test_in_a_missing_dir_is_not_measured() {
        let limit = page_cache_limit(Path::new("/nonexistent/sluice-suite"), 1 << 20, None);
        assert_eq!(limit.mb_per_sec, None);
        assert!(limit.note.starts_with("not measured"));
    }

    #[test]
    fn iperf_report_gives_received_megabytes_per_second() {
        let json = r#"{"end":{"sum_received":{"bits_per_second":8000000000.0}}}"#;
        assert_eq!(parse_iperf_json(json), Ok(1000.0));
    }

    #[test]
    fn iperf_report_with_an_error_is_an_error_even_with_figures() {
        let json = r#"{"error":"unable to connect to server","end":{"sum_received":{"bits_per_second":1.0}}}"#;
        assert_eq!(
            parse_iperf_json(json),
            Err("iperf3: unable to connect to server".to_owned())
        );
    }

    #[test]
    fn iperf_report_without_a_result_is_an_error() {
        assert!(parse_iperf_json(r#"{"end":{}}"#).is_err());
    }

    #[test]
    fn loopback_limit_is_measured_or_says_why_not() {
        let limit = loopback_tcp_limit(Duration::from_secs(1));
        let measured = limit.mb_per_sec.is_some_and(|mb| mb > 0.0);
        assert!(
            measured || limit.note.starts_with("not measured"),
            "{limit:?}"
        );
    }

    #[test]
    fn produce_limit_is_the_lower_of_tcp_and_page_cache() {
        let limit = |mb| Limit {
            mb_per_sec: mb,
            note: String::new(),
        };
        let limits = MachineLimits {
            loopback_tcp: limit(Some(3000.0)),
            page_cache_write: limit(Some(2000.0)),
        };
        assert_eq!(limits.produce_mb_per_sec(), Some(2000.0));
        assert_eq!(limits.consume_mb_per_sec(), Some(3000.0));
        let no_tcp = MachineLimits {
            loopback_tcp: limit(None),
            ..limits
        };
        assert_eq!(no_tcp.produce_mb_per_sec(), Some(2000.0));
    }
}

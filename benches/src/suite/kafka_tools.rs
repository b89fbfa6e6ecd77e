//! Apache Kafka's own perf tools (`kafka-producer-perf-test`,
//! `kafka-consumer-perf-test`) run through `scripts/kafka-tool` against any
//! broker, and their final report lines parsed into figures.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;
use tokio::process::Command;

use super::error::{SuiteError, SuiteResult};

/// JVM flags of the perf tools: full JIT and a bigger heap, overriding the
/// fast-start flags `scripts/kafka-tool` uses for short commands.
pub const KAFKA_TOOL_JVM_OPTS: &str = "-XX:TieredStopAtLevel=4 -Xmx1g";
/// Names the producer tool by its script name in errors and results.
pub const PRODUCER_PERF_TEST: &str = "kafka-producer-perf-test";
/// Names the consumer tool by its script name in errors and results.
pub const CONSUMER_PERF_TEST: &str = "kafka-consumer-perf-test";

/// The final line of `kafka-producer-perf-test`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProducerPerf {
    /// Records sent.
    pub records: u64,
    /// Records per second.
    pub records_per_sec: f64,
    /// MB per second as the tool counts it (MiB, 2^20 bytes).
    pub mib_per_sec: f64,
    /// Mean send-to-acknowledgement latency.
    pub avg_latency_ms: f64,
    /// Largest latency.
    pub max_latency_ms: f64,
    /// Median latency.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
}

/// The result row of `kafka-consumer-perf-test`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsumerPerf {
    /// Records consumed (`data.consumed.in.nMsg`).
    pub records: u64,
    /// Records per second over the whole run, group join included (`nMsg.sec`).
    pub records_per_sec: f64,
    /// MB (MiB) per second over the whole run (`MB.sec`).
    pub mib_per_sec: f64,
    /// Records per second while fetching, group join excluded
    /// (`fetch.nMsg.sec`); the figure compared with the suite's consumer.
    pub fetch_records_per_sec: f64,
    /// Time spent joining the group before the first fetch
    /// (`rebalance.time.ms`), when the tool reports it.
    pub rebalance_time_ms: Option<f64>,
}

/// Where `kafka-tool` is and how to call it.
#[derive(Debug, Clone)]
pub struct KafkaTool {
    script: PathBuf,
}

impl KafkaTool {
    /// The tool script in `scripts_dir`.
    pub fn new(scripts_dir: &Path) -> KafkaTool {
        KafkaTool {
            script: scripts_dir.join("kafka-tool"),
        }
    }

    /// Checks Java and the Kafka jars are there by running a tool once.
    ///
    /// # Errors
    /// [`SuiteError::Tool`] with the script's own explanation (it names
    /// `scripts/setup.sh` when the jars are missing).
    pub async fn check(&self) -> SuiteResult<()> {
        self.run("kafka-topics", &["--version"], Duration::from_secs(60))
            .await
            .map(|_| ())
    }

    /// Sends `records` 100-byte records to `topic` at full speed with acks=1.
    ///
    /// # Errors
    /// The tool fails, exceeds `limit` or prints no final line.
    pub async fn producer_perf(
        &self,
        bootstrap: &str,
        topic: &str,
        records: u64,
        limit: Duration,
    ) -> SuiteResult<ProducerPerf> {
        let records = records.to_string();
        let servers = format!("bootstrap.servers={bootstrap}");
        let args = [
            "--topic",
            topic,
            "--num-records",
            &records,
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--producer-props",
            &servers,
            "acks=1",
        ];
        let output = self.run(PRODUCER_PERF_TEST, &args, limit).await?;
        parse_producer_perf(&output).ok_or_else(|| no_result(PRODUCER_PERF_TEST, &output))
    }

    /// Reads `records` records of `topic` from the beginning.
    ///
    /// # Errors
    /// The tool fails, exceeds `limit` or prints no result row.
    pub async fn consumer_perf(
        &self,
        bootstrap: &str,
        topic: &str,
        records: u64,
        limit: Duration,
    ) -> SuiteResult<ConsumerPerf> {
        let records = records.to_string();
        let args = [
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
            "--num-records",
            &records,
        ];
        let output = self.run(CONSUMER_PERF_TEST, &args, limit).await?;
        parse_consumer_perf(&output).ok_or_else(|| no_result(CONSUMER_PERF_TEST, &output))
    }

    /// Runs one tool with a time limit; stdout on success.
    async fn run(&self, tool: &str, args: &[&str], limit: Duration) -> SuiteResult<String> {
        let child = Command::new(&self.script)
            .arg(tool)
            .args(args)
            .env("KAFKA_JVM_OPTS", KAFKA_TOOL_JVM_OPTS)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| {
                tool_error(
                    tool,
                    format!("cannot run {}: {error}", self.script.display()),
                )
            })?;
        let output = tokio::time::timeout(limit, child.wait_with_output())
            .await
            .map_err(|_| tool_error(tool, format!("no result within {limit:?}")))?
            .map_err(|error| tool_error(tool, error.to_string()))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            Ok(stdout)
        } else {
            let stderr = String::from_utf8_lossy(&output.stderr);
            Err(tool_error(
                tool,
                format!("exited with {}: {}", output.status, last_lines(&stderr, 5)),
            ))
        }
    }
}

fn tool_error(tool: &str, reason: String) -> SuiteError {
    SuiteError::Tool {
        tool: tool.to_owned(),
        reason,
    }
}

fn no_result(tool: &str, output: &str) -> SuiteError {
    tool_error(
        tool,
        format!("no result line in: {}", last_lines(output, 5)),
    )
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(count)..].join(" | ")
}

/// The number a text part starts with (`"1234.5 ms avg latency"` → 1234.5).
fn leading_number(part: &str) -> Option<f64> {
    part.split_whitespace().next()?.parse().ok()
}

/// Parses the last `N records sent, ...` line, the one with percentiles:
/// `N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max
/// latency, P ms 50th, P ms 95th, P ms 99th, P ms 99.9th.`
pub fn parse_producer_perf(output: &str) -> Option<ProducerPerf> {
    let line = output
        .lines()
        .rev()
        .find(|line| line.contains(" records sent, ") && line.contains("99.9th"))?;
    let parts: Vec<&str> = line.trim().trim_end_matches('.').split(", ").collect();
    if parts.len() < 8 {
        return None;
    }
    let rate_part = parts[1];
    let mib = rate_part
        .split_once('(')
        .and_then(|(_, rest)| leading_number(rest))?;
    Some(ProducerPerf {
        records: leading_number(parts[0])? as u64,
        records_per_sec: leading_number(rate_part)?,
        mib_per_sec: mib,
        avg_latency_ms: leading_number(parts[2])?,
        max_latency_ms: leading_number(parts[3])?,
        p50_ms: leading_number(parts[4])?,
        p95_ms: leading_number(parts[5])?,
        p99_ms: leading_number(parts[6])?,
        p999_ms: leading_number(parts[7])?,
    })
}

/// Parses the row after the `start.time, end.time, ...` header by column name.
pub fn parse_consumer_perf(output: &str) -> Option<ConsumerPerf> {
    let lines: Vec<&str> = output.lines().collect();
    let header_at = lines
        .iter()
        .position(|line| line.starts_with("start.time"))?;
    let names: Vec<&str> = lines[header_at].split(',').map(str::trim).collect();
    let values: Vec<&str> = lines
        .get(header_at + 1)?
        .split(',')
        .map(str::trim)
        .collect();
    let column = |name: &str| -> Option<f64> {
        let index = names.iter().position(|n| *n == name)?;
        values.get(index)?.parse().ok()
    };
    let records_per_sec = column("nMsg.sec")?;
    let fetch = column("fetch.nMsg.sec").filter(|rate| *rate > 0.0);
    Some(ConsumerPerf {
        records: column("data.consumed.in.nMsg")? as u64,
        records_per_sec,
        mib_per_sec: column("MB.sec")?,
        fetch_records_per_sec: fetch.unwrap_or(records_per_sec),
        rebalance_time_ms: column("rebalance.time.ms"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRODUCER_OUTPUT: &str = "\
499981 records sent, 99976.2 records/sec (9.53 MB/sec), 12.1 ms avg latency, 300.0 ms max latency.
1000000 records sent, 251762.336354 records/sec (24.01 MB/sec), 1196.69 ms avg latency, 1672.00 ms max latency, 1180 ms 50th, 1555 ms 95th, 1650 ms 99th, 1667 ms 99.9th.
";

    const CONSUMER_OUTPUT: &str = "\
start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
2026-11-23 21:00:00:000, 2026-11-23 21:00:03:000, 95.3674, 31.7891, 1000000, 333333.3333, 1000, 2000, 47.6837, 500000.0000
";

    #[test]
    fn producer_final_line_gives_rate_and_percentiles() {
        let perf = parse_producer_perf(PRODUCER_OUTPUT).expect("a final line");
        assert_eq!(perf.records, 1_000_000);
        assert!((perf.records_per_sec - 251_762.336_354).abs() < 1e-6);
        assert!((perf.mib_per_sec - 24.01).abs() < 1e-9);
        assert!((perf.p99_ms - 1650.0).abs() < 1e-9);
        assert!((perf.p999_ms - 1667.0).abs() < 1e-9);
    }

    #[test]
    fn producer_progress_lines_alone_are_not_a_result() {
        let progress = PRODUCER_OUTPUT.lines().next().unwrap_or_default();
        assert_eq!(parse_producer_perf(progress), None);
    }

    #[test]
    fn consumer_row_is_read_by_column_name() {
        let perf = parse_consumer_perf(CONSUMER_OUTPUT).expect("a result row");
        assert_eq!(perf.records, 1_000_000);
        assert!((perf.records_per_sec - 333_333.333_3).abs() < 1e-6);
        assert!((perf.fetch_records_per_sec - 500_000.0).abs() < 1e-9);
        assert_eq!(perf.rebalance_time_ms, Some(1000.0));
    }

    #[test]
    fn consumer_negative_fetch_time_falls_back_to_the_whole_run_rate() {
        let output = CONSUMER_OUTPUT.replace("500000.0000", "-1.0");
        let perf = parse_consumer_perf(&output).expect("a result row");
        assert!((perf.fetch_records_per_sec - perf.records_per_sec).abs() < 1e-9);
    }
}

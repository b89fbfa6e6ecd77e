//! The `sluice` command: one binary for the broker and its tools.
//!
//! Each subcommand lives in `commands/<name>.rs`; this file only parses the
//! command line, sets up logging and turns errors into one line on stderr and
//! a non-zero exit status.

mod commands;
mod output;
mod record_format;
mod session;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Sluice: a Kafka-compatible partitioned log.
#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about,
    after_help = "Examples:
  sluice broker
  sluice topic create events --partitions 3
  seq 1 10 | sluice produce events
  sluice consume events --from-beginning --max-messages 10
  sluice group describe billing

Client commands find the cluster with --bootstrap-server or SLUICE_BOOTSTRAP."
)]
struct Cli {
    /// Log filter (`info`, `debug`, `sluice_broker=trace`, ...); `RUST_LOG` wins when set.
    /// Default: `info` for `broker`, `warn` for the client commands.
    #[arg(long, global = true)]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a broker (a working single node with no flags at all).
    #[command(after_help = "Stops gracefully on Ctrl-C or SIGTERM.

Examples:
  sluice broker
  sluice broker --listen 0.0.0.0:9092 --advertised-listener broker1.example.com:9092
  sluice broker --data-dir /var/lib/sluice --node-id 1
  sluice broker --config config/single.toml
  sluice broker --node-id 1 --listen 127.0.0.1:19092 --controller-listen 127.0.0.1:19093 \
    --controller-quorum-voters 1@127.0.0.1:19093,2@127.0.0.1:29093,3@127.0.0.1:39093 --data-dir ./node1")]
    Broker(commands::broker::BrokerArgs),
    /// Create, list, describe, alter and delete topics.
    Topic(commands::topic::TopicArgs),
    /// List, describe, reset offsets of and delete consumer groups.
    Group(commands::group::GroupArgs),
    /// Write lines from stdin or a file as records.
    Produce(commands::produce::ProduceArgs),
    /// Read records and print them (template or JSON lines).
    Consume(commands::consume::ConsumeArgs),
    /// Show the controller quorum: voters, active controller, offsets.
    Cluster(commands::cluster::ClusterCommandArgs),
    /// Measure throughput and latency: produce, consume, or end to end.
    Bench(commands::bench::BenchArgs),
    /// Run producers and a rebalancing consumer group, record the history
    /// and check it: lost, duplicated, reordered records and group errors.
    Verify(commands::verify::VerifyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Client commands print results on stdout; routine client logs (joined
    // a group, reconnected) would drown them, so they log warnings only.
    let default_level = match cli.command {
        Command::Broker(_) => "info",
        _ => "warn",
    };
    init_logging(cli.log_level.as_deref().unwrap_or(default_level));
    let result = match cli.command {
        Command::Broker(args) => commands::broker::run(args),
        Command::Topic(args) => commands::topic::run(args),
        Command::Group(args) => commands::group::run(args),
        Command::Produce(args) => commands::produce::run(args),
        Command::Consume(args) => commands::consume::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Cluster(args) => commands::cluster::run(args),
        Command::Verify(args) => return commands::verify::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln_error(&error);
            ExitCode::FAILURE
        }
    }
}

/// One line on stderr, so the reason is visible even with logging filtered out.
#[allow(clippy::print_stderr)]
fn eprintln_error(error: &anyhow::Error) {
    eprintln!("error: {error:#}");
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal; log files and pipes get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

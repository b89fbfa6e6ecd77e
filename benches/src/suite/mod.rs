//! `sluice bench all`: the standard suite of issue 6, run against a broker
//! it starts itself (or any `--bootstrap-server`) and, side by side, a
//! single-node Apache Kafka, with the machine's limits measured in the same
//! run so every figure is also a fraction of what the hardware allows.
//!
//! | module | concept |
//! |---|---|
//! | `workloads` | [`Workload`]: the standard runs and their engine settings |
//! | `limits` | [`MachineLimits`]: loopback TCP (iperf3) and page-cache write bandwidth |
//! | `cpu` | [`CpuShare`]: how busy the CPUs were during a run, and the hypervisor's steal |
//! | `rss` | [`RssSampler`]: the broker's peak resident memory |
//! | `broker_process` | [`BrokerProcess`]: a `sluice broker` or Kafka child on a free port |
//! | `kafka_tools` | [`KafkaTool`]: Kafka's producer and consumer perf tools, parsed |
//! | `runner` | [`run_suite`]: limits, then each broker alone, then the targets |
//! | `results` | [`SuiteResults`]: everything measured, as JSON |
//! | `targets` | [`TargetCheck`]: the targets, pass or fail |
//! | `table` | [`SuiteTable`]: the side-by-side table, text and Markdown |
//! | `html` | [`write_suite_report`]: the table with every run's plots |

mod broker_process;
mod cpu;
mod error;
#[cfg(test)]
mod fixtures;
mod html;
mod kafka_tools;
mod limits;
mod results;
mod rss;
mod runner;
mod table;
mod targets;
mod workloads;

pub use broker_process::{BrokerKind, BrokerProcess, KAFKA_SERVER_JVM_OPTS};
pub use cpu::{CpuShare, CpuTimes, parse_proc_stat};
pub use error::{SuiteError, SuiteResult};
pub use html::{render_suite_html, write_suite_report};
pub use kafka_tools::{
    ConsumerPerf, KAFKA_TOOL_JVM_OPTS, KafkaTool, ProducerPerf, parse_consumer_perf,
    parse_producer_perf,
};
pub use limits::{Limit, MachineLimits, measure_page_cache_write};
pub use results::{BrokerResults, SuiteResults, ToolRun, WorkloadResult};
pub use rss::{RSS_SAMPLE_INTERVAL, RssPeak, RssSample, RssSampler, parse_status};
pub use runner::{ExternalBroker, SuiteConfig, run_suite};
pub use table::{
    SuiteTable, TABLE_LEGEND, build_table, render_markdown, render_text, targets_table,
};
pub use targets::{TargetCheck, Verdict, check_targets};
pub use workloads::{E2E_LINGER_MS, LimitKind, Prior, RunBase, Workload};

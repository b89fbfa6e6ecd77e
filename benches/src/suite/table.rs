//! The results table: one row per workload, per Kafka perf tool and for the
//! broker's memory; one column per broker, then the ratio of the first
//! broker to the one it is compared with and each broker's fraction of the
//! physical limit. Built once (sans-IO), rendered as text or Markdown.

use super::kafka_tools::{ConsumerPerf, ProducerPerf};
use super::results::{BrokerResults, SuiteResults, ToolRun};
use super::targets::{TargetCheck, mb_per_sec};
use super::workloads::{LimitKind, Workload};
use crate::summary::Summary;

/// Bytes in the MiB memory figures are quoted in.
const BYTES_PER_MIB: f64 = 1_048_576.0;
/// Longest error text kept in a cell.
const MAX_ERROR_CHARS: usize = 60;

/// How to read the ratio and fraction columns, printed under the table.
pub const TABLE_LEGEND: &str = "ratio: records/s of the first broker over the second's; on latency rows \
p99 over p99 (below 1 is faster); on the memory row anonymous RSS. fraction of limit: MB/s over \
the lower of loopback TCP and page-cache write bandwidth (consume: loopback TCP).";

/// The table as text cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteTable {
    /// Column titles.
    pub headers: Vec<String>,
    /// Rows, each as wide as the headers.
    pub rows: Vec<Vec<String>>,
}

/// One row's figure on one broker: the cell text, the number the ratio
/// uses, and the MB/s the fraction of limit uses.
struct Figure {
    text: String,
    value: Option<f64>,
    mb_per_sec: Option<f64>,
}

impl Figure {
    fn missing(text: String) -> Figure {
        Figure {
            text,
            value: None,
            mb_per_sec: None,
        }
    }
}

/// Builds the table of `results`.
pub fn build_table(results: &SuiteResults) -> SuiteTable {
    let brokers: Vec<&BrokerResults> = results.brokers.iter().collect();
    let comparison = results.comparison();
    let comparison_index =
        comparison.and_then(|c| brokers.iter().position(|b| std::ptr::eq(*b, c)));
    let mut headers = vec!["workload".to_owned()];
    headers.extend(brokers.iter().map(|b| b.name.clone()));
    let ratio_header = match (results.primary(), comparison) {
        (Some(primary), Some(other)) => format!("ratio {}/{}", primary.name, other.name),
        _ => "ratio".to_owned(),
    };
    headers.push(ratio_header);
    headers.push(if brokers.len() > 1 {
        let names: Vec<&str> = brokers.iter().map(|b| b.name.as_str()).collect();
        format!("fraction of limit ({})", names.join(" / "))
    } else {
        "fraction of limit".to_owned()
    });
    let mut rows = Vec::new();
    for workload in Workload::ALL {
        let figures: Vec<Figure> = brokers
            .iter()
            .map(|b| workload_figure(b, workload))
            .collect();
        let limit = match workload.limit() {
            LimitKind::TcpAndPageCache => results.limits.produce_mb_per_sec(),
            LimitKind::Tcp => results.limits.consume_mb_per_sec(),
            LimitKind::None => None,
        };
        rows.push(row(workload.title(), &figures, comparison_index, limit));
    }
    let producer_tool: Vec<Figure> = brokers
        .iter()
        .map(|b| producer_tool_figure(b.producer_perf.as_ref()))
        .collect();
    if producer_tool
        .iter()
        .any(|f| f.value.is_some() || !f.text.is_empty())
    {
        let limit = results.limits.produce_mb_per_sec();
        rows.push(row(
            "kafka-producer-perf-test 100 B, acks=1",
            &producer_tool,
            comparison_index,
            limit,
        ));
        let consumer_tool: Vec<Figure> = brokers
            .iter()
            .map(|b| consumer_tool_figure(b.consumer_perf.as_ref()))
            .collect();
        let limit = results.limits.consume_mb_per_sec();
        rows.push(row(
            "kafka-consumer-perf-test",
            &consumer_tool,
            comparison_index,
            limit,
        ));
    }
    let memory: Vec<Figure> = brokers.iter().map(|b| rss_figure(b)).collect();
    rows.push(row(
        "broker RSS max, anon (total)",
        &memory,
        comparison_index,
        None,
    ));
    SuiteTable { headers, rows }
}

fn row(
    title: &str,
    figures: &[Figure],
    comparison: Option<usize>,
    limit_mb: Option<f64>,
) -> Vec<String> {
    let mut cells = vec![title.to_owned()];
    cells.extend(figures.iter().map(|f| f.text.clone()));
    let ratio = comparison
        .filter(|index| *index > 0)
        .and_then(|index| figures.first()?.value.zip(figures.get(index)?.value))
        .filter(|(_, theirs)| *theirs > 0.0)
        .map_or_else(
            || "-".to_owned(),
            |(ours, theirs)| ratio_text(ours / theirs),
        );
    cells.push(ratio);
    let fractions: Vec<String> = figures
        .iter()
        .map(|f| match (f.mb_per_sec, limit_mb) {
            (Some(mb), Some(limit)) if limit > 0.0 => format!("{:.1}%", mb / limit * 100.0),
            _ => "-".to_owned(),
        })
        .collect();
    cells.push(if fractions.iter().all(|f| f == "-") {
        "-".to_owned()
    } else {
        fractions.join(" / ")
    });
    cells
}

/// `2.57x`; small ratios keep three decimals so they do not read as zero.
fn ratio_text(ratio: f64) -> String {
    if ratio < 0.1 {
        format!("{ratio:.3}x")
    } else {
        format!("{ratio:.2}x")
    }
}

fn workload_figure(broker: &BrokerResults, workload: Workload) -> Figure {
    if broker.error.is_some() {
        return Figure::missing("broker failed".to_owned());
    }
    let Some(result) = broker.workload(workload) else {
        return Figure::missing("-".to_owned());
    };
    match (&result.summary, &result.error) {
        (Some(summary), _) if workload.is_latency() => latency_figure(summary),
        (Some(summary), _) => Figure {
            text: format!(
                "{} rec/s, {:.1} MB/s",
                grouped(summary.records_per_sec),
                summary.mb_per_sec
            ),
            value: Some(summary.records_per_sec),
            mb_per_sec: Some(summary.mb_per_sec),
        },
        (None, error) => Figure::missing(short_error(error.as_deref().unwrap_or("no result"))),
    }
}

/// Latency rows compare p99: a ratio below 1 means the first broker is faster.
fn latency_figure(summary: &Summary) -> Figure {
    let Some(latency) = &summary.latency else {
        return Figure::missing("no latency".to_owned());
    };
    let ms = |micros: u64| micros as f64 / 1000.0;
    Figure {
        text: format!(
            "p99 {:.2} / p99.9 {:.2} / max {:.2} ms @ {} rec/s",
            ms(latency.p99_us),
            ms(latency.p999_us),
            ms(latency.max_us),
            grouped(summary.records_per_sec)
        ),
        value: Some(latency.p99_us as f64),
        mb_per_sec: None,
    }
}

fn producer_tool_figure(run: Option<&ToolRun<ProducerPerf>>) -> Figure {
    match run {
        None => Figure::missing(String::new()),
        Some(ToolRun {
            result: Some(perf), ..
        }) => Figure {
            text: format!(
                "{} rec/s, p99 {:.0} ms",
                grouped(perf.records_per_sec),
                perf.p99_ms
            ),
            value: Some(perf.records_per_sec),
            mb_per_sec: Some(mb_per_sec(perf.records_per_sec, 100)),
        },
        Some(ToolRun { error, .. }) => {
            Figure::missing(short_error(error.as_deref().unwrap_or("failed")))
        }
    }
}

fn consumer_tool_figure(run: Option<&ToolRun<ConsumerPerf>>) -> Figure {
    match run {
        None => Figure::missing("-".to_owned()),
        Some(ToolRun {
            result: Some(perf), ..
        }) => Figure {
            text: format!("{} rec/s", grouped(perf.fetch_records_per_sec)),
            value: Some(perf.fetch_records_per_sec),
            mb_per_sec: Some(mb_per_sec(perf.fetch_records_per_sec, 100)),
        },
        Some(ToolRun { error, .. }) => {
            Figure::missing(short_error(error.as_deref().unwrap_or("failed")))
        }
    }
}

fn rss_figure(broker: &BrokerResults) -> Figure {
    match broker.rss {
        Some(rss) => Figure {
            text: format!(
                "{:.1} MiB ({:.1} MiB)",
                rss.max_anon_bytes as f64 / BYTES_PER_MIB,
                rss.max_rss_bytes as f64 / BYTES_PER_MIB
            ),
            value: Some(rss.max_anon_bytes as f64),
            mb_per_sec: None,
        },
        None => Figure::missing("not measured".to_owned()),
    }
}

fn short_error(error: &str) -> String {
    let first_line = error.lines().next().unwrap_or(error);
    let mut text: String = first_line.chars().take(MAX_ERROR_CHARS).collect();
    if first_line.chars().count() > MAX_ERROR_CHARS {
        text.push('…');
    }
    format!("failed: {text}")
}

/// `1234567.8` as `1,234,568`.
pub fn grouped(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The table with aligned columns separated by ` | `, for the terminal.
pub fn render_text(table: &SuiteTable) -> String {
    let widths: Vec<usize> = (0..table.headers.len())
        .map(|column| {
            std::iter::once(&table.headers)
                .chain(&table.rows)
                .map(|row| row.get(column).map_or(0, |cell| cell.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = widths
            .iter()
            .enumerate()
            .map(|(column, width)| {
                let cell = cells.get(column).map_or("", String::as_str);
                format!("{cell:<width$}")
            })
            .collect();
        padded.join(" | ").trim_end().to_owned()
    };
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    let mut out = vec![line(&table.headers), rule.join("-+-")];
    out.extend(table.rows.iter().map(|row| line(row)));
    out.join("\n") + "\n"
}

/// The table as GitHub-flavoured Markdown, for the README.
pub fn render_markdown(table: &SuiteTable) -> String {
    let line = |cells: &[String]| {
        let escaped: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
        format!("| {} |", escaped.join(" | "))
    };
    let mut out = vec![line(&table.headers)];
    let mut align = vec!["---".to_owned()];
    align.extend(std::iter::repeat_n(
        "---:".to_owned(),
        table.headers.len() - 1,
    ));
    out.push(format!("|{}|", align.join("|")));
    out.extend(table.rows.iter().map(|row| line(row)));
    out.join("\n") + "\n"
}

/// The targets as a table: target, measured, verdict.
pub fn targets_table(checks: &[TargetCheck]) -> SuiteTable {
    SuiteTable {
        headers: vec![
            "target".to_owned(),
            "measured".to_owned(),
            "verdict".to_owned(),
        ],
        rows: checks
            .iter()
            .map(|c| {
                vec![
                    c.target.clone(),
                    c.measured.clone(),
                    c.verdict.as_str().to_owned(),
                ]
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::fixtures::{broker, results};

    #[test]
    fn table_has_a_column_per_broker_and_the_ratio_against_kafka() {
        let table = build_table(&results(vec![
            broker("sluice", 1_000_000.0),
            broker("kafka", 400_000.0),
        ]));
        assert_eq!(
            table.headers[1..3],
            ["sluice".to_owned(), "kafka".to_owned()]
        );
        assert_eq!(table.headers[3], "ratio sluice/kafka");
        let peak = &table.rows[0];
        assert_eq!(peak[1], "1,000,000 rec/s, 100.0 MB/s");
        assert_eq!(peak[3], "2.50x");
        assert_eq!(peak[4], "10.0% / 4.0%");
        assert_eq!(table.headers[4], "fraction of limit (sluice / kafka)");
    }

    #[test]
    fn table_has_a_row_per_workload_and_one_for_memory() {
        let table = build_table(&results(vec![broker("sluice", 10.0)]));
        assert_eq!(table.rows.len(), Workload::ALL.len() + 1);
        assert!(
            table
                .rows
                .iter()
                .all(|row| row.len() == table.headers.len())
        );
        let memory = table.rows.last().expect("a memory row");
        assert_eq!(memory[1], "100.0 MiB (300.0 MiB)");
    }

    #[test]
    fn workloads_that_did_not_run_show_a_dash() {
        let table = build_table(&results(vec![broker("sluice", 10.0)]));
        let acks_all = &table.rows[1];
        assert_eq!(acks_all[1], "-");
        assert_eq!(acks_all[2], "-");
    }

    #[test]
    fn markdown_table_has_a_header_rule_and_escapes_pipes() {
        let table = SuiteTable {
            headers: vec!["a".to_owned(), "b".to_owned()],
            rows: vec![vec!["x|y".to_owned(), "1".to_owned()]],
        };
        let markdown = render_markdown(&table);
        assert_eq!(markdown, "| a | b |\n|---|---:|\n| x\\|y | 1 |\n");
    }

    #[test]
    fn small_ratios_keep_three_decimals() {
        assert_eq!(ratio_text(0.004_88), "0.005x");
        assert_eq!(ratio_text(2.571), "2.57x");
    }

    #[test]
    fn large_numbers_are_grouped_by_thousands() {
        assert_eq!(grouped(1_234_567.8), "1,234,568");
        assert_eq!(grouped(999.0), "999");
        assert_eq!(grouped(0.0), "0");
    }
}

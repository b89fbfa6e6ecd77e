//! The suite's report: one self-contained HTML page (no scripts, nothing
//! fetched) with the results table, the targets, the machine's limits and
//! the plots of every run, drawn by the single-run report's
//! [`render_svg`](crate::render_svg). With an `.svg` path, only the plots of
//! the first broker's peak run.

use std::path::Path;

use super::error::{SuiteError, SuiteResult};
use super::results::SuiteResults;
use super::table::{SuiteTable, TABLE_LEGEND, build_table, targets_table};
use super::workloads::Workload;
use crate::report::render_svg;
use crate::summary::settings_line;

/// Writes the report to `path`: HTML, or SVG when it ends in `.svg`.
///
/// # Errors
/// A plot cannot be drawn or the file cannot be written.
pub fn write_suite_report(results: &SuiteResults, path: &Path) -> SuiteResult<()> {
    let is_svg = path
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("svg"));
    let text = if is_svg {
        let peak = results
            .primary()
            .and_then(|broker| broker.summary(Workload::Produce100Acks1))
            .ok_or_else(|| {
                SuiteError::Settings("no peak run to plot in an SVG report".to_owned())
            })?;
        render_svg(peak)?
    } else {
        render_suite_html(results)?
    };
    std::fs::write(path, text).map_err(|source| SuiteError::Output {
        path: path.to_owned(),
        source,
    })
}

/// The HTML page.
///
/// # Errors
/// A plot cannot be drawn.
pub fn render_suite_html(results: &SuiteResults) -> SuiteResult<String> {
    let mut body = String::new();
    body.push_str("<h1>sluice bench all</h1>\n");
    body.push_str(&format!(
        "<p>{} ms per run, {} partition(s), batch.size {}, linger.ms {}</p>\n",
        results.duration_per_run_ms, results.partitions, results.batch_size, results.linger_ms
    ));
    body.push_str("<h2>Results</h2>\n");
    body.push_str(&html_table(&build_table(results)));
    body.push_str(&format!("<p>{}</p>\n", escape(TABLE_LEGEND)));
    body.push_str("<h2>Targets</h2>\n");
    body.push_str(&html_table(&targets_table(&results.targets)));
    body.push_str("<h2>Machine limits</h2>\n<ul>\n");
    for (name, limit) in [
        ("loopback TCP", &results.limits.loopback_tcp),
        ("page-cache write", &results.limits.page_cache_write),
    ] {
        let figure = limit
            .mb_per_sec
            .map_or_else(|| "-".to_owned(), |mb| format!("{mb:.0} MB/s"));
        body.push_str(&format!(
            "<li>{name}: {figure} ({})</li>\n",
            escape(&limit.note)
        ));
    }
    body.push_str("</ul>\n");
    for note in &results.notes {
        body.push_str(&format!("<p>{}</p>\n", escape(note)));
    }
    for broker in &results.brokers {
        body.push_str(&format!("<h2>{} runs</h2>\n", escape(&broker.name)));
        for result in &broker.workloads {
            body.push_str(&format!("<h3>{}</h3>\n", escape(&result.title)));
            match &result.summary {
                Some(summary) => {
                    body.push_str(&format!(
                        "<p><code>{}</code></p>\n{}\n",
                        escape(&settings_line(&summary.settings)),
                        render_svg(summary)?
                    ));
                }
                None => body.push_str(&format!(
                    "<p>{}</p>\n",
                    escape(result.error.as_deref().unwrap_or("no result"))
                )),
            }
        }
    }
    Ok(format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>sluice bench all</title>\n\
         <style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 12px;text-align:right;\
         border-bottom:1px solid #ddd}}td:first-child,th:first-child{{text-align:left}}\
         table{{border-collapse:collapse}}code{{font-size:90%}}</style></head><body>\n\
         {body}</body></html>\n"
    ))
}

fn html_table(table: &SuiteTable) -> String {
    let cells = |row: &[String], tag: &str| -> String {
        row.iter()
            .map(|cell| format!("<{tag}>{}</{tag}>", escape(cell)))
            .collect()
    };
    let mut out = format!("<table>\n<tr>{}</tr>\n", cells(&table.headers, "th"));
    for row in &table.rows {
        out.push_str(&format!("<tr>{}</tr>\n", cells(row, "td")));
    }
    out.push_str("</table>\n");
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::fixtures::{broker, results};

    #[test]
    fn html_report_has_the_table_and_a_plot_per_run_without_scripts() {
        let html = render_suite_html(&results(vec![
            broker("sluice", 1000.0),
            broker("kafka", 500.0),
        ]))
        .expect("fixtures can be drawn");
        assert!(html.contains("<th>ratio sluice/kafka</th>"));
        assert_eq!(
            html.matches("<svg").count(),
            4,
            "two runs on each of two brokers"
        );
        assert!(!html.contains("<script"));
    }
}

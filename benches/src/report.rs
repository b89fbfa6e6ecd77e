//! The report: throughput over time and the latency distribution, drawn by
//! `plotters` as SVG (text is SVG `<text>`, so no font files are needed),
//! alone or inside a self-contained HTML page with the summary table (no
//! JavaScript, nothing fetched from the network).

use std::path::Path;

use plotters::prelude::*;

use crate::error::{BenchError, Result};
use crate::summary::{LatencySummary, Summary, settings_line};

/// Report size in pixels: two stacked charts.
const WIDTH: u32 = 960;
const HEIGHT: u32 = 760;
/// The distribution chart's x axis ends at five nines (99.999%).
const MAX_NINES: f64 = 5.0;

/// Writes the report for `summary` to `path`: SVG when it ends in `.svg`,
/// HTML otherwise.
///
/// # Errors
/// [`BenchError::Plot`] when drawing fails, [`BenchError::Output`] when the
/// file cannot be written.
pub fn write_report(summary: &Summary, path: &Path) -> Result<()> {
    let is_svg = path
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("svg"));
    let text = if is_svg {
        render_svg(summary)?
    } else {
        render_html(summary)?
    };
    std::fs::write(path, text).map_err(|source| BenchError::Output {
        path: path.to_owned(),
        source,
    })
}

/// A self-contained HTML page: the summary, the settings and the plots.
///
/// # Errors
/// [`BenchError::Plot`] when drawing fails.
pub fn render_html(summary: &Summary) -> Result<String> {
    let svg = render_svg(summary)?;
    let latency_rows = summary
        .latency
        .as_ref()
        .map_or_else(String::new, latency_rows);
    Ok(format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>sluice bench {mode} {topic}</title>\n\
         <style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 12px;text-align:right}}\
         th{{text-align:left}}code{{font-size:90%}}</style></head><body>\n\
         <h1>sluice bench {mode}: {topic}</h1>\n<table>\n\
         <tr><th>records</th><td>{records}</td></tr>\n\
         <tr><th>elapsed</th><td>{elapsed:.2} s</td></tr>\n\
         <tr><th>records/s</th><td>{rate:.0}</td></tr>\n\
         <tr><th>MB/s</th><td>{mb:.2}</td></tr>\n\
         <tr><th>errors</th><td>{errors}</td></tr>\n{latency_rows}</table>\n\
         <p><code>{settings}</code></p>\n{svg}\n</body></html>\n",
        mode = summary.settings.mode.as_str(),
        topic = escape(&summary.settings.topic),
        records = summary.records,
        elapsed = summary.elapsed_secs,
        rate = summary.records_per_sec,
        mb = summary.mb_per_sec,
        errors = summary.errors,
        settings = escape(&settings_line(&summary.settings)),
    ))
}

fn latency_rows(latency: &LatencySummary) -> String {
    [
        ("latency avg", latency.avg_us),
        ("latency p50", latency.p50_us as f64),
        ("latency p99", latency.p99_us as f64),
        ("latency p99.9", latency.p999_us as f64),
        ("latency p99.99", latency.p9999_us as f64),
        ("latency max", latency.max_us as f64),
    ]
    .iter()
    .map(|(name, micros)| {
        format!(
            "<tr><th>{name}</th><td>{:.3} ms</td></tr>\n",
            micros / 1000.0
        )
    })
    .collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Both charts as one SVG document.
///
/// # Errors
/// [`BenchError::Plot`] when drawing fails.
pub fn render_svg(summary: &Summary) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let (top, bottom) = root.split_vertically(HEIGHT / 2);
        draw_throughput(&top, summary)?;
        draw_latency(&bottom, summary.latency.as_ref())?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

fn plot_error(error: impl std::fmt::Display) -> BenchError {
    BenchError::Plot(error.to_string())
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn draw_throughput(area: &Area<'_>, summary: &Summary) -> Result<()> {
    let points: Vec<(f64, f64)> = summary
        .time_series
        .iter()
        .map(|point| (point.elapsed_secs, point.records_per_sec))
        .collect();
    let max_x = points.iter().map(|p| p.0).fold(1.0, f64::max);
    let max_y = points.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption("Throughput over time", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..max_x, 0.0..max_y)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("records/s")
        .y_label_formatter(&|value| format!("{value:.0}"))
        .draw()
        .map_err(plot_error)?;
    chart
        .draw_series(LineSeries::new(points, BLUE.stroke_width(2)))
        .map_err(plot_error)?;
    Ok(())
}

/// Latency by percentile on a "nines" axis (0 = p0, 2 = p99, 3 = p99.9),
/// the usual HdrHistogram view where the tail gets as much room as the body.
fn draw_latency(area: &Area<'_>, latency: Option<&LatencySummary>) -> Result<()> {
    let points: Vec<(f64, f64)> = latency.map_or_else(Vec::new, |latency| {
        latency
            .percentiles
            .iter()
            .map(|point| (nines(point.percentile), point.latency_us as f64 / 1000.0))
            .collect()
    });
    let max_y = points.iter().map(|p| p.1).fold(0.001, f64::max) * 1.1;
    let caption = if latency.is_some() {
        "Latency distribution"
    } else {
        "Latency distribution (not measured in this mode)"
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..MAX_NINES, 0.0..max_y)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .x_labels(6)
        .x_label_formatter(&|x| format!("{}%", percentile_label(*x)))
        .draw()
        .map_err(plot_error)?;
    chart
        .draw_series(LineSeries::new(points, RED.stroke_width(2)))
        .map_err(plot_error)?;
    Ok(())
}

/// Percentile to nines: 90 -> 1, 99 -> 2, 99.9 -> 3; 100 is drawn at the axis end.
fn nines(percentile: f64) -> f64 {
    let remaining = 1.0 - percentile / 100.0;
    if remaining <= 0.0 {
        MAX_NINES
    } else {
        (-remaining.log10()).min(MAX_NINES)
    }
}

fn percentile_label(nines: f64) -> String {
    let percentile = 100.0 - 100.0 * 10f64.powf(-nines);
    let text = format!("{percentile:.5}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::recorder::Recorder;

    fn summary(with_latency: bool) -> Summary {
        let mut recorder = Recorder::new(Duration::from_secs(1));
        for millis in 0..3_000 {
            let latency = with_latency.then(|| Duration::from_micros(500 + millis));
            recorder.record(Duration::from_millis(millis), 100, latency);
        }
        recorder.finish(Duration::from_secs(3), crate::settings::example())
    }

    #[test]
    fn svg_report_draws_both_charts() {
        let svg = render_svg(&summary(true)).expect("a summary can be drawn");
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("Throughput over time"));
        assert!(svg.contains("Latency distribution"));
        assert!(svg.matches("<polyline").count() >= 2, "one line per chart");
    }

    #[test]
    fn html_report_embeds_the_plots_and_the_settings_without_scripts() {
        let html = render_html(&summary(false)).expect("a summary can be drawn");
        assert!(html.contains("<svg"));
        assert!(html.contains("acks=1"));
        assert!(html.contains("not measured in this mode"));
        assert!(!html.contains("<script"));
    }

    #[test]
    fn nines_axis_gives_the_tail_equal_room() {
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
        assert!((nines(100.0) - MAX_NINES).abs() < 1e-9);
        assert_eq!(percentile_label(2.0), "99");
        assert_eq!(percentile_label(0.0), "0");
    }
}

//! How commands print: aligned tables like Kafka's tools, written to any
//! `Write` so formatting is testable without a terminal.

use std::io::{self, IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A spinner line with a message on stderr, drawn only when stderr is a
/// terminal (the live progress of `bench` and `verify`).
pub fn spinner() -> ProgressBar {
    let target = if io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(None, target);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar
}

/// A table printed with left-aligned columns separated by two spaces, the
/// layout of `kafka-consumer-groups --describe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; missing cells print empty, extra cells are an
    /// invariant violation caught in debug builds.
    pub fn push(&mut self, row: Vec<String>) {
        debug_assert!(row.len() <= self.headers.len(), "row wider than the table");
        self.rows.push(row);
    }

    /// Writes the header line and every row.
    ///
    /// # Errors
    /// I/O errors of `out`.
    pub fn write_to(&self, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
        let widths = self.widths();
        write_row(out, &self.headers, &widths)?;
        for row in &self.rows {
            write_row(out, row, &widths)?;
        }
        Ok(())
    }

    fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        widths
    }
}

fn write_row(
    out: &mut (impl Write + ?Sized),
    cells: &[String],
    widths: &[usize],
) -> io::Result<()> {
    let mut line = String::new();
    for (index, width) in widths.iter().enumerate() {
        let cell = cells.get(index).map_or("", String::as_str);
        if index + 1 == widths.len() {
            line.push_str(cell);
        } else {
            line.push_str(&format!("{cell:<width$}  "));
        }
    }
    writeln!(out, "{}", line.trim_end())
}

/// A cell for an optional number: the number, or `-` as Kafka's tools print.
pub fn or_dash(value: Option<i64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// Runs `print` against stdout; a closed pipe (`sluice ... | head`) ends the
/// output quietly instead of failing the command.
///
/// # Errors
/// Any other I/O error writing stdout.
pub fn to_stdout(print: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match print(&mut out).and_then(|()| out.flush()) {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(table: &Table) -> String {
        let mut out = Vec::new();
        table
            .write_to(&mut out)
            .expect("writing to a Vec cannot fail");
        String::from_utf8(out).expect("the table is built from Strings")
    }

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let mut table = Table::new(&["GROUP", "LAG"]);
        table.push(vec!["a-long-group".to_owned(), "5".to_owned()]);
        table.push(vec!["g".to_owned(), "12".to_owned()]);
        assert_eq!(
            render(&table),
            "GROUP         LAG\na-long-group  5\ng             12\n"
        );
    }

    #[test]
    fn missing_cells_print_empty_without_trailing_spaces() {
        let mut table = Table::new(&["A", "B", "C"]);
        table.push(vec!["x".to_owned()]);
        assert_eq!(render(&table), "A  B  C\nx\n");
    }

    #[test]
    fn unknown_numbers_print_as_a_dash() {
        assert_eq!(or_dash(None), "-");
        assert_eq!(or_dash(Some(7)), "7");
    }
}

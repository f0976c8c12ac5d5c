//! Human tables (80 columns, `NO_COLOR`) and JSON (the console API's wire types, unchanged).

use super::exit::{CliError, CliResult};
use crate::tui::text::{sanitize, truncate, width};
use serde::Serialize;
use std::io::{IsTerminal, Write};
use time::OffsetDateTime;

/// `--output table|json` on every read command.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct OutputArgs {
    /// Output format: a table for people, or the console API's JSON for scripts.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

impl OutputArgs {
    pub fn json(&self) -> bool {
        self.output == Format::Json
    }
}

/// The width every table fits.
pub const WIDTH: usize = 80;

/// Colour only on a terminal, and never when `NO_COLOR` is set to anything non-empty.
pub fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// The same for stderr (errors, panics, `serve` logs): a pipe or a log file gets no ANSI codes.
pub fn stderr_color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Pretty JSON on stdout, one document per command.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> CliResult<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)
        .map_err(|e| CliError::failure(format!("writing JSON: {e}")))?;
    writeln!(out).map_err(|e| CliError::io("writing to stdout", e))
}

/// Writes lines to stdout; a closed pipe (`| head`) ends the command quietly.
pub fn print_lines(lines: &[String]) -> CliResult<()> {
    let mut out = std::io::stdout().lock();
    for line in lines {
        if let Err(e) = writeln!(out, "{line}") {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(());
            }
            return Err(CliError::io("writing to stdout", e));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Good,
    Warn,
    Bad,
    Dim,
}

impl Tone {
    fn sgr(self) -> Option<&'static str> {
        match self {
            Tone::Plain => None,
            Tone::Good => Some("32"),
            Tone::Warn => Some("33"),
            Tone::Bad => Some("31"),
            Tone::Dim => Some("2"),
        }
    }
}

/// One table cell: server text is sanitised when the cell is made.
#[derive(Debug, Clone)]
pub struct Cell {
    text: String,
    tone: Tone,
}

impl Cell {
    pub fn new(text: impl AsRef<str>) -> Self {
        Cell {
            text: sanitize(text.as_ref(), false),
            tone: Tone::Plain,
        }
    }

    pub fn tone(mut self, tone: Tone) -> Self {
        self.tone = tone;
        self
    }
}

impl<T: AsRef<str>> From<T> for Cell {
    fn from(t: T) -> Self {
        Cell::new(t)
    }
}

/// A column: its header, and how wide it may grow before it is cut with `…`. The columns with
/// `flex` share whatever the fixed ones leave of [`WIDTH`].
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub header: &'static str,
    pub max: usize,
    pub flex: bool,
}

pub const fn col(header: &'static str, max: usize) -> Column {
    Column {
        header,
        max,
        flex: false,
    }
}

pub const fn flex(header: &'static str, max: usize) -> Column {
    Column {
        header,
        max,
        flex: true,
    }
}

/// Renders rows under headers, every line at most `total` cells wide.
pub fn table(columns: &[Column], rows: &[Vec<Cell>], total: usize, color: bool) -> Vec<String> {
    const GAP: usize = 2;
    let mut widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let widest = rows
                .iter()
                .map(|r| r.get(i).map_or(0, |c| width(&c.text)))
                .max()
                .unwrap_or(0);
            widest.max(width(c.header)).min(c.max)
        })
        .collect();
    let budget = total.saturating_sub(GAP * columns.len().saturating_sub(1));
    // Shrink flexible columns first (widest first), then any column, until the row fits.
    while widths.iter().sum::<usize>() > budget {
        let pick = |flex_only: bool| {
            widths
                .iter()
                .enumerate()
                .filter(|(i, w)| (!flex_only || columns[*i].flex) && **w > 4)
                .max_by_key(|(_, w)| **w)
                .map(|(i, _)| i)
        };
        match pick(true).or_else(|| pick(false)) {
            Some(i) => widths[i] -= 1,
            None => break,
        }
    }
    let render = |cells: Vec<(String, Tone)>, bold: bool| {
        let last = cells.len().saturating_sub(1);
        let mut line = String::new();
        for (i, (text, tone)) in cells.into_iter().enumerate() {
            let cut = truncate(&text, widths[i]);
            let pad = if i == last {
                0
            } else {
                widths[i] - width(&cut) + GAP
            };
            let sgr = if bold { Some("1") } else { tone.sgr() };
            match sgr {
                Some(code) if color => line.push_str(&format!("\x1b[{code}m{cut}\x1b[0m")),
                _ => line.push_str(&cut),
            }
            line.extend(std::iter::repeat_n(' ', pad));
        }
        line.trim_end().to_owned()
    };
    let mut lines = vec![render(
        columns
            .iter()
            .map(|c| (c.header.to_owned(), Tone::Plain))
            .collect(),
        true,
    )];
    for row in rows {
        lines.push(render(
            (0..columns.len())
                .map(|i| {
                    row.get(i)
                        .map_or((String::new(), Tone::Plain), |c| (c.text.clone(), c.tone))
                })
                .collect(),
            false,
        ));
    }
    lines
}

/// `label  value` pairs for one object (`apps show`, `token status`), values cut to fit.
pub fn details(pairs: &[(&str, Cell)], total: usize, color: bool) -> Vec<String> {
    let label = pairs.iter().map(|(l, _)| width(l)).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(l, v)| {
            let cut = truncate(&v.text, total.saturating_sub(label + 2));
            let value = match v.tone.sgr() {
                Some(code) if color => format!("\x1b[{code}m{cut}\x1b[0m"),
                _ => cut,
            };
            let pad = " ".repeat(label - width(l) + 2);
            format!("{l}{pad}{value}").trim_end().to_owned()
        })
        .collect()
}

/// `2026-11-27 09:00` in UTC: what a table shows.
pub fn when(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// How long until `t`, coarse: `89d`, `5h`, `12m`, or `expired`.
pub fn left(t: OffsetDateTime, now: OffsetDateTime) -> String {
    let d = t - now;
    if d <= time::Duration::ZERO {
        "expired".into()
    } else if d >= time::Duration::days(2) {
        format!("{}d", d.whole_days())
    } else if d >= time::Duration::hours(2) {
        format!("{}h", d.whole_hours())
    } else {
        format!("{}m", d.whole_minutes().max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_fit_eighty_columns_and_cut_long_names() {
        let cols = [
            flex("NAME", 40),
            col("CLIENT ID", 26),
            col("SCIM", 3),
            col("TOKEN", 8),
            col("EXPIRES", 16),
        ];
        let long = "プロビジョニング".repeat(10);
        let rows = vec![
            vec![
                Cell::new(&long),
                Cell::new("c".repeat(40)),
                Cell::new("on"),
                Cell::new("active").tone(Tone::Good),
                Cell::new("2026-11-27 09:00"),
            ],
            vec![Cell::new("evil\x1b[2Jname")],
        ];
        for color in [false, true] {
            let lines = table(&cols, &rows, WIDTH, color);
            assert_eq!(lines.len(), 3);
            for line in &lines {
                let visible = if color { strip(line) } else { line.clone() };
                assert!(
                    width(&visible) <= WIDTH,
                    "{visible:?} is {} wide",
                    width(&visible)
                );
            }
            assert!(lines[1].contains('…'));
            assert!(!lines[2].contains('\x1b') || color);
            assert!(strip(&lines[2]).contains("evil\\x1b[2Jname"));
        }
        let plain = table(&cols, &rows, WIDTH, false);
        assert!(
            plain.iter().all(|l| !l.contains('\x1b')),
            "no colour without a terminal"
        );
        assert!(table(&cols, &rows, WIDTH, true)[0].starts_with("\x1b[1m"));
    }

    fn strip(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for n in chars.by_ref() {
                    if n == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn time_left_is_coarse() {
        let now = time::macros::datetime!(2026-11-27 09:00 UTC);
        assert_eq!(left(now + time::Duration::days(89), now), "89d");
        assert_eq!(left(now + time::Duration::hours(5), now), "5h");
        assert_eq!(left(now + time::Duration::seconds(5), now), "1m");
        assert_eq!(left(now - time::Duration::seconds(5), now), "expired");
        assert_eq!(when(now), "2026-11-27 09:00");
    }
}

//! How the command speaks: tables on stdout, JSON with `--json`, progress bars on
//! stderr only when it is a terminal, and failures as one line with an exit status.
//! Writing to a closed pipe (`annal dump DIR | head`) ends the command quietly.

use std::fmt::Display;
use std::io::{self, IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Exit status for an error: the command could not do what was asked.
pub const EXIT_ERROR: u8 = 1;
/// Exit status for damage found (`verify`), or a store `stat` or `dump` found damaged.
pub const EXIT_DAMAGE: u8 = 3;

/// Why a command did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// It could not do what was asked (the message says why).
    Error(String),
    /// It did its work and found damage (the message sums it up).
    Damage(String),
    /// Stdout was closed by the reader: not a failure of the command.
    BrokenPipe,
}

/// A command's result.
pub type Outcome = Result<(), Failure>;

impl From<annal::Error> for Failure {
    fn from(error: annal::Error) -> Failure {
        Failure::Error(error.to_string())
    }
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Failure {
        if error.kind() == io::ErrorKind::BrokenPipe {
            Failure::BrokenPipe
        } else {
            Failure::Error(error.to_string())
        }
    }
}

impl From<serde_json::Error> for Failure {
    fn from(error: serde_json::Error) -> Failure {
        Failure::Error(error.to_string())
    }
}

/// A failure with a message.
pub fn error(message: impl Display) -> Failure {
    Failure::Error(message.to_string())
}

/// Prints `annal: <message>` on stderr, on one line.
pub fn error_line(message: &str) {
    let line = message.replace('\n', " ");
    let _ = writeln!(io::stderr(), "annal: {line}");
}

/// Prints a warning on stderr, on one line.
pub fn warning(message: &str) {
    let _ = writeln!(io::stderr(), "annal: warning: {message}");
}

/// Buffered stdout whose errors become [`Failure`]s.
pub struct Out {
    inner: io::BufWriter<io::StdoutLock<'static>>,
}

impl Out {
    /// Stdout, buffered.
    pub fn new() -> Out {
        Out {
            inner: io::BufWriter::new(io::stdout().lock()),
        }
    }

    /// Writes one line.
    pub fn line(&mut self, text: impl Display) -> Outcome {
        writeln!(self.inner, "{text}")?;
        Ok(())
    }

    /// Writes a JSON value, pretty, on its own lines.
    pub fn json(&mut self, value: &serde_json::Value) -> Outcome {
        serde_json::to_writer_pretty(&mut self.inner, value)?;
        writeln!(self.inner)?;
        Ok(())
    }

    /// Writes a JSON value on one line (a stream of events).
    pub fn json_line(&mut self, value: &serde_json::Value) -> Outcome {
        serde_json::to_writer(&mut self.inner, value)?;
        writeln!(self.inner)?;
        Ok(())
    }

    /// Writes a table: a header row and rows, columns padded to their widest cell.
    pub fn table(&mut self, header: &[&str], rows: &[Vec<String>]) -> Outcome {
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for row in rows {
            for (k, cell) in row.iter().enumerate() {
                if let Some(width) = widths.get_mut(k) {
                    *width = (*width).max(cell.chars().count());
                }
            }
        }
        let render = |cells: &mut dyn Iterator<Item = &str>| {
            let mut line = String::new();
            for (k, cell) in cells.enumerate() {
                if k > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                let pad = widths[k].saturating_sub(cell.chars().count());
                if k + 1 < widths.len() {
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            line.trim_end().to_owned()
        };
        self.line(render(&mut header.iter().copied()))?;
        for row in rows {
            self.line(render(&mut row.iter().map(String::as_str)))?;
        }
        Ok(())
    }

    /// Writes what is buffered (a live command does after each event).
    pub fn flush(&mut self) -> Outcome {
        self.inner.flush()?;
        Ok(())
    }
}

/// A progress bar of `total` units on stderr, hidden unless stderr is a terminal.
pub fn progress_bar(total: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), draw_target());
    let style = ProgressStyle::with_template("{msg} [{bar:40}] {percent}% ({eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(message.to_owned());
    bar
}

fn draw_target() -> ProgressDrawTarget {
    if io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

/// Bytes as a short human figure (`12.3 MiB`).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Nanoseconds since the Unix epoch as a UTC time (`2026-12-05T08:41:38.123456789Z`).
pub fn utc_time(ns: u64) -> String {
    let seconds = ns / 1_000_000_000;
    let nanos = ns % 1_000_000_000;
    let days = (seconds / 86_400) as i64;
    let in_day = seconds % 86_400;
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        in_day / 3_600,
        in_day / 60 % 60,
        in_day % 60
    )
}

/// Bytes as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_time_formats_known_instants() {
        // Proves the civil-date conversion on the epoch, a leap day and a recent instant.
        assert_eq!(utc_time(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            utc_time(951_782_400_000_000_001),
            "2000-02-29T00:00:00.000000001Z"
        );
        assert_eq!(
            utc_time(1_796_460_069_000_000_000),
            "2026-12-05T08:41:09.000000000Z"
        );
    }

    #[test]
    fn bytes_are_short_figures() {
        // Proves the unit steps at 1024.
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(64 << 20), "64.0 MiB");
    }
}

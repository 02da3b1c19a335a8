//! Markdown tables for the interleaved comparison: printed, and written to
//! `annal-bench/<bench>.md` in the target directory so the docs can quote one run.

#![allow(clippy::print_stdout)]

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use crate::dirs::target_dir;
use crate::BenchResult;

/// A report being assembled for one bench binary.
pub struct Report {
    name: String,
    text: String,
}

impl Report {
    /// Starts the report of bench `name`.
    pub fn new(name: &str, quick: bool) -> Report {
        let mut report = Report {
            name: name.to_owned(),
            text: String::new(),
        };
        let mode = if quick {
            "quick (ANNAL_BENCH_QUICK)"
        } else {
            "full"
        };
        report.line(&format!("# {name} ({mode} mode)"));
        report.line("");
        report
    }

    /// Adds (and prints) one line.
    pub fn line(&mut self, line: &str) {
        println!("{line}");
        self.text.push_str(line);
        self.text.push('\n');
    }

    /// Adds (and prints) a table.
    pub fn table(&mut self, table: &Table) {
        for line in table.render().lines() {
            self.line(line);
        }
        self.line("");
    }

    /// Where the report file goes.
    pub fn path(&self) -> PathBuf {
        target_dir()
            .join("annal-bench")
            .join(format!("{}.md", self.name))
    }

    /// Writes the report file.
    pub fn save(&self) -> BenchResult<PathBuf> {
        let path = self.path();
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        fs::write(&path, &self.text)?;
        println!("report written to {}", path.display());
        Ok(path)
    }
}

/// A Markdown table.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as Markdown.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "| {} |", self.headers.join(" | "));
        let rule: Vec<&str> = self.headers.iter().map(|_| "---").collect();
        let _ = writeln!(out, "| {} |", rule.join(" | "));
        for row in &self.rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        out
    }
}

/// Events per second, human-sized.
pub fn fmt_rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.2} M/s", per_sec / 1e6)
    } else if per_sec >= 1e3 {
        format!("{:.1} k/s", per_sec / 1e3)
    } else {
        format!("{per_sec:.0} /s")
    }
}

/// A latency, human-sized.
pub fn fmt_duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1e3 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{us:.0} µs")
    }
}

/// A ratio.
pub fn fmt_ratio(ratio: f64) -> String {
    format!("{ratio:.2}×")
}

/// "met" or "NOT met" for a target check.
pub fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}

//! Hand-written SVG charts for the report: a line chart with categorical x and a log y
//! axis (throughput against threads, latency percentiles), and a chart of ratios as
//! horizontal bars on a log axis centred on 1×, with the range over rounds as whiskers.
//! No dependency: the charts are a few rectangles, lines and texts.

use std::fmt::Write as _;

/// One line of a [`LineChart`].
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text; also picks the colour (see [`colour_of`]).
    pub name: String,
    /// One value per x category; `None` leaves a gap.
    pub values: Vec<Option<f64>>,
    /// Dashed (references such as a ceiling or a raw file).
    pub dashed: bool,
}

/// A line chart: categorical x axis, logarithmic y axis.
#[derive(Debug, Clone)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// Caption below the plot (the x axis).
    pub x_label: String,
    /// Caption of the y axis.
    pub y_label: String,
    /// The x categories, left to right.
    pub x_categories: Vec<String>,
    /// The lines.
    pub series: Vec<Series>,
    /// Formats a y tick.
    pub y_format: fn(f64) -> String,
}

/// One bar of a [`RatioChart`].
#[derive(Debug, Clone)]
pub struct RatioBar {
    /// Row label.
    pub label: String,
    /// Median ratio.
    pub median: f64,
    /// Smallest ratio over rounds.
    pub min: f64,
    /// Largest ratio over rounds.
    pub max: f64,
}

/// Ratios as horizontal bars from 1× on a log axis.
#[derive(Debug, Clone)]
pub struct RatioChart {
    /// Title above the plot.
    pub title: String,
    /// The bars, top to bottom.
    pub bars: Vec<RatioBar>,
}

const WIDTH: f64 = 760.0;
const FONT: &str = "font-family=\"Helvetica, Arial, sans-serif\"";

/// The colour of a system, by name, so every chart draws a system the same way.
pub fn colour_of(name: &str) -> &'static str {
    match name {
        "annal" => "#1f5fbf",
        "annal-batch100" => "#6fa8ff",
        "okaywal" => "#e8741c",
        "sqlite" => "#2e9e44",
        "fjall" => "#8c4fbf",
        "raw" | "raw-prealloc" | "raw-growing" => "#6b6b6b",
        _ => "#202020",
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Tick values for a log axis covering `low..=high` (positive): 1-2-5 per decade when
/// the range spans few decades, decades only otherwise.
fn log_ticks(low: f64, high: f64) -> Vec<f64> {
    let first = low.log10().floor() as i32;
    let last = high.log10().ceil() as i32;
    let steps: &[f64] = if last - first <= 3 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let mut ticks = Vec::new();
    for exponent in first..=last {
        for step in steps {
            let tick = step * 10f64.powi(exponent);
            if tick >= low * 0.999 && tick <= high * 1.001 {
                ticks.push(tick);
            }
        }
    }
    ticks
}

/// Renders a line chart.
pub fn line_chart(chart: &LineChart) -> String {
    let (left, right, top, bottom) = (90.0, 170.0, 48.0, 64.0);
    let height = 420.0;
    let plot_w = WIDTH - left - right;
    let plot_h = height - top - bottom;
    let values: Vec<f64> = chart
        .series
        .iter()
        .flat_map(|s| s.values.iter().flatten().copied())
        .filter(|v| *v > 0.0 && v.is_finite())
        .collect();
    let (low, high) = if values.is_empty() {
        (1.0, 10.0)
    } else {
        let low = values.iter().copied().fold(f64::INFINITY, f64::min);
        let high = values.iter().copied().fold(0.0, f64::max);
        // 1-2-5 steps around the data, at least a factor of 4 tall.
        let low = nice_floor(low);
        (low, nice_ceil(high * 1.05).max(low * 4.0))
    };
    let y_of = |v: f64| top + plot_h * (1.0 - (v.log10() - low.log10()) / (high / low).log10());
    let n = chart.x_categories.len().max(1);
    let x_of = |i: usize| left + plot_w * (i as f64 + 0.5) / n as f64;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" {FONT} font-size=\"12\">"
    );
    let _ = writeln!(
        svg,
        "<rect width=\"{WIDTH}\" height=\"{height}\" fill=\"#ffffff\"/>"
    );
    let _ = writeln!(
        svg,
        "<text x=\"{left}\" y=\"26\" font-size=\"15\" font-weight=\"bold\">{}</text>",
        escape(&chart.title)
    );
    for tick in log_ticks(low, high) {
        let y = y_of(tick);
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#e4e4e4\"/>",
            left + plot_w
        );
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#444\">{}</text>",
            left - 6.0,
            y + 4.0,
            escape(&(chart.y_format)(tick))
        );
    }
    for (i, category) in chart.x_categories.iter().enumerate() {
        let x = x_of(i);
        let _ = writeln!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#f0f0f0\"/>",
            top + plot_h
        );
        let _ = writeln!(
            svg,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#444\">{}</text>",
            top + plot_h + 18.0,
            escape(category)
        );
    }
    let _ = writeln!(
        svg,
        "<rect x=\"{left}\" y=\"{top}\" width=\"{plot_w:.1}\" height=\"{plot_h:.1}\" \
         fill=\"none\" stroke=\"#999\"/>"
    );
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#222\">{}</text>",
        left + plot_w / 2.0,
        height - 18.0,
        escape(&chart.x_label)
    );
    let _ = writeln!(
        svg,
        "<text transform=\"translate(18 {:.1}) rotate(-90)\" text-anchor=\"middle\" \
         fill=\"#222\">{}</text>",
        top + plot_h / 2.0,
        escape(&chart.y_label)
    );
    for (s, series) in chart.series.iter().enumerate() {
        let colour = colour_of(&series.name);
        let width = if series.name == "annal" { 3.0 } else { 1.8 };
        let dash = if series.dashed {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        let mut path = String::new();
        let mut pen_down = false;
        for (i, value) in series.values.iter().enumerate() {
            match value {
                Some(v) if *v > 0.0 && v.is_finite() => {
                    let _ = write!(
                        path,
                        "{}{:.1},{:.1} ",
                        if pen_down { "L" } else { "M" },
                        x_of(i),
                        y_of(*v)
                    );
                    pen_down = true;
                }
                _ => pen_down = false,
            }
        }
        let _ = writeln!(
            svg,
            "<path d=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"{width}\"{dash}/>",
            path.trim_end()
        );
        for (i, value) in series.values.iter().enumerate() {
            if let Some(v) = value.filter(|v| *v > 0.0 && v.is_finite()) {
                let _ = writeln!(
                    svg,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{colour}\"><title>{}: \
                     {}</title></circle>",
                    x_of(i),
                    y_of(v),
                    escape(&series.name),
                    escape(&(chart.y_format)(v))
                );
            }
        }
        let legend_y = top + 10.0 + 20.0 * s as f64;
        let legend_x = left + plot_w + 16.0;
        let _ = writeln!(
            svg,
            "<line x1=\"{legend_x:.1}\" y1=\"{legend_y:.1}\" x2=\"{:.1}\" y2=\"{legend_y:.1}\" \
             stroke=\"{colour}\" stroke-width=\"{width}\"{dash}/>",
            legend_x + 24.0
        );
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#222\">{}</text>",
            legend_x + 30.0,
            legend_y + 4.0,
            escape(&series.name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// The largest 1-2-5 value (1, 2, 5, 10, 20, …) at or below `v` (positive).
fn nice_floor(v: f64) -> f64 {
    let decade = 10f64.powi(v.log10().floor() as i32);
    let step = [5.0, 2.0, 1.0]
        .into_iter()
        .find(|step| step * decade <= v * 1.000_001)
        .unwrap_or(1.0);
    step * decade
}

/// The smallest 1-2-5 value at or above `v` (positive).
fn nice_ceil(v: f64) -> f64 {
    let decade = 10f64.powi(v.log10().floor() as i32);
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .find(|step| step * decade >= v * 0.999_999)
        .unwrap_or(10.0);
    step * decade
}

/// Renders a ratio chart.
pub fn ratio_chart(chart: &RatioChart) -> String {
    let longest = chart
        .bars
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(0);
    // About 6.6 px per character at 12 px.
    let (left, right, top, bottom) = ((longest as f64 * 6.6 + 24.0).max(160.0), 56.0, 62.0, 30.0);
    let row = 24.0;
    let height = top + bottom + row * chart.bars.len().max(1) as f64;
    let width = left + 480.0 + right;
    let plot_w = width - left - right;
    let extreme = chart
        .bars
        .iter()
        .flat_map(|b| [b.min, b.median, b.max])
        .filter(|v| *v > 0.0 && v.is_finite())
        .map(|v| v.log10().abs())
        .fold(1f64.log10() + 0.30, f64::max);
    // A symmetric log axis: 1× in the middle, the widest ratio (at least 2×) at the edges.
    let span = (extreme * 10.0).ceil() / 10.0;
    let x_of = |v: f64| left + plot_w * (0.5 + v.max(1e-12).log10() / (2.0 * span));
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" {FONT} font-size=\"12\">"
    );
    let _ = writeln!(
        svg,
        "<rect width=\"{width:.0}\" height=\"{height:.0}\" fill=\"#ffffff\"/>"
    );
    let _ = writeln!(
        svg,
        "<text x=\"16\" y=\"26\" font-size=\"15\" font-weight=\"bold\">{}</text>",
        escape(&chart.title)
    );
    let ticks: Vec<f64> = [
        0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0,
    ]
    .into_iter()
    .filter(|t: &f64| t.log10().abs() <= span + 1e-9)
    .collect();
    let plot_bottom = height - bottom;
    for tick in ticks {
        let x = x_of(tick);
        let stroke = if (tick - 1.0).abs() < 1e-9 {
            "#444"
        } else {
            "#e4e4e4"
        };
        let _ = writeln!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{plot_bottom:.1}\" \
             stroke=\"{stroke}\"/>"
        );
        let _ = writeln!(
            svg,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#444\">{tick}×</text>",
            plot_bottom + 16.0
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"16\" y=\"44\" fill=\"#444\">Right of 1×: Annal faster. Bar: median of the \
         per-round ratios; whisker: their range.</text>"
    );
    for (i, bar) in chart.bars.iter().enumerate() {
        let y = top + row * i as f64;
        let mid = y + row / 2.0;
        let (one, at) = (x_of(1.0), x_of(bar.median));
        let colour = if bar.median >= 1.0 {
            "#1f5fbf"
        } else {
            "#d0453a"
        };
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#222\">{}</text>",
            left - 8.0,
            mid + 4.0,
            escape(&bar.label)
        );
        let _ = writeln!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\" \
             opacity=\"0.75\"><title>{}: {:.2}× ({:.2}×–{:.2}×)</title></rect>",
            one.min(at),
            y + 5.0,
            (at - one).abs().max(1.0),
            row - 10.0,
            escape(&bar.label),
            bar.median,
            bar.min,
            bar.max
        );
        let _ = writeln!(
            svg,
            "<line x1=\"{:.1}\" y1=\"{mid:.1}\" x2=\"{:.1}\" y2=\"{mid:.1}\" stroke=\"#222\"/>",
            x_of(bar.min),
            x_of(bar.max)
        );
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#222\" font-size=\"11\">{:.2}×</text>",
            x_of(bar.max).max(at).max(one) + 6.0,
            mid + 4.0,
            bar.median
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_well_formed_svg() {
        // Proves both charts render one svg element with every series and bar in it.
        let chart = LineChart {
            title: "t <1>".to_owned(),
            x_label: "threads".to_owned(),
            y_label: "events/s".to_owned(),
            x_categories: vec!["1".to_owned(), "8".to_owned()],
            series: vec![Series {
                name: "annal".to_owned(),
                values: vec![Some(1_000.0), Some(8_000.0)],
                dashed: false,
            }],
            y_format: |v| format!("{v}"),
        };
        let svg = line_chart(&chart);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("t &lt;1&gt;"));
        assert_eq!(svg.matches("<circle").count(), 2);
        let ratios = ratio_chart(&RatioChart {
            title: "r".to_owned(),
            bars: vec![RatioBar {
                label: "a ÷ b".to_owned(),
                median: 0.5,
                min: 0.4,
                max: 0.6,
            }],
        });
        assert_eq!(ratios.matches("<rect").count(), 2);
        assert_eq!(
            log_ticks(1.0, 100.0),
            vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
        );
        assert_eq!((nice_floor(340.0), nice_ceil(340.0)), (200.0, 500.0));
        assert_eq!((nice_floor(1000.0), nice_ceil(1000.0)), (1000.0, 1000.0));
    }
}

//! Small SVG charts for the commands' `--plot FILE` (no dependencies): line and dot series over a numeric
//! x axis, shaded x ranges (anomaly windows), a legend and labelled axes. The files open in any browser.

use std::fmt::Write as _;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Line,
    Dots,
}

/// One named series of (x, y) points.
pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub style: Style,
    pub points: Vec<(f64, f64)>,
}

/// A shaded x range with a label (e.g. an anomaly window).
pub struct Band {
    pub from: f64,
    pub to: f64,
    pub color: &'static str,
    pub label: String,
}

/// A chart: title, axis labels, series and bands; `x_text` formats an x value for the axis ticks.
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub bands: Vec<Band>,
    pub x_text: fn(f64) -> String,
}

const W: f64 = 1200.0;
const H: f64 = 500.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
/// Points kept per line series: longer series are thinned to min and max per pixel column.
const MAX_LINE_POINTS: usize = 4000;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Plain number text for axis ticks: no more digits than the tick spacing needs.
pub fn number_text(v: f64) -> String {
    if v.abs() >= 1e5 || (v != 0.0 && v.abs() < 1e-3) {
        format!("{v:.2e}")
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn bounds(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return None;
    }
    Some(if lo == hi { (lo - 1.0, hi + 1.0) } else { (lo, hi) })
}

/// Keeps the first min and max of each of `MAX_LINE_POINTS / 2` equal x slices, in x order.
fn thin(points: &[(f64, f64)], x0: f64, x1: f64) -> Vec<(f64, f64)> {
    if points.len() <= MAX_LINE_POINTS {
        return points.to_vec();
    }
    let slices = MAX_LINE_POINTS / 2;
    let mut out = Vec::with_capacity(MAX_LINE_POINTS);
    let slice_of = |x: f64| (((x - x0) / (x1 - x0)) * slices as f64).clamp(0.0, slices as f64 - 1.0) as usize;
    let mut i = 0;
    while i < points.len() {
        let s = slice_of(points[i].0);
        let (mut lo, mut hi) = (i, i);
        let mut j = i;
        while j < points.len() && slice_of(points[j].0) == s {
            if points[j].1 < points[lo].1 {
                lo = j;
            }
            if points[j].1 > points[hi].1 {
                hi = j;
            }
            j += 1;
        }
        out.push(points[lo.min(hi)]);
        if lo != hi {
            out.push(points[lo.max(hi)]);
        }
        i = j;
    }
    out
}

/// The chart as an SVG document.
pub fn render(chart: &Chart) -> String {
    let xs = chart.series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let band_xs = chart.bands.iter().flat_map(|b| [b.from, b.to]);
    let (x0, x1) = bounds(xs.chain(band_xs)).unwrap_or((0.0, 1.0));
    let (y0, y1) = bounds(chart.series.iter().flat_map(|s| s.points.iter().map(|p| p.1))).unwrap_or((0.0, 1.0));
    let pad = (y1 - y0) * 0.05;
    let (y0, y1) = (y0 - pad, y1 + pad);
    let px = |x: f64| LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT);
    let py = |y: f64| H - BOTTOM - (y - y0) / (y1 - y0) * (H - TOP - BOTTOM);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(s, r#"<text x="{LEFT}" y="28" font-size="16">{}</text>"#, escape(&chart.title));
    for b in &chart.bands {
        let (a, z) = (px(b.from), px(b.to).max(px(b.from) + 1.0));
        let _ = writeln!(
            s,
            r#"<rect x="{a:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="{}" fill-opacity="0.25"><title>{}</title></rect>"#,
            z - a,
            H - TOP - BOTTOM,
            b.color,
            escape(&b.label)
        );
    }
    // Axes and ticks.
    let _ = writeln!(s, r##"<path d="M{LEFT},{TOP} V{} H{}" stroke="#333" fill="none"/>"##, H - BOTTOM, W - RIGHT);
    for i in 0..=5 {
        let f = i as f64 / 5.0;
        let (xv, yv) = (x0 + f * (x1 - x0), y0 + f * (y1 - y0));
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#333">{}</text>"##,
            px(xv),
            H - BOTTOM + 18.0,
            escape(&(chart.x_text)(xv))
        );
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{:.1}" text-anchor="end" fill="#333">{}</text><path d="M{LEFT},{:.1} H{}" stroke="#ddd"/>"##,
            LEFT - 6.0,
            py(yv) + 4.0,
            number_text(yv),
            py(yv),
            W - RIGHT
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 12.0,
        escape(&chart.x_label)
    );
    let _ = writeln!(
        s,
        r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">{}</text>"#,
        (TOP + H - BOTTOM) / 2.0,
        (TOP + H - BOTTOM) / 2.0,
        escape(&chart.y_label)
    );
    for (k, series) in chart.series.iter().enumerate() {
        match series.style {
            Style::Line => {
                let mut d = String::new();
                for (i, &(x, y)) in thin(&series.points, x0, x1).iter().enumerate() {
                    if x.is_finite() && y.is_finite() {
                        let _ = write!(d, "{}{:.1},{:.1}", if i == 0 { "M" } else { " L" }, px(x), py(y));
                    }
                }
                let _ = writeln!(s, r#"<path d="{d}" stroke="{}" stroke-width="1.2" fill="none"/>"#, series.color);
            }
            Style::Dots => {
                for &(x, y) in series.points.iter().filter(|p| p.0.is_finite() && p.1.is_finite()) {
                    let _ =
                        writeln!(s, r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{}"/>"#, px(x), py(y), series.color);
                }
            }
        }
        let ly = TOP + 14.0 + 16.0 * k as f64;
        let _ = writeln!(
            s,
            r#"<rect x="{}" y="{:.1}" width="12" height="3" fill="{}"/><text x="{}" y="{:.1}">{}</text>"#,
            W - RIGHT - 220.0,
            ly - 4.0,
            series.color,
            W - RIGHT - 202.0,
            ly,
            escape(&series.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_hold_their_series_bands_and_escaped_text() {
        let points: Vec<(f64, f64)> = (0..10_000).map(|i| (i as f64, (i % 100) as f64)).collect();
        let chart = Chart {
            title: "a < b & c".into(),
            x_label: "time".into(),
            y_label: "value".into(),
            series: vec![Series { name: "v".into(), color: "#1f77b4", style: Style::Line, points }],
            bands: vec![Band { from: 10.0, to: 20.0, color: "#d62728", label: "window 1".into() }],
            x_text: number_text,
        };
        let svg = render(&chart);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("a &lt; b &amp; c") && svg.contains("<title>window 1</title>"));
        // Thinned to at most MAX_LINE_POINTS vertices, keeping the extremes.
        let path = svg.lines().find(|l| l.starts_with("<path d=\"M") && l.contains("#1f77b4")).unwrap();
        assert!(path.matches(" L").count() < MAX_LINE_POINTS, "{}", path.len());
        // An empty chart still renders.
        let empty = Chart { series: vec![], bands: vec![], ..chart };
        assert!(render(&empty).contains("</svg>"));
    }
}

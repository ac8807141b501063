//! Timeline pictures, written by hand: request rate, caller latency and breaker state over
//! time, with the fault window shaded.

use std::fmt::Write as _;

use super::client::{Phase, Variant};
use super::ScenarioReport;
use crate::stats::Latencies;

const WIDTH: f64 = 960.0;
const LEFT: f64 = 110.0;
const RIGHT: f64 = 20.0;
const BUCKET: f64 = 0.5;

/// A line to plot: label, colour, (seconds, value) points.
type Series = (String, &'static str, Vec<(f64, f64)>);

fn colour(variant: Variant) -> &'static str {
    match variant {
        Variant::NoBreaker => "#7f7f7f",
        Variant::Attribute => "#1f77b4",
        Variant::TowerLayer => "#ff7f0e",
        Variant::Peer => "#9467bd",
    }
}

fn phase_colour(phase: Phase) -> &'static str {
    match phase {
        Phase::Closed => "#2ca02c",
        Phase::Open => "#d62728",
        Phase::HalfOpen => "#ffbf00",
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// One picture in progress: a horizontal time axis shared by stacked panels.
struct Canvas {
    out: String,
    duration: f64,
    y: f64,
}

impl Canvas {
    fn x(&self, t: f64) -> f64 {
        LEFT + (t / self.duration).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT)
    }

    fn text(&mut self, x: f64, y: f64, anchor: &str, size: u32, text: &str) {
        let _ = writeln!(
            self.out,
            r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" font-size="{size}">{}</text>"#,
            escape(text)
        );
    }

    fn shade(&mut self, from: f64, to: f64, top: f64, height: f64) {
        let (a, b) = (self.x(from), self.x(to));
        let _ = writeln!(
            self.out,
            r##"<rect x="{a:.1}" y="{top:.1}" width="{:.1}" height="{height:.1}" fill="#f4cccc" opacity="0.6"/>"##,
            b - a
        );
    }

    fn frame(&mut self, top: f64, height: f64, title: &str) {
        let _ = writeln!(
            self.out,
            r##"<rect x="{LEFT}" y="{top:.1}" width="{:.1}" height="{height:.1}" fill="none" stroke="#999"/>"##,
            WIDTH - LEFT - RIGHT
        );
        self.text(LEFT, top - 6.0, "start", 12, title);
    }

    /// Draws `points`, leaving a gap wherever a value is NaN (no data).
    fn polyline(&mut self, points: &[(f64, f64)], colour: &str) {
        for run in points.split(|(_, y)| y.is_nan()).filter(|run| !run.is_empty()) {
            let coords: Vec<String> = run.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            let _ = writeln!(
                self.out,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="1.5" stroke-linejoin="round"/>"#,
                coords.join(" ")
            );
        }
    }

    /// A panel plotting `series` (label, colour, (time, value) points) on a linear or log axis.
    fn panel(&mut self, title: &str, series: &[Series], log: bool, shade: &[(f64, f64)]) {
        let (top, height) = (self.y, 150.0);
        for (from, to) in shade {
            self.shade(*from, *to, top, height);
        }
        self.frame(top, height, title);
        let max = series.iter().flat_map(|s| s.2.iter().map(|p| p.1)).filter(|v| !v.is_nan()).fold(0.0_f64, f64::max);
        // Log panels are in milliseconds, from 10 µs up to the next decade above the largest value.
        let (lo, hi) = if log { (-2.0, (max.max(1.0).log10() - 0.01).ceil().max(1.0)) } else { (0.0, nice(max)) };
        let scale = |v: f64| {
            let v = if log { v.max(0.01).log10() } else { v };
            top + height - (v - lo) / (hi - lo) * height
        };
        let ticks: Vec<f64> =
            if log { (lo as i32..=hi as i32).map(f64::from).collect() } else { vec![0.0, hi / 2.0, hi] };
        for v in ticks {
            let y = scale(if log { 10f64.powf(v) } else { v });
            let label = if log { fmt_ms(10f64.powf(v)) } else { format!("{v:.0}") };
            self.text(LEFT - 6.0, y + 4.0, "end", 10, &label);
            let _ = writeln!(
                self.out,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e5e5"/>"##,
                WIDTH - RIGHT
            );
        }
        for (_, colour, points) in series {
            let pts: Vec<(f64, f64)> = points.iter().map(|(t, v)| (self.x(*t), scale(*v))).collect();
            self.polyline(&pts, colour);
        }
        self.y += height + 34.0;
    }

    /// One strip per breaker, coloured by state.
    fn strips(&mut self, rows: &[(String, Vec<(f64, Phase)>)], end: f64, shade: &[(f64, f64)]) {
        let top = self.y;
        let height = 18.0 * rows.len() as f64;
        for (from, to) in shade {
            self.shade(*from, *to, top, height);
        }
        self.text(LEFT, top - 6.0, "start", 12, "breaker state: closed (green), open (red), half-open (amber)");
        for (i, (label, transitions)) in rows.iter().enumerate() {
            let y = top + 18.0 * i as f64;
            self.text(LEFT - 6.0, y + 13.0, "end", 10, label);
            let mut from = 0.0;
            let mut phase = Phase::Closed;
            for (t, next) in transitions.iter().copied().chain(std::iter::once((end, Phase::Closed))) {
                let (a, b) = (self.x(from), self.x(t));
                if b > a {
                    let _ = writeln!(
                        self.out,
                        r#"<rect x="{a:.1}" y="{:.1}" width="{:.2}" height="14" fill="{}"/>"#,
                        y + 2.0,
                        b - a,
                        phase_colour(phase)
                    );
                }
                from = t;
                phase = next;
            }
        }
        self.y += height + 10.0;
    }

    fn axis(&mut self) {
        let step = if self.duration > 40.0 { 10.0 } else { 5.0 };
        let mut t = 0.0;
        while t <= self.duration + 1e-9 {
            let x = self.x(t);
            self.text(x, self.y + 4.0, "middle", 10, &format!("{t:.0} s"));
            t += step;
        }
        self.y += 14.0;
    }
}

fn nice(max: f64) -> f64 {
    let max = max.max(1.0);
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|v| *v >= max).unwrap_or(max)
}

fn fmt_ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.0} s", v / 1000.0)
    } else if v >= 1.0 {
        format!("{v:.0} ms")
    } else {
        format!("{:.0} µs", v * 1000.0)
    }
}

/// Events per second in `BUCKET`-second buckets over `[0, duration)`.
fn rate(times: impl Iterator<Item = f64>, duration: f64) -> Vec<(f64, f64)> {
    let n = (duration / BUCKET).ceil() as usize;
    let mut counts = vec![0.0; n.max(1)];
    for t in times {
        if let Some(c) = counts.get_mut((t / BUCKET) as usize) {
            *c += 1.0;
        }
    }
    counts.iter().enumerate().map(|(i, c)| ((i as f64 + 0.5) * BUCKET, c / BUCKET)).collect()
}

/// The p99 caller latency in milliseconds of calls started in each bucket.
fn p99(calls: &[super::load::Call], duration: f64) -> Vec<(f64, f64)> {
    let n = (duration / BUCKET).ceil() as usize;
    let mut buckets = vec![Latencies::default(); n.max(1)];
    for c in calls {
        if let Some(b) = buckets.get_mut((c.at / BUCKET) as usize) {
            b.record(c.latency);
        }
    }
    buckets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let p99 = if b.is_empty() { f64::NAN } else { b.quantile(0.99).as_secs_f64() * 1000.0 };
            ((i as f64 + 0.5) * BUCKET, p99)
        })
        .collect()
}

/// The timeline picture of one scenario.
pub fn timeline(report: &ScenarioReport) -> String {
    let s = &report.scenario;
    let duration = s.duration.as_secs_f64() + 2.0;
    // Shade every phase in which the dependency is not healthy.
    let phases = &s.schedule.0;
    let shade: Vec<(f64, f64)> = phases
        .iter()
        .enumerate()
        .filter(|(_, (_, b))| *b != crate::flaky::Behaviour::Healthy)
        .map(|(i, (at, _))| {
            let end = phases.get(i + 1).map_or(s.heal, |p| p.0);
            (at.as_secs_f64(), end.as_secs_f64())
        })
        .collect();
    let shade = &shade[..];
    let mut c = Canvas { out: String::new(), duration, y: 96.0 };
    c.text(LEFT, 20.0, "start", 15, &format!("{}: {}", s.name(), super::report::COMMAND));
    // Phase labels above the first panel.
    let mut legend_x = LEFT;
    let entries: Vec<(String, &str)> = if report.producers.is_empty() {
        report.clients.iter().map(|m| (m.variant.label().to_owned(), colour(m.variant))).collect()
    } else {
        vec![("RetryQueue + breaker".to_owned(), "#1f77b4"), ("direct, no breaker".to_owned(), "#7f7f7f")]
    };
    for (label, colour) in &entries {
        let _ = writeln!(
            c.out,
            r#"<rect x="{legend_x:.1}" y="30" width="14" height="4" fill="{colour}"/><text x="{:.1}" y="36" font-size="11">{}</text>"#,
            legend_x + 18.0,
            escape(label)
        );
        legend_x += 40.0 + 6.5 * label.len() as f64;
    }
    for (i, (at, behaviour)) in phases.iter().enumerate() {
        if i > 0 && phases[i - 1].1 == *behaviour {
            continue;
        }
        let x = c.x(at.as_secs_f64());
        let _ = writeln!(c.out, r##"<line x1="{x:.1}" y1="56" x2="{x:.1}" y2="72" stroke="#555"/>"##);
        if s.fault != super::Fault::Flapping || i == 0 || i == 1 || i + 1 == phases.len() {
            c.text(x + 3.0, 66.0, "start", 10, &s.phase_label(*behaviour));
        }
    }

    if report.producers.is_empty() {
        let attempts: Vec<Series> = report
            .clients
            .iter()
            .map(|m| (m.variant.label().to_owned(), colour(m.variant), rate(m.attempts.iter().copied(), duration)))
            .collect();
        c.panel("requests reaching the dependency per second", &attempts, false, shade);
        let calls: Vec<Series> = report
            .clients
            .iter()
            .map(|m| (m.variant.label().to_owned(), colour(m.variant), rate(m.call_log.iter().map(|k| k.at), duration)))
            .collect();
        c.panel("calls made by the caller per second (the rest were not sent: every slot busy)", &calls, false, shade);
        let latency: Vec<Series> = report
            .clients
            .iter()
            .map(|m| (m.variant.label().to_owned(), colour(m.variant), p99(&m.call_log, duration)))
            .collect();
        c.panel(
            "caller latency, p99 of the calls started in each half second (log scale; gaps: no call started)",
            &latency,
            true,
            shade,
        );
        let rows: Vec<(String, Vec<(f64, Phase)>)> = report
            .clients
            .iter()
            .filter(|m| m.variant.has_breaker())
            .map(|m| (short_label(m.variant).to_owned(), m.transitions.clone()))
            .collect();
        c.strips(&rows, duration, shade);
    } else {
        let accepted: Vec<Series> = report
            .producers
            .iter()
            .zip(["#1f77b4", "#7f7f7f"])
            .map(|(p, colour)| (p.label.to_owned(), colour, deltas(&p.samples, |s| s.2 as f64)))
            .collect();
        c.panel("messages delivered to the broker per second", &accepted, false, shade);
        let depth: Vec<Series> = report
            .producers
            .iter()
            .zip(["#1f77b4", "#7f7f7f"])
            .map(|(p, colour)| (p.label.to_owned(), colour, p.samples.iter().map(|s| (s.0, s.3 as f64)).collect()))
            .collect();
        c.panel("messages waiting in the queue", &depth, false, shade);
        let rows: Vec<(String, Vec<(f64, Phase)>)> = report
            .producers
            .iter()
            .filter(|p| p.unsettled.is_some())
            .map(|p| ("RetryQueue".to_owned(), p.transitions.clone()))
            .collect();
        c.strips(&rows, duration, shade);
    }
    c.axis();
    let height = c.y + 10.0;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height:.0}\" viewBox=\"0 0 {WIDTH} {height:.0}\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{}</svg>\n",
        c.out
    )
}

fn short_label(variant: Variant) -> &'static str {
    match variant {
        Variant::NoBreaker => "none",
        Variant::Attribute => "attribute",
        Variant::TowerLayer => "tower layer",
        Variant::Peer => "tower-resilience",
    }
}

/// Per-second rate of a cumulative count sampled over time, averaged per `BUCKET`.
fn deltas(samples: &[(f64, u64, u64, usize)], value: impl Fn(&(f64, u64, u64, usize)) -> f64) -> Vec<(f64, f64)> {
    let step = ((BUCKET / 0.1).round() as usize).max(1);
    samples
        .iter()
        .step_by(step)
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| {
            let dt = (w[1].0 - w[0].0).max(1e-9);
            ((w[0].0 + w[1].0) / 2.0, (value(w[1]) - value(w[0])) / dt)
        })
        .collect()
}

//! What one run measured, the targets checked against it, and the report (tables + SVG).

use std::fmt::Write as _;

use super::{DependencyMode, Line, Scenario, Step, PARTITIONED, REPLICAS};

/// One scenario under one variant.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The scenario.
    pub scenario: Scenario,
    /// `None`: independent breakers.
    pub policy: Option<&'static str>,
    /// Run length and open wait, ms.
    pub run_ms: f64,
    /// The breakers' open wait, ms.
    pub wait_ms: f64,
    /// The script.
    pub steps: Vec<(u64, Step)>,
    /// Every replica line, times in ms from the start of the load.
    pub lines: Vec<(usize, Line)>,
    /// Every request the dependency received: (ms from the start, replica).
    pub requests: Vec<(f64, usize)>,
}

/// One target, measured.
#[derive(Debug, Clone)]
pub struct Check {
    /// The scenario.
    pub scenario: &'static str,
    /// The target.
    pub target: String,
    /// The figure.
    pub measured: String,
    /// Met.
    pub ok: bool,
}

/// Every run.
#[derive(Debug, Clone)]
pub struct Report {
    /// In order.
    pub runs: Vec<RunResult>,
}

impl RunResult {
    pub(super) fn new(
        scenario: Scenario,
        policy: Option<&'static str>,
        run_ms: f64,
        wait_ms: f64,
        steps: Vec<(u64, Step)>,
        lines: Vec<(usize, Line)>,
        requests: Vec<(f64, usize)>,
    ) -> Self {
        RunResult { scenario, policy, run_ms, wait_ms, steps, lines, requests }
    }

    /// `independent` or `breaker-redis (POLICY)`.
    pub fn label(&self) -> String {
        self.policy.map_or_else(|| "independent".to_owned(), |p| format!("breaker-redis ({p})"))
    }

    fn states(&self) -> impl Iterator<Item = (usize, f64, &str)> {
        self.lines.iter().filter_map(|(r, l)| match l {
            Line::State { t, to, .. } => Some((*r, *t, to.as_str())),
            _ => None,
        })
    }

    /// When the first replica opened, ms.
    pub fn first_open(&self) -> Option<f64> {
        self.states().filter(|(_, _, to)| *to == "open").map(|(_, t, _)| t).min_by(f64::total_cmp)
    }

    /// When the dependency came back after the first outage began (or the run's end).
    fn outage_end(&self) -> f64 {
        let down = self.steps.iter().position(|(_, s)| *s == Step::Dep(DependencyMode::Down));
        down.and_then(|i| self.steps[i..].iter().find(|(_, s)| *s == Step::Dep(DependencyMode::Up)))
            .map_or(self.run_ms, |(at, _)| *at as f64)
    }

    /// Requests the dependency received from the first opening to the end of the outage.
    pub fn load_after_first_open(&self) -> usize {
        let (Some(from), to) = (self.first_open(), self.outage_end()) else { return 0 };
        self.requests.iter().filter(|(t, _)| *t >= from && *t < to).count()
    }

    /// Requests the dependency received while its script had it down (failed calls).
    pub fn requests_while_down(&self) -> usize {
        let mut down = Vec::new();
        let mut from = None;
        for (at, step) in &self.steps {
            match (step, from) {
                (Step::Dep(DependencyMode::Down), None) => from = Some(*at as f64),
                (Step::Dep(_), Some(start)) if *step != Step::Dep(DependencyMode::Down) => {
                    down.push((start, *at as f64));
                    from = None;
                }
                _ => {}
            }
        }
        if let Some(start) = from {
            down.push((start, self.run_ms));
        }
        self.requests.iter().filter(|(t, _)| down.iter().any(|(a, b)| t >= a && t < b)).count()
    }

    /// The slowest replica's delay from the first opening to its own open (ms); `None` when
    /// some replica never opened.
    pub fn open_propagation(&self) -> Option<f64> {
        let first = self.first_open()?;
        (0..REPLICAS)
            .map(|r| {
                self.states().find(|(x, t, to)| *x == r && *to == "open" && *t >= first).map(|(_, t, _)| t - first)
            })
            .try_fold(0f64, |worst, d| d.map(|d| worst.max(d)))
    }

    /// The slowest replica's delay from the first opening to being sensitised or open (ms).
    pub fn hint_propagation(&self) -> Option<f64> {
        let first = self.first_open()?;
        (0..REPLICAS)
            .map(|r| {
                self.lines
                    .iter()
                    .filter(|(x, _)| *x == r)
                    .filter_map(|(_, l)| match l {
                        Line::Sensitised { t } => Some(*t),
                        Line::State { t, to, .. } if to == "open" => Some(*t),
                        _ => None,
                    })
                    .filter(|t| *t >= first)
                    .min_by(f64::total_cmp)
                    .map(|t| t - first)
            })
            .try_fold(0f64, |worst, d| d.map(|d| worst.max(d)))
    }

    /// Probe times, ms.
    pub fn probes(&self) -> Vec<f64> {
        let mut v: Vec<f64> =
            self.lines.iter().filter_map(|(_, l)| if let Line::Probe { t } = l { Some(*t) } else { None }).collect();
        v.sort_by(f64::total_cmp);
        v
    }

    /// The most probes in any window as long as the open wait.
    pub fn probes_per_wait(&self) -> usize {
        let probes = self.probes();
        (0..probes.len())
            .map(|i| probes[i..].iter().take_while(|t| **t < probes[i] + self.wait_ms).count())
            .max()
            .unwrap_or(0)
    }

    fn summaries(&self) -> impl Iterator<Item = (usize, &Line)> {
        self.lines.iter().filter(|(_, l)| matches!(l, Line::Summary { .. })).map(|(r, l)| (*r, l))
    }

    /// Success rate of the replicas other than the partitioned one.
    pub fn healthy_success_rate(&self) -> f64 {
        let (mut ok, mut calls) = (0u64, 0u64);
        for (r, l) in self.summaries() {
            if let Line::Summary { ok: o, calls: c, .. } = l {
                if r != PARTITIONED {
                    ok += o;
                    calls += c;
                }
            }
        }
        ok as f64 / calls.max(1) as f64
    }

    /// Worst breaker decision, worst p99 and worst call over the replicas, in ms.
    pub fn latency(&self) -> (f64, f64, f64) {
        self.summaries().fold((0.0, 0.0, 0.0), |(d, p, m), (_, l)| match l {
            Line::Summary { decide_max_us, call_p99_us, call_max_us, .. } => (
                f64::max(d, decide_max_us / 1000.0),
                f64::max(p, call_p99_us / 1000.0),
                f64::max(m, call_max_us / 1000.0),
            ),
            _ => (d, p, m),
        })
    }

    /// Time from Redis's restart to the last replica's link up, ms.
    pub fn resync(&self) -> Option<f64> {
        let restart = self.steps.iter().find(|(_, s)| *s == Step::RestartRedis)?.0 as f64;
        (0..REPLICAS)
            .map(|r| {
                self.lines.iter().find_map(|(x, l)| match l {
                    Line::Link { t, up: true } if *x == r && *t >= restart => Some(t - restart),
                    _ => None,
                })
            })
            .try_fold(0f64, |worst, d| d.map(|d| worst.max(d)))
    }

    /// State changes over all replicas.
    pub fn transitions(&self) -> usize {
        self.states().count()
    }
}

fn find<'a>(runs: &'a [RunResult], s: Scenario, policy: Option<&str>) -> Option<&'a RunResult> {
    runs.iter().find(|r| r.scenario == s && r.policy == policy)
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "never".to_owned(), |v| format!("{v:.1} ms"))
}

impl Report {
    /// Every target with its measured figure.
    pub fn checks(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        let runs = &self.runs;
        let mut check = |scenario: Scenario, target: &str, measured: String, ok: bool| {
            checks.push(Check { scenario: scenario.name(), target: target.to_owned(), measured, ok });
        };
        if let (Some(ind), Some(hint)) = (find(runs, Scenario::Down, None), find(runs, Scenario::Down, Some("hint"))) {
            let (a, b) = (ind.load_after_first_open(), hint.load_after_first_open());
            check(
                Scenario::Down,
                "load into the dead dependency after the first opening, hint <= 1/3 of independent",
                format!("{b} vs {a} requests"),
                b * 3 <= a,
            );
            let p = hint.hint_propagation();
            check(Scenario::Down, "hint: every replica sensitised within 50 ms", ms(p), p.is_some_and(|p| p <= 50.0));
        }
        if let Some(any) = find(runs, Scenario::Down, Some("any")) {
            let p = any.open_propagation();
            check(Scenario::Down, "any: every replica open within 50 ms", ms(p), p.is_some_and(|p| p <= 50.0));
        }
        if let (Some(ind), Some(fleet)) =
            (find(runs, Scenario::Recovery, None), find(runs, Scenario::Recovery, Some("hint")))
        {
            check(
                Scenario::Recovery,
                "at most half_open_permits (1) probes per wait fleet-wide",
                format!("{} (independent: {})", fleet.probes_per_wait(), ind.probes_per_wait()),
                fleet.probes_per_wait() <= 1,
            );
            let closed = (0..REPLICAS)
                .all(|r| fleet.states().filter(|(x, _, _)| *x == r).last().is_some_and(|(_, _, to)| to == "closed"));
            check(Scenario::Recovery, "every replica closed after the recovery", closed.to_string(), closed);
        }
        if let (Some(ind), Some(fleet)) =
            (find(runs, Scenario::Flapping, None), find(runs, Scenario::Flapping, Some("hint")))
        {
            check(
                Scenario::Flapping,
                "at most half_open_permits (1) probes per wait fleet-wide while the dependency flaps",
                format!("{} (independent: {})", fleet.probes_per_wait(), ind.probes_per_wait()),
                fleet.probes_per_wait() <= 1,
            );
            // The fleet must not add load (a probe storm, or hints that keep breakers closed):
            // at most the independent fleet's requests while the dependency is down, with 25%
            // for timing noise on a loaded machine (measured: 77-78 vs 98-99 idle, 94 vs 96
            // with other builds running, so 10% left too little room). Either failure shows as a
            // multiple: every replica probing, or closed breakers passing every call through.
            let (a, b) = (ind.requests_while_down(), fleet.requests_while_down());
            check(
                Scenario::Flapping,
                "requests into the dependency while it is down: at most the independent fleet's (+25% noise)",
                format!("{b} vs {a} requests"),
                b * 4 <= a * 5,
            );
        }
        if let (Some(ind), Some(fleet)) =
            (find(runs, Scenario::Partition, None), find(runs, Scenario::Partition, Some("hint")))
        {
            let (a, b) = (ind.healthy_success_rate(), fleet.healthy_success_rate());
            check(
                Scenario::Partition,
                "the other replicas keep serving: success rate unchanged",
                format!("{:.2}% vs {:.2}% independent", b * 100.0, a * 100.0),
                b >= a - 0.005,
            );
        }
        for s in [Scenario::RedisKilled, Scenario::RedisSlow] {
            if let (Some(ind), Some(fleet)) = (find(runs, s, None), find(runs, s, Some("hint"))) {
                let ((d0, p0, _), (d1, p1, _)) = (ind.latency(), fleet.latency());
                check(
                    s,
                    "no call slower: worst breaker decision under 10 ms, call p99 within 10 ms of independent",
                    format!("decision {d1:.2} ms, p99 {p1:.1} ms (independent: {d0:.2} ms, {p0:.1} ms)"),
                    d1 < 10.0 && p1 <= p0 + 10.0,
                );
            }
        }
        if let Some(fleet) = find(runs, Scenario::RedisKilled, Some("hint")) {
            let r = fleet.resync();
            check(
                Scenario::RedisKilled,
                "every replica resynced within 2 s of Redis returning",
                ms(r),
                r.is_some_and(|r| r <= 2000.0),
            );
        }
        checks
    }

    /// The tables, in Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "| scenario | variant | requests after 1st open | open spread | sensitised spread | probes/wait | healthy success | decision max | call p99 | transitions | resync |");
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|");
        for r in &self.runs {
            let (d, p, _) = r.latency();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {:.1}% | {:.2} ms | {:.1} ms | {} | {} |",
                r.scenario.name(),
                r.label(),
                r.load_after_first_open(),
                ms(r.open_propagation()),
                if r.policy == Some("hint") { ms(r.hint_propagation()) } else { "-".into() },
                r.probes_per_wait(),
                r.healthy_success_rate() * 100.0,
                d,
                p,
                r.transitions(),
                r.resync().map_or_else(|| "-".into(), |v| format!("{v:.0} ms")),
            );
        }
        let _ = writeln!(out, "\n| scenario | target | measured | met |\n|---|---|---|---|");
        for c in self.checks() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                c.scenario,
                c.target,
                c.measured,
                if c.ok { "yes" } else { "**no**" }
            );
        }
        out
    }

    /// One SVG per scenario: each replica's state over time, one band per variant.
    pub fn svg(&self, scenario: Scenario) -> Option<String> {
        let runs: Vec<&RunResult> = self.runs.iter().filter(|r| r.scenario == scenario).collect();
        let end = runs.first()?.run_ms;
        let (left, width, row) = (190.0, 760.0, 14.0);
        let height = 40.0 + runs.len() as f64 * (REPLICAS as f64 * row + 30.0);
        let x = |t: f64| left + width * (t.clamp(0.0, end) / end);
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n",
            left + width + 20.0
        );
        let _ = writeln!(svg, "<text x=\"10\" y=\"16\" font-size=\"13\">fleet harness: {} (green closed, red open, amber half-open, dot probe)</text>", scenario.name());
        let mut y = 30.0;
        for run in runs {
            let _ = writeln!(svg, "<text x=\"10\" y=\"{}\" font-weight=\"bold\">{}</text>", y + 10.0, run.label());
            y += 16.0;
            for r in 0..REPLICAS {
                let _ = writeln!(
                    svg,
                    "<text x=\"20\" y=\"{}\">replica {r}{}</text>",
                    y + 10.0,
                    if r == 0 { " (hot)" } else { "" }
                );
                let mut at = 0.0;
                let mut state = "closed";
                let changes: Vec<(f64, &str)> =
                    run.states().filter(|(x, _, _)| *x == r).map(|(_, t, to)| (t, to)).collect();
                for (t, to) in changes.into_iter().chain(std::iter::once((end, "end"))) {
                    let colour = match state {
                        "open" => "#d9534f",
                        "half_open" => "#f0ad4e",
                        _ => "#5cb85c",
                    };
                    let _ = writeln!(
                        svg,
                        "<rect x=\"{:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"{}\" fill=\"{colour}\"/>",
                        x(at),
                        (x(t) - x(at)).max(0.5),
                        row - 2.0
                    );
                    at = t;
                    state = to;
                }
                for (pr, l) in &run.lines {
                    if let (true, Line::Probe { t }) = (*pr == r, l) {
                        let _ = writeln!(
                            svg,
                            "<circle cx=\"{:.1}\" cy=\"{}\" r=\"3\" fill=\"black\"/>",
                            x(*t),
                            y + row / 2.0 - 1.0
                        );
                    }
                }
                y += row;
            }
            y += 14.0;
        }
        svg.push_str("</svg>\n");
        Some(svg)
    }
}

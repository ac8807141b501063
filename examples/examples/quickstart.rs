//! Quickstart: why a circuit breaker matters, in about 20 seconds.
//!
//! Starts a flaky HTTP service on loopback that is healthy, then fails (503), then hangs,
//! then recovers. Two clients call it under the same steady load: one whose method carries
//! `#[circuit_breaker]` with a fallback that serves cached posts, and the same client without
//! a breaker. The terminal shows the breaker's state transitions as they happen, then a
//! summary of both runs side by side.
//!
//! While it runs, Prometheus metrics are served on `/metrics`, and the `breaker-admin`
//! surface beside them: the health report on `/health/circuit-breakers` and a live dashboard
//! on `/circuit-breakers/dashboard` (URLs printed at start). With `BREAKER_ADMIN_TOKEN` set,
//! `POST /circuit-breakers/{name}/state` takes manual control.
//!
//! ```text
//! cargo run -p breaker-examples --example quickstart
//! cargo run -p breaker-examples --example quickstart -- --duration 60
//! cargo run -p breaker-examples --example quickstart -- --url http://127.0.0.1:8080
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use breaker_admin::AdminOptions;
use breaker_examples::flaky::{self, Behaviour, Post, Schedule};
use breaker_examples::stats::{ms, Latencies};
use breaker_examples::{lock, timeline};
use breaker_runtime::{circuit_breaker, CallError, Config, Event, Registry, Rejected};
use tokio::time::Instant;

/// The client's error type.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The HTTP call failed or returned an error status.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// The breaker rejected the call.
    #[error(transparent)]
    Rejected(#[from] Rejected),
}

#[derive(Debug, Default)]
struct Counters {
    fallback_rejected: AtomicU64,
    fallback_failed: AtomicU64,
}

/// A client of the content service, protected by a breaker.
#[derive(Debug, Clone)]
pub struct ContentClient {
    http: reqwest::Client,
    base: String,
    cache: Arc<Mutex<HashMap<u64, Vec<Post>>>>,
    counters: Arc<Counters>,
}

impl ContentClient {
    fn new(base: String) -> Self {
        ContentClient { http: reqwest::Client::new(), base, cache: Arc::default(), counters: Arc::default() }
    }

    /// The user's posts, through the `content-service` breaker. A call that fails, takes
    /// longer than a second, or is rejected while the breaker is open gets the cached posts.
    #[circuit_breaker(
        name = "content-service",
        fallback = Self::cached_posts,
        timeout = "1s",
        failure_rate = 0.5,
        window = "20 calls",
        minimum_calls = 10,
        wait = "2s"
    )]
    pub async fn posts(&self, user: u64) -> Result<Vec<Post>, ClientError> {
        let response = self.http.get(format!("{}/posts/{user}", self.base)).send().await?;
        let posts: Vec<Post> = response.error_for_status()?.json().await?;
        lock(&self.cache).insert(user, posts.clone());
        Ok(posts)
    }

    /// The fallback: the last posts seen for this user (or none), with 200 instead of 502.
    async fn cached_posts(&self, user: u64, error: CallError<ClientError>) -> Result<Vec<Post>, ClientError> {
        let counter =
            if error.is_rejected() { &self.counters.fallback_rejected } else { &self.counters.fallback_failed };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(lock(&self.cache).get(&user).cloned().unwrap_or_default())
    }

    /// The same call without a breaker: every caller waits out the timeout.
    pub async fn posts_unprotected(&self, user: u64) -> Result<Vec<Post>, String> {
        let call = async {
            let response = self.http.get(format!("{}/posts/{user}", self.base)).send().await?;
            response.error_for_status()?.json::<Vec<Post>>().await
        };
        match tokio::time::timeout(Duration::from_secs(1), call).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err("timed out".to_owned()),
        }
    }
}

/// Command-line options.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long the run lasts; the fault schedule scales with it.
    pub duration: Duration,
    /// Call this service instead of starting the local flaky one.
    pub url: Option<String>,
    /// Concurrent callers per client.
    pub workers: usize,
    /// Print a live progress line (only on a terminal).
    pub progress: bool,
}

impl Options {
    fn from_args() -> Result<Options, String> {
        let mut options = Options {
            duration: Duration::from_secs(20),
            url: None,
            workers: 8,
            progress: std::io::stdout().is_terminal(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or_else(|| format!("`{name}` needs a value"));
            match arg.as_str() {
                "--duration" => {
                    let secs: u64 = value("--duration")?.parse().map_err(|_| "`--duration` takes whole seconds")?;
                    options.duration = Duration::from_secs(secs.max(4));
                }
                "--url" => options.url = Some(value("--url")?.trim_end_matches('/').to_owned()),
                "--workers" => {
                    options.workers = value("--workers")?.parse().map_err(|_| "`--workers` takes a number")?;
                }
                "--help" | "-h" => {
                    return Err("usage: quickstart [--duration SECONDS] [--url BASE_URL] [--workers N]".to_owned())
                }
                other => return Err(format!("unknown option `{other}`; try --help")),
            }
        }
        Ok(options)
    }
}

/// One client's results.
#[derive(Debug, Default)]
pub struct Tally {
    /// Calls made.
    pub calls: u64,
    /// Calls answered by the service.
    pub succeeded: u64,
    /// Calls that ended in an error for the caller.
    pub errors: u64,
    /// Calls rejected by the open breaker (served by the fallback).
    pub rejected: u64,
    /// Calls served by the fallback in all (rejections, failures, timeouts).
    pub fallback: u64,
    /// Caller-side latency.
    pub latency: Latencies,
}

/// What the run saw.
#[derive(Debug)]
pub struct Summary {
    /// The client with a breaker.
    pub with_breaker: Tally,
    /// The client without one.
    pub without_breaker: Tally,
    /// Requests that reached each service (with breaker, without).
    pub hits: (u64, u64),
    /// Every transition, as printed.
    pub transitions: Vec<String>,
}

fn schedule(total: Duration) -> Schedule {
    let at = |f: f64| total.mul_f64(f);
    Schedule(vec![
        (Duration::ZERO, Behaviour::Healthy),
        (at(0.2), Behaviour::Failing),
        (at(0.45), Behaviour::Hanging),
        (at(0.65), Behaviour::Healthy),
    ])
}

/// Runs the demo, writing the timeline and summary to `out`.
pub async fn run(options: Options, out: &mut (dyn Write + Send)) -> std::io::Result<Summary> {
    let registry = Registry::global();
    // Short runs get a shorter open wait, set in code over the attribute's `wait = "2s"`.
    if options.duration < Duration::from_secs(15) {
        let wait = Config::builder().wait(Duration::from_secs(1));
        registry.configure("content-service", wait).map_err(std::io::Error::other)?;
    }
    registry.mark_critical("content-service", true);
    let transitions = Arc::new(Mutex::new(Vec::new()));
    let mut events = registry.subscribe();

    let plan = schedule(options.duration);
    let (with_base, without_base, with_hits, without_hits) = match &options.url {
        Some(url) => (url.clone(), url.clone(), None, None),
        None => {
            let a = flaky::spawn(plan.clone()).await?;
            let b = flaky::spawn(plan.clone()).await?;
            (format!("http://{}", a.addr), format!("http://{}", b.addr), Some(a.hits), Some(b.hits))
        }
    };
    let started = Instant::now();
    writeln!(
        out,
        "breaker quickstart: {} s of steady load against a service that fails, hangs and recovers",
        options.duration.as_secs()
    )?;
    if options.url.is_none() {
        let phases: Vec<String> =
            plan.0.iter().map(|(at, b)| format!("{:.1}s {}", at.as_secs_f64(), b.label())).collect();
        writeln!(out, "schedule: {}", phases.join(" → "))?;
    }

    let with = ContentClient::new(with_base);
    let without = ContentClient::new(without_base);
    let tally_with = Arc::new(Mutex::new(Tally::default()));
    let tally_without = Arc::new(Mutex::new(Tally::default()));
    let deadline = started + options.duration;
    let mut tasks = Vec::new();
    for worker in 0..options.workers {
        let (client, tally) = (with.clone(), tally_with.clone());
        tasks.push(tokio::spawn(async move {
            let mut user = worker as u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                let result = client.posts(user % 16).await;
                {
                    let mut tally = lock(&tally);
                    tally.calls += 1;
                    tally.latency.record(t.elapsed());
                    if result.is_err() {
                        tally.errors += 1;
                    }
                }
                user += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
        let (client, tally) = (without.clone(), tally_without.clone());
        tasks.push(tokio::spawn(async move {
            let mut user = worker as u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                let result = client.posts_unprotected(user % 16).await;
                {
                    let mut tally = lock(&tally);
                    tally.calls += 1;
                    tally.latency.record(t.elapsed());
                    match result {
                        Ok(_) => tally.succeeded += 1,
                        Err(_) => tally.errors += 1,
                    }
                }
                user += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }

    // The timeline: phase changes and breaker transitions as they happen.
    let mut config_shown = false;
    let mut phase = None;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut last_progress = Instant::now();
    while Instant::now() < deadline {
        tokio::select! {
            _ = tick.tick() => {}
            event = events.recv() => {
                if let Ok(Event::Transition(t)) = event {
                    let line = timeline::line(started, &t);
                    clear_progress(out, options.progress)?;
                    writeln!(out, "{line}")?;
                    lock(&transitions).push(line);
                }
                continue;
            }
        }
        // The attribute registers its settings on its first call, so they are shown once a
        // call has finished. (The breaker itself exists from `mark_critical` on, before that:
        // shown then, it would claim the defaults.)
        if !config_shown && lock(&tally_with).calls > 0 {
            config_shown = true;
            let config = registry.effective_config("content-service").map_err(std::io::Error::other)?;
            clear_progress(out, options.progress)?;
            writeln!(out, "`content-service` runs with: {}", describe(&config))?;
        }
        let now = plan.at(started.elapsed());
        if options.url.is_none() && phase != Some(now) {
            phase = Some(now);
            clear_progress(out, options.progress)?;
            writeln!(out, "[{:>5.1}s] service is now {}", started.elapsed().as_secs_f64(), now.label())?;
        }
        if options.progress && last_progress.elapsed() >= Duration::from_millis(250) {
            last_progress = Instant::now();
            let (a, b) = (lock(&tally_with).calls, lock(&tally_without).calls);
            let state = registry.get("content-service").map(|b| b.state().to_string()).unwrap_or_default();
            write!(
                out,
                "\r  {:>5.1}s  with breaker: {a:>5} calls ({state:<9})  without: {b:>5} calls   ",
                started.elapsed().as_secs_f64()
            )?;
            out.flush()?;
        }
    }
    for task in tasks {
        let _ = task.await;
    }
    clear_progress(out, options.progress)?;

    let mut with_breaker = std::mem::take(&mut *lock(&tally_with));
    with_breaker.rejected = with.counters.fallback_rejected.load(Ordering::Relaxed);
    with_breaker.fallback = with_breaker.rejected + with.counters.fallback_failed.load(Ordering::Relaxed);
    with_breaker.succeeded = with_breaker.calls - with_breaker.fallback - with_breaker.errors;
    let without_breaker = std::mem::take(&mut *lock(&tally_without));
    let hits =
        (with_hits.map_or(0, |h| h.load(Ordering::Relaxed)), without_hits.map_or(0, |h| h.load(Ordering::Relaxed)));
    let summary = Summary { with_breaker, without_breaker, hits, transitions: lock(&transitions).clone() };
    out.write_all(render(&summary).as_bytes())?;
    Ok(summary)
}

fn clear_progress(out: &mut (dyn Write + Send), progress: bool) -> std::io::Result<()> {
    if progress {
        write!(out, "\r{:<90}\r", "")?;
    }
    Ok(())
}

/// What a breaker runs with, in words, each setting the attribute left out marked "default".
/// Every threshold that is set trips the breaker on its own: the attribute's `failure_rate`
/// does not turn off the default `consecutive_failures`.
fn describe(config: &Config) -> String {
    let defaults = Config::default();
    let mark = |same: bool| if same { " (default)" } else { "" };
    let mut trips = Vec::new();
    if let Some(n) = config.consecutive_failures() {
        trips.push(format!("{n} consecutive failures{}", mark(defaults.consecutive_failures() == Some(n))));
    }
    if let Some(rate) = config.failure_rate() {
        trips.push(format!(
            "a failure rate {:.0}% over the last {} (once {} are in){}",
            rate * 100.0,
            config.window(),
            config.minimum_calls(),
            mark(defaults.failure_rate() == Some(rate) && defaults.window() == config.window())
        ));
    }
    if let Some(slow) = config.slow_calls() {
        trips.push(format!("{:.0}% of calls slower than {:?}", slow.rate_threshold * 100.0, slow.duration));
    }
    let trips = if trips.is_empty() { "nothing (no threshold set)".to_owned() } else { trips.join(" or ") };
    format!(
        "opens on {trips}; stays open {:?}{}, then lets {} probe(s) through, closing after {} success(es)",
        config.wait(),
        mark(defaults.wait() == config.wait()),
        config.half_open_permits(),
        config.success_threshold()
    )
}

fn render(s: &Summary) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "\n{:<17}{:>8}{:>11}{:>9}{:>10}{:>10}{:>11}{:>11}{:>14}",
        "", "calls", "succeeded", "errors", "rejected", "fallback", "p50", "p99", "service hits"
    );
    for (label, tally, hits) in
        [("with breaker", &s.with_breaker, s.hits.0), ("without breaker", &s.without_breaker, s.hits.1)]
    {
        let _ = writeln!(
            t,
            "{label:<17}{:>8}{:>11}{:>9}{:>10}{:>10}{:>11}{:>11}{:>14}",
            tally.calls,
            tally.succeeded,
            tally.errors,
            tally.rejected,
            tally.fallback,
            ms(tally.latency.quantile(0.5)),
            ms(tally.latency.quantile(0.99)),
            hits
        );
    }
    let _ = writeln!(
        t,
        "\nfallback = rejected + failed or timed out: the fallback (`fallback_on = \"any\"`, the default) answers the calls the open breaker turned away, and also those that failed or took over 1 s while it was still closed or probing."
    );
    let _ = writeln!(
        t,
        "With the breaker, callers got an answer (fresh or cached) fast while the service was down; without it, {} calls failed and callers waited out the timeout.",
        s.without_breaker.errors
    );
    t
}

/// Histogram buckets (seconds) for call, fallback and open-period durations, so the exporter
/// renders histograms rather than summaries.
const BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

async fn serve_observability(recorder: metrics_exporter_prometheus::PrometheusHandle) -> std::io::Result<String> {
    let metrics = get(move || {
        breaker_runtime::metrics::refresh_rates(Registry::global()); // the rate gauges, fresh per scrape
        std::future::ready(recorder.render())
    });
    // The admin surface: health, JSON list, event stream, dashboard; manual control when
    // BREAKER_ADMIN_TOKEN is set.
    let admin = AdminOptions::new().admin_token(std::env::var("BREAKER_ADMIN_TOKEN").unwrap_or_default());
    let app =
        axum::Router::new().route("/metrics", metrics).merge(breaker_admin::router(Registry::global().clone(), admin));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}"))
}

#[tokio::main]
async fn main() {
    let options = match Options::from_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    // Install the recorder before the first call so the breaker's metric handles bind to it.
    // Buckets, so durations render as histograms; an idle timeout, so a removed or evicted
    // breaker's series stop being exported after five minutes without an update.
    let builder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .idle_timeout(metrics_util::MetricKindMask::ALL, Some(std::time::Duration::from_secs(300)))
        .set_buckets(BUCKETS);
    let recorder = match builder.and_then(metrics_exporter_prometheus::PrometheusBuilder::install_recorder) {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("cannot install the metrics recorder: {e}");
            std::process::exit(1);
        }
    };
    breaker_runtime::metrics::describe();
    match serve_observability(recorder).await {
        Ok(base) => {
            println!("metrics: {base}/metrics   health: {base}/health/circuit-breakers");
            println!("dashboard: {base}/circuit-breakers/dashboard   (watch it live with --duration 60)");
        }
        Err(e) => eprintln!("not serving metrics: {e}"),
    }
    let mut stdout = std::io::stdout();
    if let Err(e) = run(options, &mut stdout).await {
        eprintln!("quickstart failed: {e}");
        std::process::exit(1);
    }
}

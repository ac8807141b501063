//! Shared pieces of the runnable examples: a flaky HTTP service whose behaviour follows a
//! schedule, latency statistics, and the outage harness.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, going on with the data when a panicking holder poisoned it.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub mod flaky {
    //! A loopback HTTP service that is healthy, fails, hangs, slows down or goes away on a
    //! schedule.
    //!
    //! [`spawn`] starts one that runs until the process ends; [`start`] returns a
    //! [`Dependency`] that can be stopped (and its task joined), which is what the outage
    //! harness uses.

    use std::future::IntoFuture;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use tokio::net::TcpListener;
    use tokio::sync::watch;
    use tokio::task::JoinHandle;
    use tokio::time::Instant;

    /// What the service does during one phase.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub enum Behaviour {
        /// Answers 200 at once.
        Healthy,
        /// Answers 503 at once.
        Failing,
        /// Accepts the request and never answers.
        Hanging,
        /// Answers 200 after this delay.
        Slow(Duration),
        /// Answers 503 to this share of requests (deterministically spread), 200 to the rest.
        Partial(f64),
        /// Not listening: connections are refused. Only [`start`] and [`spawn`] services
        /// honour it (the listener is closed for the phase and reopened on the same port).
        Down,
    }

    impl Behaviour {
        /// A short label for timelines.
        pub fn label(&self) -> String {
            match self {
                Behaviour::Healthy => "healthy".into(),
                Behaviour::Failing => "failing (503)".into(),
                Behaviour::Hanging => "hanging".into(),
                Behaviour::Slow(d) => format!("slow ({} ms)", d.as_millis()),
                Behaviour::Partial(p) => format!("partial ({:.0}% fail)", p * 100.0),
                Behaviour::Down => "down (refused)".into(),
            }
        }
    }

    /// Phases as (start offset, behaviour), in order; the first starts at zero.
    #[derive(Debug, Clone)]
    pub struct Schedule(pub Vec<(Duration, Behaviour)>);

    impl Schedule {
        /// The behaviour at `elapsed` since the service started.
        pub fn at(&self, elapsed: Duration) -> Behaviour {
            self.0.iter().take_while(|(start, _)| *start <= elapsed).last().map_or(Behaviour::Healthy, |(_, b)| *b)
        }

        /// When the first phase after `elapsed` whose behaviour satisfies `f` starts.
        pub fn next_start(&self, elapsed: Duration, f: impl Fn(Behaviour) -> bool) -> Option<Duration> {
            self.0.iter().find(|(start, b)| *start > elapsed && f(*b)).map(|(start, _)| *start)
        }
    }

    /// A running flaky service.
    #[derive(Debug, Clone)]
    pub struct Flaky {
        /// Where it listens.
        pub addr: SocketAddr,
        /// Requests that reached it.
        pub hits: Arc<AtomicU64>,
        /// When its schedule started.
        pub started: Instant,
    }

    #[derive(Clone)]
    struct AppState {
        schedule: Arc<Schedule>,
        started: Instant,
        hits: Arc<AtomicU64>,
        messages: Arc<Mutex<Vec<u64>>>,
    }

    /// A post, as the service returns it.
    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
    pub struct Post {
        /// The author.
        pub user: u64,
        /// The text.
        pub text: String,
    }

    /// Applies the current behaviour to one request: `Err` is the status to fail with.
    async fn behave(state: &AppState) -> Result<(), StatusCode> {
        let n = state.hits.fetch_add(1, Ordering::Relaxed);
        match state.schedule.at(state.started.elapsed()) {
            Behaviour::Healthy | Behaviour::Down => Ok(()),
            Behaviour::Failing => Err(StatusCode::SERVICE_UNAVAILABLE),
            Behaviour::Hanging => std::future::pending().await,
            Behaviour::Slow(d) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
            Behaviour::Partial(p) => {
                // Spread failures evenly: request n fails when it crosses a multiple of 1/p.
                #[allow(clippy::cast_precision_loss)]
                let crossed = ((n + 1) as f64 * p).floor() > (n as f64 * p).floor();
                if crossed {
                    Err(StatusCode::SERVICE_UNAVAILABLE)
                } else {
                    Ok(())
                }
            }
        }
    }

    async fn posts(State(state): State<AppState>, Path(user): Path<u64>) -> Result<Json<Vec<Post>>, StatusCode> {
        behave(&state).await?;
        Ok(Json(vec![Post { user, text: format!("hello from user {user}") }]))
    }

    /// A broker endpoint: records the message's sequence number when it answers 204.
    async fn message(State(state): State<AppState>, Path(seq): Path<u64>) -> StatusCode {
        if let Err(status) = behave(&state).await {
            return status;
        }
        crate::lock(&state.messages).push(seq);
        StatusCode::NO_CONTENT
    }

    /// A flaky service that can be stopped: [`start`] returns it.
    #[derive(Debug)]
    pub struct Dependency {
        /// Where it listens, its hit counter and when its schedule started.
        pub flaky: Flaky,
        /// Sequence numbers accepted by `POST /messages/{seq}`, in arrival order.
        pub messages: Arc<Mutex<Vec<u64>>>,
        stop: watch::Sender<bool>,
        task: JoinHandle<std::io::Result<()>>,
    }

    impl Dependency {
        /// Stops listening, gives open requests a second to finish, drops the rest and joins
        /// the server task.
        pub async fn stop(self) -> std::io::Result<()> {
            let _ = self.stop.send(true);
            match self.task.await {
                Ok(result) => result,
                Err(e) => Err(std::io::Error::other(e)),
            }
        }

        /// Lets it run until the process ends.
        pub fn detach(self) -> Flaky {
            self.flaky
        }
    }

    /// Starts the service on a loopback port chosen by the OS. It serves `GET /posts/{user}`
    /// and `POST /messages/{seq}`, both following `schedule`, whose offsets count from
    /// `started` (pass `Instant::now()`, or one instant shared by services that must change
    /// together).
    pub async fn start(schedule: Schedule, started: Instant) -> std::io::Result<Dependency> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let hits = Arc::new(AtomicU64::new(0));
        let messages = Arc::new(Mutex::new(Vec::new()));
        let state = AppState { schedule: Arc::new(schedule), started, hits: hits.clone(), messages: messages.clone() };
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(listener, state, stopped));
        Ok(Dependency { flaky: Flaky { addr, hits, started }, messages, stop, task })
    }

    /// Starts the service on a loopback port chosen by the OS; it runs until the process ends.
    pub async fn spawn(schedule: Schedule) -> std::io::Result<Flaky> {
        Ok(start(schedule, Instant::now()).await?.detach())
    }

    /// Resolves once `stop` is set (never, if its sender is dropped without setting it).
    async fn stopped(stop: &mut watch::Receiver<bool>) {
        if stop.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Serves, closing the listener for every `Down` phase and reopening it on the same port.
    async fn run(listener: TcpListener, state: AppState, mut stop: watch::Receiver<bool>) -> std::io::Result<()> {
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/posts/{user}", get(posts))
            .route("/messages/{seq}", post(message))
            .with_state(state.clone());
        let (schedule, started) = (state.schedule.clone(), state.started);
        let mut listener = Some(listener);
        // Each pass serves one up period or waits out one down period: bounded by the phases.
        for _ in 0..=2 * schedule.0.len() {
            let now = started.elapsed();
            if schedule.at(now) == Behaviour::Down {
                drop(listener.take());
                let up = schedule.next_start(now, |b| b != Behaviour::Down);
                tokio::select! {
                    () = stopped(&mut stop) => return Ok(()),
                    () = sleep_until_offset(started, up) => {}
                }
                continue;
            }
            let listener = match listener.take() {
                Some(listener) => listener,
                None => rebind(addr).await?,
            };
            let down = schedule.next_start(now, |b| b == Behaviour::Down);
            let (drain, drained) = tokio::sync::oneshot::channel::<()>();
            let serve = axum::serve(listener, app.clone()).with_graceful_shutdown(async move {
                let _ = drained.await;
            });
            let mut serve = std::pin::pin!(serve.into_future());
            let stopping = tokio::select! {
                result = &mut serve => return result,
                () = stopped(&mut stop) => true,
                () = sleep_until_offset(started, down) => false,
            };
            // Close the listener and idle connections; requests still open (a hanging phase)
            // get a second, then are dropped with the server future.
            let _ = drain.send(());
            let _ = tokio::time::timeout(Duration::from_secs(1), &mut serve).await;
            if stopping {
                return Ok(());
            }
        }
        stopped(&mut stop).await;
        Ok(())
    }

    async fn sleep_until_offset(started: Instant, offset: Option<Duration>) {
        match offset {
            Some(offset) => tokio::time::sleep_until(started + offset).await,
            None => std::future::pending().await,
        }
    }

    /// Binds `addr` again after a down phase; the old socket may linger for a moment.
    async fn rebind(addr: SocketAddr) -> std::io::Result<TcpListener> {
        let mut last = None;
        for _ in 0..50 {
            match TcpListener::bind(addr).await {
                Ok(listener) => return Ok(listener),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("cannot rebind")))
    }
}

pub mod fleet;
pub mod harness;

pub mod stats {
    //! Latency percentiles.

    use std::time::Duration;

    /// Collected latencies.
    #[derive(Debug, Default, Clone)]
    pub struct Latencies(Vec<Duration>);

    impl Latencies {
        /// Adds one sample.
        pub fn record(&mut self, d: Duration) {
            self.0.push(d);
        }
        /// Samples recorded.
        pub fn len(&self) -> usize {
            self.0.len()
        }
        /// True when empty.
        pub fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
        /// The `q` quantile (0..=1), or zero when empty.
        pub fn quantile(&self, q: f64) -> Duration {
            if self.0.is_empty() {
                return Duration::ZERO;
            }
            let mut v = self.0.clone();
            v.sort_unstable();
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
            let i = ((v.len() - 1) as f64 * q).round() as usize;
            v[i.min(v.len() - 1)]
        }
        /// The largest sample.
        pub fn max(&self) -> Duration {
            self.0.iter().copied().max().unwrap_or_default()
        }
    }

    /// Formats a duration as milliseconds with one decimal.
    pub fn ms(d: Duration) -> String {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    }
}

pub mod timeline {
    //! The transition lines the examples print as they happen.

    use breaker_runtime::{Event, Transition};
    use tokio::sync::broadcast::Receiver;
    use tokio::time::Instant;

    /// `[  4.3s] breaker `content-service`: closed → open (5 consecutive failures (threshold 5))`.
    pub fn line(started: Instant, t: &Transition) -> String {
        format!(
            "[{:>5.1}s] breaker `{}`: {} → {} ({})",
            started.elapsed().as_secs_f64(),
            t.name,
            t.from,
            t.to,
            t.reason
        )
    }

    /// Prints every transition waiting in `events` and appends its line to `lines`.
    pub fn drain(events: &mut Receiver<Event>, started: Instant, lines: &mut Vec<String>) {
        while let Ok(event) = events.try_recv() {
            if let Event::Transition(t) = event {
                let line = line(started, &t);
                println!("{line}");
                lines.push(line);
            }
        }
    }
}

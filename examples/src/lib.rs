//! Shared pieces of the runnable examples: a flaky HTTP service whose behaviour follows a
//! schedule, and latency statistics.

pub mod flaky {
    //! A loopback HTTP service that is healthy, fails, hangs or slows down on a schedule.

    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::routing::get;
    use axum::{Json, Router};
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
    }

    /// A post, as the service returns it.
    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
    pub struct Post {
        /// The author.
        pub user: u64,
        /// The text.
        pub text: String,
    }

    async fn posts(State(state): State<AppState>, Path(user): Path<u64>) -> Result<Json<Vec<Post>>, StatusCode> {
        let n = state.hits.fetch_add(1, Ordering::Relaxed);
        match state.schedule.at(state.started.elapsed()) {
            Behaviour::Healthy => {}
            Behaviour::Failing => return Err(StatusCode::SERVICE_UNAVAILABLE),
            Behaviour::Hanging => std::future::pending::<()>().await,
            Behaviour::Slow(d) => tokio::time::sleep(d).await,
            Behaviour::Partial(p) => {
                // Spread failures evenly: request n fails when it crosses a multiple of 1/p.
                #[allow(clippy::cast_precision_loss)]
                let crossed = ((n + 1) as f64 * p).floor() > (n as f64 * p).floor();
                if crossed {
                    return Err(StatusCode::SERVICE_UNAVAILABLE);
                }
            }
        }
        Ok(Json(vec![Post { user, text: format!("hello from user {user}") }]))
    }

    /// Starts the service on a loopback port chosen by the OS.
    pub async fn spawn(schedule: Schedule) -> std::io::Result<Flaky> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let hits = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let state = AppState { schedule: Arc::new(schedule), started, hits: hits.clone() };
        let app = Router::new().route("/posts/{user}", get(posts)).with_state(state);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Flaky { addr, hits, started })
    }
}

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

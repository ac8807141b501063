//! One replica process: a registry with one breaker in front of the dependency, steady load,
//! and (unless independent) a fleet link. It prints one JSON line per thing that happened.

use std::sync::Arc;
use std::time::Duration;

use breaker_redis::{Fleet, FleetConfig, FleetPolicy};
use breaker_runtime::{Config, Outcome, Registry};
use serde::{Deserialize, Serialize};

use super::unix_ms;

/// What a replica is told on its command line (one JSON argument).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicaArgs {
    /// Its index; 0 is the hot one.
    pub index: usize,
    /// Calls per second.
    pub rate: u32,
    /// `None`: independent breakers.
    pub policy: Option<String>,
    /// The Redis URL.
    pub redis: String,
    /// The dependency's address.
    pub dependency: String,
    /// Unix ms when the load starts; every time reported counts from it.
    pub t0: f64,
    /// How long the load runs, ms.
    pub run_ms: u64,
    /// The breaker's open wait, ms.
    pub wait_ms: u64,
}

/// One line a replica prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Line {
    /// The fleet link is up and the load may start.
    Ready,
    /// A state change.
    State {
        /// When, ms from the start of the load.
        t: f64,
        /// The state entered.
        to: String,
        /// Why (a reason label).
        reason: String,
    },
    /// First seen sensitised (hint).
    Sensitised {
        /// When.
        t: f64,
    },
    /// A probe went out.
    Probe {
        /// When.
        t: f64,
    },
    /// The fleet link changed.
    Link {
        /// When.
        t: f64,
        /// Up or down.
        up: bool,
    },
    /// At the end: the calls, and their latencies in microseconds.
    Summary {
        /// Calls started.
        calls: u64,
        /// Calls that succeeded.
        ok: u64,
        /// Calls that failed at the dependency.
        failed: u64,
        /// Calls the breaker rejected.
        rejected: u64,
        /// The slowest breaker decision (`try_acquire`).
        decide_max_us: f64,
        /// The 99th percentile of whole calls.
        call_p99_us: f64,
        /// The slowest whole call.
        call_max_us: f64,
    },
}

fn emit(line: &Line) {
    println!("{}", serde_json::to_string(line).unwrap_or_default());
}

/// The breaker's configuration in every replica.
pub fn config(wait: Duration) -> breaker_runtime::ConfigBuilder {
    Config::builder()
        .failure_rate(0.5)
        .count_window(20)
        .minimum_calls(10)
        .consecutive_failures(0)
        .wait(wait)
        .jitter(0.0)
        .half_open_permits(1)
        .success_threshold(1)
}

/// Runs one replica until its load ends.
pub async fn run(args: ReplicaArgs) -> Result<(), String> {
    let rel = move || unix_ms() - args.t0;
    let registry = Registry::builder()
        .metrics(false)
        .default_config(config(Duration::from_millis(args.wait_ms)))
        .build()
        .map_err(|e| e.to_string())?;
    let breaker = registry.breaker("dependency");
    registry.on_transition(move |t| {
        emit(&Line::State { t: rel(), to: t.to.as_str().into(), reason: t.reason.as_str().into() });
    });
    let fleet = match &args.policy {
        Some(policy) => {
            let policy: FleetPolicy = policy.parse()?;
            let mut config = FleetConfig::new(args.redis.clone())
                .prefix("harness")
                .instance_id(format!("replica-{}", args.index))
                .policy(policy)
                .lease_ttl(Duration::from_millis(args.wait_ms));
            config.reconnect_max = Duration::from_millis(500);
            let fleet = Fleet::attach(&registry, config).map_err(|e| e.to_string())?;
            for _ in 0..500 {
                if fleet.link_up() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Some(Arc::new(fleet))
        }
        None => None,
    };
    emit(&Line::Ready);
    let wait_start = Duration::from_secs_f64(((args.t0 - unix_ms()) / 1000.0).max(0.0));
    tokio::time::sleep(wait_start).await;

    // Watchers: sensitisation and the link, polled every millisecond.
    let watcher = {
        let breaker = breaker.clone();
        let fleet = fleet.clone();
        tokio::spawn(async move {
            let (mut sensitised, mut up) = (false, fleet.as_ref().is_some_and(|f| f.link_up()));
            loop {
                let now = breaker.core().sensitised_for().is_some();
                if now && !sensitised {
                    emit(&Line::Sensitised { t: rel() });
                }
                sensitised = now;
                if let Some(fleet) = &fleet {
                    if fleet.link_up() != up {
                        up = !up;
                        emit(&Line::Link { t: rel(), up });
                    }
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };

    let http = reqwest::Client::builder().timeout(Duration::from_secs(1)).build().map_err(|e| e.to_string())?;
    let url = format!("http://{}/call/{}", args.dependency, args.index);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Option<bool>, f64, f64)>();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(args.rate)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let end = tokio::time::Instant::now() + Duration::from_millis(args.run_ms);
    while tokio::time::Instant::now() < end {
        tick.tick().await;
        let (breaker, http, url, tx) = (breaker.clone(), http.clone(), url.clone(), tx.clone());
        tokio::spawn(async move {
            let start = std::time::Instant::now();
            let permit = breaker.core().try_acquire_detached();
            let decided = start.elapsed().as_secs_f64() * 1e6;
            let permit = match permit {
                Ok(permit) => permit,
                Err(_) => {
                    let _ = tx.send((None, decided, start.elapsed().as_secs_f64() * 1e6));
                    return;
                }
            };
            if permit.is_probe() {
                emit(&Line::Probe { t: rel() });
            }
            let ok = matches!(http.get(&url).send().await, Ok(r) if r.status().is_success());
            breaker.core().finish_detached(permit, Some(if ok { Outcome::Success } else { Outcome::Failure }));
            let _ = tx.send((Some(ok), decided, start.elapsed().as_secs_f64() * 1e6));
        });
    }
    drop(tx);
    let (mut calls, mut ok, mut failed, mut rejected) = (0, 0, 0, 0);
    let (mut decide_max, mut latencies) = (0f64, Vec::new());
    while let Some((outcome, decided, total)) = rx.recv().await {
        calls += 1;
        decide_max = decide_max.max(decided);
        match outcome {
            Some(true) => ok += 1,
            Some(false) => failed += 1,
            None => rejected += 1,
        }
        latencies.push(total);
    }
    latencies.sort_by(f64::total_cmp);
    let p99 = latencies.get(latencies.len().saturating_sub(1) * 99 / 100).copied().unwrap_or(0.0);
    let max = latencies.last().copied().unwrap_or(0.0);
    emit(&Line::Summary { calls, ok, failed, rejected, decide_max_us: decide_max, call_p99_us: p99, call_max_us: max });
    watcher.abort();
    if let Some(fleet) = fleet {
        if let Ok(fleet) = Arc::try_unwrap(fleet) {
            fleet.shutdown().await;
        }
    }
    Ok(())
}

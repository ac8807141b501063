//! The fleet harness: six replica processes against one flaky dependency, with independent
//! breakers and with `breaker-redis`, side by side. See `src/bin/fleet.rs`.

mod dependency;
mod redis;
pub mod replica;
mod report;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

pub use dependency::{Dependency, Mode as DependencyMode, PARTITIONED};
pub use redis::RedisServer;
pub use replica::{Line, ReplicaArgs};
pub use report::{Check, Report, RunResult};

/// Replicas in the fleet.
pub const REPLICAS: usize = 6;
/// Calls per second of the five ordinary replicas; replica 0 runs at ten times this.
pub const RATE: u32 = 20;

/// Unix time in milliseconds: one clock for every process on the host.
pub fn unix_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// The scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scenario {
    /// The dependency dies and stays dead.
    Down,
    /// The dependency is dead, then comes back.
    Recovery,
    /// The dependency flaps.
    Flapping,
    /// Replica 5's network to the dependency is broken; the others are fine.
    Partition,
    /// Redis is killed in the middle of an outage, then restarted.
    RedisKilled,
    /// Redis stops answering for a while (`DEBUG SLEEP`) during an outage.
    RedisSlow,
}

impl Scenario {
    /// Every scenario, in report order.
    pub const ALL: [Scenario; 6] = [
        Scenario::Down,
        Scenario::Recovery,
        Scenario::Flapping,
        Scenario::Partition,
        Scenario::RedisKilled,
        Scenario::RedisSlow,
    ];

    /// Its name on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Down => "down",
            Scenario::Recovery => "recovery",
            Scenario::Flapping => "flapping",
            Scenario::Partition => "partition",
            Scenario::RedisKilled => "redis-killed",
            Scenario::RedisSlow => "redis-slow",
        }
    }

    /// The policies it runs under (`None`: independent breakers).
    pub fn variants(self) -> Vec<Option<&'static str>> {
        match self {
            Scenario::Down => vec![None, Some("hint"), Some("any")],
            _ => vec![None, Some("hint")],
        }
    }

    /// (run length, open wait, steps), in milliseconds at scale 1.
    fn script(self) -> (u64, u64, Vec<(u64, Step)>) {
        use DependencyMode::{Down, Partitioned, Up};
        match self {
            Scenario::Down => (2500, 1000, vec![(0, Step::Dep(Up)), (500, Step::Dep(Down))]),
            Scenario::Recovery => (3000, 600, vec![(0, Step::Dep(Down)), (1200, Step::Dep(Up))]),
            Scenario::Flapping => {
                let steps = (0..10).map(|i| (i * 300, Step::Dep(if i % 2 == 0 { Up } else { Down }))).collect();
                (3000, 500, steps)
            }
            Scenario::Partition => (2500, 1000, vec![(0, Step::Dep(Partitioned))]),
            Scenario::RedisKilled => (
                3000,
                700,
                vec![
                    (0, Step::Dep(Up)),
                    (500, Step::Dep(Down)),
                    (800, Step::KillRedis),
                    (1800, Step::RestartRedis),
                    (2500, Step::Dep(Up)),
                ],
            ),
            Scenario::RedisSlow => {
                (2500, 700, vec![(0, Step::Dep(Up)), (500, Step::Dep(Down)), (1000, Step::SlowRedis(800))])
            }
        }
    }
}

/// One step of a scenario's script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Switch the dependency.
    Dep(DependencyMode),
    /// Kill Redis.
    KillRedis,
    /// Start Redis again, same port, empty.
    RestartRedis,
    /// Make Redis answer nothing for this many ms.
    SlowRedis(u64),
}

/// How to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `fleet` binary, started once per replica with `--replica`.
    pub exe: PathBuf,
    /// Scenarios to run (empty: all).
    pub only: Vec<Scenario>,
    /// Time scale: 1 for the short mode, more for the full run.
    pub scale: u64,
}

/// Runs the scenarios and returns the report.
pub async fn run(options: &Options) -> Result<Report, String> {
    let mut redis = RedisServer::start()?;
    let dependency = Dependency::start().await.map_err(|e| format!("dependency: {e}"))?;
    let mut runs = Vec::new();
    for scenario in Scenario::ALL {
        let wanted = options.only.is_empty() || options.only.contains(&scenario);
        if !wanted {
            continue;
        }
        for policy in scenario.variants() {
            runs.push(run_one(options, scenario, policy, &mut redis, &dependency).await?);
        }
    }
    Ok(Report { runs })
}

async fn run_one(
    options: &Options,
    scenario: Scenario,
    policy: Option<&'static str>,
    redis: &mut RedisServer,
    dependency: &Dependency,
) -> Result<RunResult, String> {
    let (run_ms, wait_ms, steps) = scenario.script();
    let (run_ms, wait_ms) = (run_ms * options.scale, wait_ms * options.scale);
    let steps: Vec<(u64, Step)> = steps.into_iter().map(|(at, s)| (at * options.scale, s)).collect();
    redis.kill();
    redis.restart()?;
    dependency.set(DependencyMode::Up);
    dependency.clear();
    // Time for six processes to start and link up (they report `Ready` within a few ms here).
    let t0 = unix_ms() + 600.0;
    let mut children = Vec::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Line)>();
    for index in 0..REPLICAS {
        let args = ReplicaArgs {
            index,
            rate: if index == 0 { RATE * 10 } else { RATE },
            policy: policy.map(str::to_owned),
            redis: redis.url(),
            dependency: dependency.addr.to_string(),
            t0,
            run_ms,
            wait_ms,
        };
        let json = serde_json::to_string(&args).map_err(|e| e.to_string())?;
        let mut child = Command::new(&options.exe)
            .arg("--replica")
            .arg(json)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("spawn replica: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(parsed) = serde_json::from_str::<Line>(&line) {
                    let _ = tx.send((index, parsed));
                }
            }
        });
        children.push(child);
    }
    drop(tx);
    let mut marks = BTreeMap::new();
    for (at, step) in &steps {
        sleep_until_ms(t0 + *at as f64).await;
        marks.insert(*at, *step);
        match step {
            Step::Dep(mode) => dependency.set(*mode),
            Step::KillRedis => redis.kill(),
            Step::RestartRedis => redis.restart()?,
            Step::SlowRedis(ms) => redis.send(&format!("DEBUG SLEEP {:.3}", *ms as f64 / 1000.0)),
        }
    }
    for mut child in children {
        let status = tokio::time::timeout(Duration::from_millis(run_ms + 10_000), child.wait())
            .await
            .map_err(|_| format!("{}: a replica did not finish", scenario.name()))?
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("{}: a replica failed: {status}", scenario.name()));
        }
    }
    let mut lines = Vec::new();
    while let Ok(Some(line)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
        lines.push(line);
    }
    let requests: Vec<(f64, usize)> = crate::lock(&dependency.log).iter().map(|(t, r)| (t - t0, *r)).collect();
    Ok(RunResult::new(scenario, policy, run_ms as f64, wait_ms as f64, steps, lines, requests))
}

async fn sleep_until_ms(at: f64) {
    let left = at - unix_ms();
    if left > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(left / 1000.0)).await;
    }
}

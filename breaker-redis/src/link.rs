//! The background task: one Redis connection for commands and one subscription, reconnected
//! together with backoff, resynced from the open keys, and never on a call's path.

use std::collections::BTreeMap;
use std::time::Duration;

use breaker_runtime::{Name, Transition};
use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use tokio::sync::{mpsc, watch};
use tokio::time::{timeout, Instant};

use crate::message::{Kind, Message};
use crate::node::{Action, LeaseAnswer, Node};
use crate::stats::Stats;

/// Takes the lease if free: `{token, ttl}`; else `{0, pttl}` of the holder's lease.
const ACQUIRE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, redis.call('PTTL', KEYS[1])} end
local token = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], 86400000)
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
return {token, tonumber(ARGV[2])}
";

/// Publishes a verdict only while the lease with this fencing token is still ours, then
/// releases it: a prober whose lease expired cannot overrule the next one.
const VERDICT: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', KEYS[2], ARGV[2])
return 1
";

/// Most distinct errors warned about per outage; more are logged at debug level.
const WARNED: usize = 8;

/// How often an idle link checks that Redis still answers.
const HEARTBEAT: Duration = Duration::from_secs(1);

pub(crate) struct Link {
    pub(crate) node: Node,
    pub(crate) client: redis::Client,
    pub(crate) local: mpsc::Receiver<Transition>,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) stats: Stats,
    /// Lease attempts due: when, and for which breaker's open period.
    pub(crate) timers: BTreeMap<(Instant, u64), (Name, u64)>,
    pub(crate) timer_seq: u64,
}

enum Down {
    Shutdown,
    Trouble(String),
}

impl Link {
    pub(crate) async fn run(mut self) {
        let mut backoff = self.node.config().reconnect_min;
        let instance = self.node.config().instance_id.clone();
        // The troubles warned about since the link was last up: a cause that repeats at every
        // reconnect (a refused password, a refused certificate) is warned about once, then
        // logged at debug level.
        let mut warned: Vec<String> = Vec::new();
        loop {
            match self.connected().await {
                Down::Shutdown => break,
                Down::Trouble(why) => {
                    if self.stats.link_up() {
                        tracing::warn!(instance = %instance, error = %why, "circuit breaker fleet link down: breakers judge locally until it returns");
                        warned.clear();
                        warned.push(why);
                    } else if !warned.contains(&why) && warned.len() < WARNED {
                        tracing::warn!(instance = %instance, error = %why, "circuit breaker fleet link cannot connect: breakers judge locally; retrying with backoff");
                        warned.push(why);
                    } else {
                        tracing::debug!(instance = %instance, error = %why, "circuit breaker fleet link still down");
                    }
                }
            }
            if self.stats.link_up() {
                backoff = self.node.config().reconnect_min;
            }
            self.stats.set_link(false);
            self.node.set_link(false);
            self.timers.clear();
            // Wait before reconnecting, still hearing local changes (nothing to publish them to).
            let until = Instant::now() + backoff;
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(until) => break,
                    t = self.local.recv() => match t {
                        Some(t) => { self.node.on_local(&t); }
                        None => return,
                    },
                    _ = self.shutdown.changed() => return,
                }
            }
            backoff = (backoff * 2).min(self.node.config().reconnect_max);
        }
        self.stats.set_link(false);
    }

    /// One connected period: returns when the link fails or on shutdown.
    async fn connected(&mut self) -> Down {
        let config = self.node.config().clone();
        let limit = config.command_timeout;
        let channel = config.channel();
        let trouble = |e: &dyn std::fmt::Display| Down::Trouble(e.to_string());
        let mut pubsub = match timeout(limit, self.client.get_async_pubsub()).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return trouble(&e),
            Err(_) => return trouble(&"timed out connecting"),
        };
        match timeout(limit, pubsub.subscribe(&channel)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return trouble(&e),
            Err(_) => return trouble(&"timed out subscribing"),
        }
        let mut messages = pubsub.into_on_message();
        let mut conn = match timeout(limit, self.client.get_multiplexed_async_connection()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return trouble(&e),
            Err(_) => return trouble(&"timed out connecting"),
        };
        // Subscribed first, then read the keys: an opening between the two is heard twice at
        // worst, never missed.
        if let Err(e) = self.resync(&mut conn).await {
            return Down::Trouble(e);
        }
        self.node.set_link(true);
        let actions = self.node.republish();
        if let Err(e) = self.perform(&mut conn, actions).await {
            return Down::Trouble(e);
        }
        self.stats.set_link(true);
        tracing::info!(fleet = %config.describe(), "circuit breaker fleet link up");
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        loop {
            let next_timer = self.timers.keys().next().map(|(at, _)| *at);
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else { return Down::Trouble("subscription closed".into()) };
                    match Message::decode(message.get_payload_bytes(), config.max_message_bytes) {
                        Ok(m) => {
                            let actions = self.node.on_message(&m);
                            if let Err(e) = self.perform(&mut conn, actions).await { return Down::Trouble(e) }
                        }
                        Err(ignored) => self.stats.count(ignored.as_str()),
                    }
                }
                t = self.local.recv() => {
                    let Some(t) = t else { return Down::Shutdown };
                    let actions = self.node.on_local(&t);
                    if let Err(e) = self.perform(&mut conn, actions).await { return Down::Trouble(e) }
                }
                () = sleep_until_opt(next_timer) => {
                    let Some((key, (breaker, episode))) = self.timers.pop_first() else { continue };
                    let _ = key;
                    if !self.node.wants_lease(&breaker, episode) { continue }
                    let answer = match self.acquire(&mut conn, &breaker).await {
                        Ok(answer) => answer,
                        Err(e) => return Down::Trouble(e),
                    };
                    let actions = self.node.on_lease(&breaker, episode, answer);
                    if let Err(e) = self.perform(&mut conn, actions).await { return Down::Trouble(e) }
                }
                _ = heartbeat.tick() => {
                    // Breakers are created on first use: apply what they missed.
                    let actions = self.node.adopt_pending();
                    if let Err(e) = self.perform(&mut conn, actions).await { return Down::Trouble(e) }
                    let ping = redis::cmd("PING");
                    match timeout(limit, ping.query_async::<String>(&mut conn)).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return trouble(&e),
                        Err(_) => return trouble(&"Redis did not answer a heartbeat in time"),
                    }
                }
                _ = self.shutdown.changed() => return Down::Shutdown,
            }
        }
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut key = format!("{}:fleet", self.node.config().prefix);
        for part in parts {
            key.push(':');
            key.push_str(part);
        }
        key
    }

    async fn perform(&mut self, conn: &mut MultiplexedConnection, actions: Vec<Action>) -> Result<(), String> {
        let config = self.node.config().clone();
        let limit = config.command_timeout;
        for action in actions {
            match action {
                Action::Open(m) => {
                    let payload = m.encode();
                    let ttl = m.remaining_ms.max(1);
                    let key = self.key(&["open", &m.breaker, &config.instance_id]);
                    let mut pipe = redis::pipe();
                    if m.kind == Kind::Open {
                        pipe.cmd("PUBLISH").arg(config.channel()).arg(&payload).ignore();
                    }
                    pipe.cmd("SET").arg(&key).arg(&payload).arg("PX").arg(ttl).ignore();
                    run(limit, pipe.query_async::<()>(conn)).await?;
                    self.stats.count("published");
                }
                Action::Forget(breaker) => {
                    let key = self.key(&["open", &breaker, &config.instance_id]);
                    run(limit, redis::cmd("DEL").arg(key).query_async::<i64>(conn)).await?;
                }
                Action::Verdict(m) => {
                    let lease = self.key(&["lease", &m.breaker]);
                    let holder = format!("{}:{}", config.instance_id, m.token);
                    let script = redis::Script::new(VERDICT);
                    let mut invocation = script.key(lease);
                    invocation.key(config.channel()).arg(holder).arg(m.encode());
                    let published: i64 = run(limit, invocation.invoke_async(conn)).await?;
                    self.stats.count(if published == 1 { "published" } else { "verdict_fenced_off" });
                }
                Action::TryLease { breaker, after, episode } => {
                    self.timer_seq += 1;
                    self.timers.insert((Instant::now() + after, self.timer_seq), (breaker, episode));
                }
            }
        }
        Ok(())
    }

    async fn acquire(&mut self, conn: &mut MultiplexedConnection, breaker: &Name) -> Result<LeaseAnswer, String> {
        let config = self.node.config().clone();
        let script = redis::Script::new(ACQUIRE);
        let mut invocation = script.key(self.key(&["lease", breaker]));
        invocation
            .key(self.key(&["fence", breaker]))
            .arg(&config.instance_id)
            .arg(u64::try_from(config.lease_ttl.as_millis()).unwrap_or(u64::MAX).max(1));
        let (token, ttl): (u64, i64) = run(config.command_timeout, invocation.invoke_async(conn)).await?;
        let left = Duration::from_millis(u64::try_from(ttl).unwrap_or(0));
        Ok(if token > 0 {
            self.stats.count("lease_won");
            LeaseAnswer::Won(token)
        } else {
            self.stats.count("lease_held_elsewhere");
            LeaseAnswer::Held(left)
        })
    }

    /// Reads every replica's open key and applies it as if just heard, with the key's TTL as
    /// the remaining wait.
    async fn resync(&mut self, conn: &mut MultiplexedConnection) -> Result<(), String> {
        let config = self.node.config().clone();
        let limit = config.command_timeout;
        let pattern = format!("{}:fleet:open:*", config.prefix);
        let mut cursor: u64 = 0;
        let mut keys = Vec::new();
        loop {
            let scan = redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(500).clone();
            let (next, batch): (u64, Vec<String>) = run(limit, scan.query_async(conn)).await?;
            keys.extend(batch);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        for key in keys {
            let mut pipe = redis::pipe();
            pipe.cmd("GET").arg(&key).cmd("PTTL").arg(&key);
            let (value, ttl): (Option<Vec<u8>>, i64) = run(limit, pipe.query_async(conn)).await?;
            let (Some(value), Ok(ttl @ 1..)) = (value, u64::try_from(ttl)) else {
                continue;
            };
            match Message::decode(&value, config.max_message_bytes) {
                Ok(mut m) if m.kind == Kind::Open || m.kind == Kind::Reopened => {
                    m.kind = Kind::Open;
                    m.remaining_ms = ttl;
                    self.stats.count("resynced");
                    let actions = self.node.on_message(&m);
                    self.perform(conn, actions).await?;
                }
                Ok(_) => self.stats.count("ignored_malformed"),
                Err(ignored) => self.stats.count(ignored.as_str()),
            }
        }
        Ok(())
    }
}

async fn run<T>(limit: Duration, f: impl std::future::Future<Output = redis::RedisResult<T>>) -> Result<T, String> {
    match timeout(limit, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("Redis did not answer within {limit:?}")),
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

//! `GET /circuit-breakers/events`: Server-Sent Events.
//!
//! Each connection holds one bounded receiver of the registry's events and one of the manual
//! changes. Nothing is queued for a client beyond those channels: when a client reads slowly
//! the channels overwrite its oldest events, and the next read yields a `lagged` event saying
//! how many it skipped. Calls never wait on a client, and never wake one: the stream does not
//! wait on the registry's channel (a wake-up per rejected call would cost the caller a thread
//! unpark) but empties it every 100 ms, so a transition reaches the client within about
//! 100 ms, and a burst of more events than the channel holds (1024) in 100 ms shows as
//! `lagged`. Manual changes made through the control route are sent at once.
//!
//! Events (`event:` name, `data:` JSON):
//! - `hello`: every breaker as in `GET /circuit-breakers`, first;
//! - `transition`: `{name, from, to, reason, at, at_unix_seconds, failure_rate, slow_call_rate}`;
//! - `manual`: `{name, from, to, origin, at}` for a change made through the control route;
//! - `threshold_exceeded`: `{name, reason, failure_rate, slow_call_rate}` (metrics-only mode);
//! - `rejections`: `{at_unix_seconds, counts: {name: n}}`, rejections per tick, only when some;
//! - `rates`: `{at_unix_seconds, breakers: [{name, state, failure_rate, slow_call_rate, calls_in_window}]}` each tick;
//! - `lagged`: `{skipped: n}` when this client fell behind and missed `n` events.

use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use breaker_runtime::{Event, Registry};
use futures_util::stream::{self, Stream};
use serde::Serialize;
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::time::{Interval, MissedTickBehavior};

use crate::control::ManualChange;
use crate::list::views;
use crate::time::{rfc3339, unix_seconds};
use crate::Admin;

/// How often a stream empties the registry's channel.
const DRAIN_EVERY: Duration = Duration::from_millis(100);
/// The most events one emptying takes (the channel holds 1024).
const DRAIN_AT_MOST: usize = 4096;

/// One client's stream.
struct Feed {
    registry: Registry,
    events: broadcast::Receiver<Event>,
    manual: broadcast::Receiver<ManualChange>,
    tick: Interval,
    /// Empties `events`.
    drain: Interval,
    /// Rejections since the last tick, per breaker (at most one entry per breaker).
    rejections: BTreeMap<String, u64>,
    /// Events ready to send; at most the few one step produces.
    ready: VecDeque<SseEvent>,
}

fn event(name: &str, data: &impl Serialize) -> SseEvent {
    SseEvent::default()
        .event(name)
        .data(serde_json::to_string(data).unwrap_or_else(|e| json!({"error": e.to_string()}).to_string()))
}

impl Feed {
    fn new(admin: &Admin) -> Self {
        let mut tick = tokio::time::interval(admin.options.tick_every());
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut drain = tokio::time::interval(admin.options.tick_every().min(DRAIN_EVERY));
        drain.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut ready = VecDeque::new();
        ready.push_back(event("hello", &json!({ "breakers": views(&admin.registry) })));
        Feed {
            registry: admin.registry.clone(),
            events: admin.registry.subscribe(),
            manual: admin.manual.subscribe(),
            tick,
            drain,
            rejections: BTreeMap::new(),
            ready,
        }
    }

    /// The next event to send, or `None` when the registry is gone.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(ready) = self.ready.pop_front() {
                return Some(ready);
            }
            tokio::select! {
                _ = self.drain.tick() => {
                    if !self.drain_events() {
                        return None;
                    }
                }
                received = self.manual.recv() => match received {
                    Ok(change) => self.ready.push_back(event("manual", &change)),
                    Err(RecvError::Lagged(skipped)) => self.ready.push_back(event("lagged", &json!({ "skipped": skipped }))),
                    Err(RecvError::Closed) => return None,
                },
                _ = self.tick.tick() => self.on_tick(),
            }
        }
    }

    /// Takes what the registry's channel holds now (at most its capacity and a little: the
    /// senders never wait, so this cannot fall behind forever). False when it is closed.
    fn drain_events(&mut self) -> bool {
        for _ in 0..DRAIN_AT_MOST {
            match self.events.try_recv() {
                Ok(event) => self.on_event(event),
                Err(TryRecvError::Lagged(skipped)) => {
                    self.ready.push_back(event("lagged", &json!({ "skipped": skipped })));
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => return false,
            }
        }
        true
    }

    fn on_event(&mut self, received: Event) {
        match received {
            Event::Transition(t) => {
                let now = SystemTime::now();
                self.ready.push_back(event(
                    "transition",
                    &json!({
                        "name": t.name.as_str(),
                        "from": t.from.as_str(),
                        "to": t.to.as_str(),
                        "reason": t.reason.to_string(),
                        "at": rfc3339(now),
                        "at_unix_seconds": unix_seconds(now),
                        "failure_rate": t.snapshot.failure_rate,
                        "slow_call_rate": t.snapshot.slow_call_rate,
                    }),
                ));
            }
            Event::Rejected(r) => {
                if let Some(n) = self.rejections.get_mut(r.name()) {
                    *n += 1;
                } else {
                    self.rejections.insert(r.name().to_owned(), 1);
                }
            }
            Event::ThresholdExceeded(e) => self.ready.push_back(event(
                "threshold_exceeded",
                &json!({
                    "name": e.name.as_str(),
                    "reason": e.reason.to_string(),
                    "failure_rate": e.snapshot.failure_rate,
                    "slow_call_rate": e.snapshot.slow_call_rate,
                }),
            )),
            Event::ConfigReloaded(changed) => self.ready.push_back(event(
                "config_reloaded",
                &json!({ "changed": changed.iter().map(|n| n.as_str()).collect::<Vec<_>>() }),
            )),
            Event::ConfigReloadFailed(errors) => {
                self.ready.push_back(event("config_reload_failed", &json!({ "errors": errors.to_string() })))
            }
            Event::DegradationChanged { from, to } => {
                self.ready.push_back(event("degradation", &json!({ "from": from.as_str(), "to": to.as_str() })))
            }
            _ => {} // kinds added later: not streamed until the dashboard knows them
        }
    }

    fn on_tick(&mut self) {
        let at = unix_seconds(SystemTime::now());
        if !self.rejections.is_empty() {
            let counts = std::mem::take(&mut self.rejections);
            self.ready.push_back(event("rejections", &json!({ "at_unix_seconds": at, "counts": counts })));
        }
        let breakers: Vec<_> = self
            .registry
            .breakers()
            .iter()
            .map(|b| {
                let s = b.snapshot();
                json!({
                    "name": b.name().as_str(),
                    "state": s.state.as_str(),
                    "failure_rate": s.failure_rate,
                    "slow_call_rate": s.slow_call_rate,
                    "calls_in_window": s.calls_in_window,
                })
            })
            .collect();
        self.ready.push_back(event("rates", &json!({ "at_unix_seconds": at, "breakers": breakers })));
    }
}

/// The event stream of this registry, with a keep-alive comment every 15 seconds.
pub(crate) async fn events(State(admin): State<Arc<Admin>>) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let feed = Feed::new(&admin);
    let stream = stream::unfold(feed, |mut feed| async move { feed.next().await.map(|e| (Ok(e), feed)) });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

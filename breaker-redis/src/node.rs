//! The fleet's logic without the network: what to publish when a local breaker changes, and
//! what to do with a message from another replica. Owned by the link task alone, so it needs
//! no lock, and it calls into breakers (whose listeners run user code) holding none.

use std::collections::HashMap;
use std::time::Duration;

use breaker_runtime::{FleetCause, InstanceId, Name, Reason, Registry, State, Transition};

use crate::config::{FleetConfig, FleetPolicy};
use crate::message::{Kind, Message};
use crate::stats::Stats;

/// Something the link task must do on Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Publish an opening and record it in this replica's open key, expiring with the wait.
    Open(Message),
    /// Delete this replica's open key for the breaker.
    Forget(Name),
    /// Publish a verdict if, and only if, the lease with this token is still ours; then
    /// release the lease.
    Verdict(Message),
    /// Try for the probe lease once `after` has passed, for this open period (`episode`).
    TryLease { breaker: Name, after: Duration, episode: u64 },
}

/// A lease attempt's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeaseAnswer {
    /// Ours, with this fencing token.
    Won(u64),
    /// Another replica holds it for this much longer.
    Held(Duration),
}

#[derive(Debug, Default)]
struct PerBreaker {
    /// Incremented at every opening: lease attempts of an earlier open period are stale.
    episode: u64,
    /// This replica's state-change messages for the breaker.
    generation: u64,
    /// Quorum: instances with a live open report, and until when (breaker clock).
    opens: HashMap<String, u64>,
    /// The highest fencing token of a verdict seen: older verdicts are stale.
    fence: u64,
    /// Our lease's token while we hold it.
    lease: Option<u64>,
    /// Our own opening while it lasts, to publish again after the link was down.
    own_open: Option<Message>,
}

/// The fleet logic of one registry.
#[derive(Debug)]
pub(crate) struct Node {
    registry: Registry,
    config: FleetConfig,
    breakers: HashMap<Name, PerBreaker>,
    /// Openings heard for breakers this replica has not created yet (breakers are created on
    /// first use), applied when they appear; bounded by [`PENDING`].
    pending: HashMap<String, (Message, std::time::Instant)>,
    link_up: bool,
    stats: Stats,
}

/// Most openings kept for breakers not created yet.
const PENDING: usize = 1024;

/// The slack added to a hold so the verdict has time to travel.
const VERDICT_SLACK: Duration = Duration::from_millis(500);

impl Node {
    pub(crate) fn new(registry: Registry, config: FleetConfig, stats: Stats) -> Self {
        Node { registry, config, pending: HashMap::new(), breakers: HashMap::new(), link_up: false, stats }
    }

    pub(crate) fn config(&self) -> &FleetConfig {
        &self.config
    }

    fn entry(&mut self, name: &Name) -> &mut PerBreaker {
        self.breakers.entry(name.clone()).or_default()
    }

    /// The link came up (after a resync) or went down. Down: every breaker falls back to local
    /// judgement at once (probe holds are lifted); no breaker changes state.
    pub(crate) fn set_link(&mut self, up: bool) {
        self.link_up = up;
        if !up {
            for per in self.breakers.values_mut() {
                per.lease = None;
                // Tokens count within one Redis's lifetime: a restarted or failed-over Redis
                // starts again from 1. The verdict script's check on the server still fences
                // off a prober whose lease the new Redis does not hold.
                per.fence = 0;
            }
            for breaker in self.registry.breakers() {
                breaker.core().release_probes();
            }
        }
    }

    /// A local breaker changed state: what to tell the fleet.
    pub(crate) fn on_local(&mut self, t: &Transition) -> Vec<Action> {
        let mut actions = Vec::new();
        // Everything the fleet caused, a sensitised replica's first failure included, is not
        // published again: every opening publishes once per episode, so fan-out stays linear.
        let adopted = matches!(t.reason, Reason::Fleet { .. });
        let remaining = t.snapshot.retry_after.unwrap_or_default();
        let instance = self.config.instance_id.clone();
        let per = self.entry(&t.name);
        let lease = per.lease.take();
        match t.to {
            State::Open => {
                per.generation += 1;
                let generation = per.generation;
                per.own_open = None;
                match lease {
                    Some(token) if t.from == State::HalfOpen && !adopted => {
                        let m = msg(Kind::Reopened, &t.name, &instance, generation, t.reason, remaining, token);
                        actions.push(Action::Verdict(m.clone()));
                        per.own_open = Some(m.clone());
                        actions.push(Action::Open(m));
                    }
                    _ if !adopted => {
                        let m = msg(Kind::Open, &t.name, &instance, generation, t.reason, remaining, 0);
                        per.own_open = Some(m.clone());
                        actions.push(Action::Open(m));
                    }
                    _ => {}
                }
                actions.extend(self.new_open_period(&t.name, remaining));
            }
            State::Closed => {
                per.generation += 1;
                per.own_open = None;
                if let (Some(token), State::HalfOpen, false) = (lease, t.from, adopted) {
                    let m = msg(Kind::Closed, &t.name, &instance, per.generation, t.reason, Duration::ZERO, token);
                    actions.push(Action::Verdict(m));
                }
                per.opens.clear();
                actions.push(Action::Forget(t.name.clone()));
            }
            State::HalfOpen => per.lease = lease, // probing under our lease
            State::ForcedOpen | State::Disabled | State::MetricsOnly => {
                per.own_open = None;
                actions.push(Action::Forget(t.name.clone()));
            }
        }
        actions
    }

    /// Keeps an opening for a breaker this replica has not created yet; a verdict replaces it
    /// (a close forgets it).
    fn keep_pending(&mut self, m: &Message) {
        let now = std::time::Instant::now();
        self.pending.retain(|_, (m, at)| now.duration_since(*at) < Duration::from_millis(m.remaining_ms));
        if m.kind == Kind::Closed {
            self.pending.remove(&m.breaker);
        } else if self.pending.len() < PENDING || self.pending.contains_key(&m.breaker) {
            self.pending.insert(m.breaker.clone(), (m.clone(), now));
        }
    }

    /// Applies the openings kept for breakers that exist now, with the wait they have left.
    pub(crate) fn adopt_pending(&mut self) -> Vec<Action> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        let now = std::time::Instant::now();
        let ready: Vec<String> =
            self.pending.keys().filter(|name| self.registry.get(name).is_some()).cloned().collect();
        let mut actions = Vec::new();
        for name in ready {
            let Some((mut m, at)) = self.pending.remove(&name) else { continue };
            let elapsed = u64::try_from(now.duration_since(at).as_millis()).unwrap_or(u64::MAX);
            if elapsed < m.remaining_ms {
                m.remaining_ms -= elapsed;
                self.stats.count("caught_up");
                actions.extend(self.on_message(&m));
            }
        }
        actions
    }

    /// After the link came back: our openings made or still running while it was down are
    /// published again with the wait they have left, and every open breaker starts a probe
    /// round with the fleet.
    pub(crate) fn republish(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        let names: Vec<Name> = self.breakers.keys().cloned().collect();
        for name in names {
            let Some(breaker) = self.registry.get(&name) else {
                continue;
            };
            let remaining = match breaker.snapshot() {
                s if s.state == State::Open => s.retry_after.unwrap_or_default(),
                _ => continue,
            };
            if let Some(own) = self.entry(&name).own_open.as_mut() {
                own.kind = Kind::Open;
                own.remaining_ms = u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX);
                actions.push(Action::Open(own.clone()));
            }
            actions.extend(self.new_open_period(&name, remaining));
        }
        actions
    }

    /// A lease attempt for `breaker`'s open period `episode` came back.
    pub(crate) fn on_lease(&mut self, breaker: &Name, episode: u64, answer: LeaseAnswer) -> Vec<Action> {
        let Some(local) = self.registry.get(breaker) else {
            return Vec::new();
        };
        let per = self.entry(breaker);
        if per.episode != episode || local.state() != State::Open {
            return Vec::new(); // a verdict or a newer opening came first
        }
        match answer {
            LeaseAnswer::Won(token) => {
                per.lease = Some(token);
                per.fence = per.fence.max(token);
                local.core().release_probes();
                Vec::new()
            }
            LeaseAnswer::Held(left) => {
                // Another replica probes: wait for its verdict, and try again when its lease
                // expires (a prober that died must not wedge the fleet).
                local.core().hold_probes(left + VERDICT_SLACK);
                vec![Action::TryLease { breaker: breaker.clone(), after: left, episode }]
            }
        }
    }

    /// Is a lease attempt for this open period still wanted?
    pub(crate) fn wants_lease(&self, breaker: &Name, episode: u64) -> bool {
        self.link_up
            && self.breakers.get(breaker).is_some_and(|p| p.episode == episode)
            && self.registry.get(breaker).is_some_and(|b| b.state() == State::Open)
    }

    /// A message from the channel, or an open key read at resync (`remaining` from its TTL).
    pub(crate) fn on_message(&mut self, m: &Message) -> Vec<Action> {
        if m.instance == self.config.instance_id {
            self.stats.count("ignored_own");
            return Vec::new();
        }
        let Some(breaker) = self.registry.get(&m.breaker) else {
            self.keep_pending(m);
            self.stats.count("ignored_unknown_breaker");
            return Vec::new();
        };
        let policy = self.config.policy_for(&m.breaker);
        if policy == FleetPolicy::Local {
            self.stats.count("ignored_local_policy");
            return Vec::new();
        }
        let instance = InstanceId::new(&m.instance);
        let remaining = Duration::from_millis(m.remaining_ms);
        let core = breaker.core();
        let now = core.clock().now_nanos();
        let name = breaker.name().clone();
        let per = self.entry(&name);
        match m.kind {
            Kind::Open => match policy {
                FleetPolicy::Hint => {
                    if core.sensitise(remaining, instance) {
                        self.stats.count("sensitised");
                    }
                }
                FleetPolicy::Any => {
                    core.adopt_open(remaining, instance, FleetCause::Opened);
                }
                FleetPolicy::Quorum(k) => {
                    let k = k.max(1);
                    let until = now.saturating_add(u64::try_from(remaining.as_nanos()).unwrap_or(u64::MAX));
                    per.opens.retain(|_, until| *until > now);
                    per.opens.insert(m.instance.clone(), until);
                    if per.opens.len() >= k as usize {
                        // Adopt for as long as the quorum holds: until the k-th longest report ends.
                        let mut ends: Vec<u64> = per.opens.values().copied().collect();
                        ends.sort_unstable_by(|a, b| b.cmp(a));
                        let wait = Duration::from_nanos(ends[k as usize - 1].saturating_sub(now));
                        core.adopt_open(wait, instance, FleetCause::Opened);
                    }
                }
                FleetPolicy::Local => {}
            },
            Kind::Closed | Kind::Reopened => {
                if m.token < per.fence {
                    self.stats.count("ignored_stale");
                    return Vec::new();
                }
                per.fence = m.token;
                if m.kind == Kind::Closed {
                    core.adopt_close(instance);
                } else if policy == FleetPolicy::Hint && breaker.state() == State::Closed {
                    core.sensitise(remaining, instance);
                } else if !core.adopt_open(remaining, instance, FleetCause::ProbeFailed)
                    && breaker.state() == State::Open
                {
                    // Already open and waiting for this verdict: the wait was extended in place,
                    // with no transition to start a new probe round, so start it here.
                    self.stats.count("applied");
                    return self.new_open_period(&name, remaining);
                }
            }
        }
        self.stats.count("applied");
        // A transition the message caused reaches `on_local` through the registry's events,
        // which starts its probe round.
        Vec::new()
    }

    /// A new open period of `breaker` with `remaining` wait: hold probes for the fleet's
    /// prober and try for the lease when the wait ends.
    fn new_open_period(&mut self, breaker: &Name, remaining: Duration) -> Vec<Action> {
        let per = self.entry(breaker);
        per.episode += 1;
        let episode = per.episode;
        if !(self.config.shared_probes && self.link_up) {
            return Vec::new();
        }
        if let Some(local) = self.registry.get(breaker) {
            local.core().hold_probes(remaining + self.config.lease_ttl + VERDICT_SLACK);
        }
        vec![Action::TryLease { breaker: breaker.clone(), after: remaining, episode }]
    }
}

fn msg(
    kind: Kind,
    breaker: &Name,
    instance: &str,
    generation: u64,
    reason: Reason,
    remaining: Duration,
    token: u64,
) -> Message {
    let remaining_ms = u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX);
    Message::new(kind, breaker, instance, generation, reason.as_str(), remaining_ms, token)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use breaker_runtime::testing::ManualClock;
    use breaker_runtime::{Config, Event};

    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    struct Setup {
        clock: ManualClock,
        registry: Registry,
        node: Node,
        seen: Arc<Mutex<Vec<Transition>>>,
    }

    fn setup(policy: FleetPolicy) -> Setup {
        let clock = ManualClock::new();
        let registry = Registry::builder()
            .clock(clock.clone())
            .metrics(false)
            .default_config(
                Config::builder().consecutive_failures(5).wait(secs(60)).half_open_permits(1).success_threshold(1),
            )
            .build()
            .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        registry.on_event(move |e| {
            if let Event::Transition(t) = e {
                sink.lock().unwrap().push(t.clone());
            }
        });
        registry.breaker("db");
        let config = FleetConfig::new("redis://unused").instance_id("me").policy(policy);
        let mut node = Node::new(registry.clone(), config, Stats::default());
        node.set_link(true);
        Setup { clock, registry, node, seen }
    }

    fn open_from(instance: &str, remaining: u64) -> Message {
        Message::new(Kind::Open, "db", instance, 1, "failure_rate", remaining * 1000, 0)
    }

    #[test]
    fn hint_sensitises_and_one_failure_opens_for_the_remaining_wait() {
        let mut s = setup(FleetPolicy::Hint);
        s.node.on_message(&open_from("peer", 30));
        let db = s.registry.get("db").unwrap();
        assert_eq!(db.state(), State::Closed);
        s.clock.advance(secs(10));
        db.core().try_acquire().unwrap().failure();
        assert_eq!(db.state(), State::Open);
        assert_eq!(db.core().try_acquire().unwrap_err().retry_after(), Some(secs(20)));
        let t = s.seen.lock().unwrap().last().unwrap().clone();
        assert_eq!(t.reason.as_str(), "fleet_sensitised");
        assert!(t.reason.to_string().contains("peer"));
    }

    #[test]
    fn any_adopts_and_the_adoption_is_not_published_again() {
        let mut s = setup(FleetPolicy::Any);
        s.node.on_message(&open_from("peer", 30));
        let db = s.registry.get("db").unwrap();
        assert_eq!(db.state(), State::Open);
        let t = s.seen.lock().unwrap()[0].clone();
        let actions = s.node.on_local(&t);
        assert_eq!(actions, [Action::TryLease { breaker: "db".into(), after: secs(30), episode: 1 }], "no echo");
        assert!(db.core().probes_held_for().is_some(), "held for the fleet's prober");
    }

    #[test]
    fn a_sensitised_open_is_not_published_again_so_fan_out_stays_linear() {
        let mut s = setup(FleetPolicy::Hint);
        s.node.on_message(&open_from("peer", 30));
        let db = s.registry.get("db").unwrap();
        db.core().try_acquire().unwrap().failure();
        let t = s.seen.lock().unwrap()[0].clone();
        assert_eq!(t.reason.as_str(), "fleet_sensitised");
        let actions = s.node.on_local(&t);
        assert!(!actions.iter().any(|a| matches!(a, Action::Open(_))), "{actions:?}");
        assert!(actions.iter().any(|a| matches!(a, Action::TryLease { .. })), "it still joins the probe round");
    }

    #[test]
    fn quorum_waits_for_k_distinct_live_reports() {
        let mut s = setup(FleetPolicy::Quorum(2));
        let db = s.registry.get("db").unwrap();
        s.node.on_message(&open_from("a", 30));
        s.node.on_message(&open_from("a", 30));
        assert_eq!(db.state(), State::Closed, "one replica twice is one report");
        s.clock.advance(secs(31));
        s.node.on_message(&open_from("b", 30));
        assert_eq!(db.state(), State::Closed, "a's report expired");
        s.node.on_message(&open_from("c", 10));
        assert_eq!(db.state(), State::Open);
        assert_eq!(db.core().try_acquire().unwrap_err().retry_after(), Some(secs(10)), "while the quorum holds");
    }

    #[test]
    fn local_ignores_the_fleet_and_own_messages_are_ignored() {
        let mut s = setup(FleetPolicy::Local);
        s.node.on_message(&open_from("peer", 30));
        let mut s2 = setup(FleetPolicy::Any);
        s2.node.on_message(&open_from("me", 30));
        assert_eq!(s.registry.get("db").unwrap().state(), State::Closed);
        assert_eq!(s2.registry.get("db").unwrap().state(), State::Closed);
        assert_eq!(s2.node.stats.snapshot().count("ignored_own"), 1);
    }

    #[test]
    fn a_local_open_is_published_and_held_for_the_lease() {
        let mut s = setup(FleetPolicy::Hint);
        let db = s.registry.get("db").unwrap();
        for _ in 0..5 {
            db.core().try_acquire().unwrap().failure();
        }
        let t = s.seen.lock().unwrap()[0].clone();
        let actions = s.node.on_local(&t);
        let Action::Open(m) = &actions[0] else { panic!("{actions:?}") };
        assert_eq!(
            (m.kind, m.instance.as_str(), m.remaining_ms, m.reason.as_str()),
            (Kind::Open, "me", 60_000, "consecutive_failures")
        );
        assert_eq!(actions[1], Action::TryLease { breaker: "db".into(), after: secs(60), episode: 1 });
        s.clock.advance(secs(60));
        assert!(db.core().try_acquire().is_err(), "no probe without the lease");
        assert_eq!(s.node.on_lease(&"db".into(), 1, LeaseAnswer::Won(7)), []);
        assert!(db.core().try_acquire().unwrap().is_probe());
    }

    #[test]
    fn the_lease_holders_verdict_is_published_with_its_token() {
        let mut s = setup(FleetPolicy::Hint);
        let db = s.registry.get("db").unwrap();
        for _ in 0..5 {
            db.core().try_acquire().unwrap().failure();
        }
        s.node.on_local(&s.seen.lock().unwrap()[0].clone());
        s.clock.advance(secs(60));
        s.node.on_lease(&"db".into(), 1, LeaseAnswer::Won(7));
        db.core().try_acquire().unwrap().success();
        let seen = s.seen.lock().unwrap().clone();
        assert_eq!(s.node.on_local(&seen[1]), [], "half-open: probing");
        let actions = s.node.on_local(&seen[2]);
        let Action::Verdict(m) = &actions[0] else { panic!("{actions:?}") };
        assert_eq!((m.kind, m.token), (Kind::Closed, 7));
        assert_eq!(actions[1], Action::Forget("db".into()));
    }

    #[test]
    fn a_lease_held_elsewhere_holds_probes_and_retries_at_its_expiry() {
        let mut s = setup(FleetPolicy::Any);
        s.node.on_message(&open_from("peer", 30));
        s.node.on_local(&s.seen.lock().unwrap()[0].clone());
        s.clock.advance(secs(30));
        let actions = s.node.on_lease(&"db".into(), 1, LeaseAnswer::Held(secs(4)));
        assert_eq!(actions, [Action::TryLease { breaker: "db".into(), after: secs(4), episode: 1 }]);
        let db = s.registry.get("db").unwrap();
        let rejected = db.core().try_acquire().unwrap_err();
        assert!(rejected.retry_after().unwrap() > secs(4) - Duration::from_millis(1));
        assert!(s.node.on_lease(&"db".into(), 0, LeaseAnswer::Won(1)).is_empty(), "stale episode");
    }

    #[test]
    fn verdicts_close_or_reopen_fleet_wide_and_stale_tokens_are_fenced_off() {
        let mut s = setup(FleetPolicy::Any);
        let db = s.registry.get("db").unwrap();
        s.node.on_message(&open_from("peer", 30));
        let reopen = Message::new(Kind::Reopened, "db", "peer", 2, "probe_failed", 90_000, 5);
        s.node.on_message(&reopen);
        assert_eq!(db.core().try_acquire().unwrap_err().retry_after(), Some(secs(90)));
        let stale = Message::new(Kind::Closed, "db", "old-prober", 9, "probes_succeeded", 0, 4);
        s.node.on_message(&stale);
        assert_eq!(db.state(), State::Open, "token 4 < 5: fenced off");
        assert_eq!(s.node.stats.snapshot().count("ignored_stale"), 1);
        s.node.on_message(&Message::new(Kind::Closed, "db", "peer", 3, "probes_succeeded", 0, 6));
        assert_eq!(db.state(), State::Closed);
        assert_eq!(s.seen.lock().unwrap().last().unwrap().reason.as_str(), "fleet_probes_succeeded");
    }

    #[test]
    fn fencing_tokens_start_again_with_a_new_redis() {
        let mut s = setup(FleetPolicy::Any);
        let db = s.registry.get("db").unwrap();
        s.node.on_message(&Message::new(Kind::Reopened, "db", "peer", 2, "probe_failed", 90_000, 5));
        s.node.set_link(false);
        s.node.set_link(true); // a restarted Redis counts tokens from 1 again
        s.node.on_message(&Message::new(Kind::Closed, "db", "peer", 3, "probes_succeeded", 0, 1));
        assert_eq!(db.state(), State::Closed);
    }

    #[test]
    fn a_link_going_down_lifts_holds_and_changes_no_state() {
        let mut s = setup(FleetPolicy::Any);
        let db = s.registry.get("db").unwrap();
        s.node.on_message(&open_from("peer", 30));
        s.node.on_local(&s.seen.lock().unwrap()[0].clone());
        s.node.set_link(false);
        assert_eq!(db.state(), State::Open);
        assert_eq!(db.core().probes_held_for(), None);
        s.clock.advance(secs(30));
        assert!(db.core().try_acquire().unwrap().is_probe(), "local judgement");
    }

    #[test]
    fn a_breaker_created_after_an_opening_catches_up() {
        let mut s = setup(FleetPolicy::Any);
        s.node.on_message(&Message::new(Kind::Open, "late", "peer", 1, "x", 30_000, 0));
        assert!(s.registry.get("late").is_none(), "not created by the fleet");
        let late = s.registry.breaker("late");
        s.node.adopt_pending();
        assert_eq!(late.state(), State::Open);
        assert!(late.core().try_acquire().unwrap_err().retry_after().unwrap() <= secs(30));
        s.node.on_message(&Message::new(Kind::Open, "later", "peer", 1, "x", 30_000, 0));
        s.node.on_message(&Message::new(Kind::Closed, "later", "peer", 2, "probes_succeeded", 0, 1));
        let later = s.registry.breaker("later");
        s.node.adopt_pending();
        assert_eq!(later.state(), State::Closed, "closed before it was created");
    }

    #[test]
    fn unknown_breakers_are_not_created() {
        let mut s = setup(FleetPolicy::Any);
        s.node.on_message(&Message::new(Kind::Open, "nope", "peer", 1, "x", 1000, 0));
        assert!(s.registry.get("nope").is_none());
        assert_eq!(s.node.stats.snapshot().count("ignored_unknown_breaker"), 1);
    }
}

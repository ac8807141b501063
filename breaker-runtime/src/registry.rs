//! The registry of named breakers: one per endpoint, created on first use.

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use breaker_core::{CircuitBreaker, ClockSource, Config, ConfigBuilder, ConfigError, Name, Snapshot, State};
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use tokio::sync::broadcast;

use crate::breaker::Breaker;
use crate::capacity::{NameRefused, DEFAULT_CAPACITY, MAX_NAME_LEN};
use crate::events::{Event, Hub, RuntimeListener};
use crate::health::HealthReport;
use crate::layers::Layers;
use crate::metrics::BreakerMetrics;
use crate::sources::{self, env_name, SourceConfig, SourceError, SourceErrors};
use crate::sync::{lock, read, write};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) struct Inner {
    pub(crate) id: u64,
    pub(crate) breakers: DashMap<Name, Breaker>,
    /// Breakers in `breakers`, counted as they are inserted and removed (a `DashMap`'s own
    /// `len` locks every shard).
    pub(crate) count: AtomicUsize,
    pub(crate) capacity: usize,
    /// Derives the degradation level and the health status.
    pub(crate) degradation: crate::DegradationRule,
    /// The level of the "circuit breaker opened" log line.
    pub(crate) open_level: tracing::Level,
    /// Serves every new name once the registry is full; created on first need.
    pub(crate) overflow: OnceLock<Breaker>,
    pub(crate) overflow_warned: AtomicBool,
    pub(crate) evict_idle: Option<Duration>,
    /// Clock reading of the last eviction sweep made to find room.
    pub(crate) last_sweep: AtomicU64,
    pub(crate) layers: RwLock<Layers>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) clock: ClockSource,
    pub(crate) metrics: bool,
    pub(crate) conflicts: RwLock<Vec<String>>,
    /// The first call site seen for each default (attribute without `name`) breaker name.
    pub(crate) default_name_sites: DashMap<Name, &'static str>,
    /// Where [`Registry::reload`] reads from.
    pub(crate) reload_from: ReloadFrom,
    /// The errors and warnings of the last read of the sources.
    pub(crate) problems: RwLock<Problems>,
    /// File sections and environment names some created breaker used (for `unused_sections`).
    pub(crate) used_sections: std::sync::Mutex<HashSet<(bool, String)>>,
}

/// The sources a registry read at build time and re-reads on reload.
#[derive(Debug, Default, Clone)]
pub(crate) struct ReloadFrom {
    pub(crate) file: Option<PathBuf>,
    pub(crate) env: bool,
}

/// Configuration problems found by the last read of the sources.
#[derive(Debug, Default, Clone)]
pub(crate) struct Problems {
    pub(crate) errors: Vec<SourceError>,
    pub(crate) warnings: Vec<SourceError>,
}

/// A registry of named circuit breakers.
///
/// Every call site naming the same breaker shares one instance, created on first use with the
/// configuration for that name (see [`sources`](crate::sources) for how code, file and
/// environment configuration combine). Most programs use the [`global`](Registry::global)
/// registry; tests and multi-tenant programs create their own with [`Registry::new`] or
/// [`Registry::builder`].
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use breaker_runtime::{Config, Registry, State};
///
/// let registry = Registry::new();
/// registry.configure("payments", Config::builder().wait(Duration::from_secs(5))).unwrap();
/// let a = registry.breaker("payments");
/// let b = registry.breaker("payments");
/// a.force_open();
/// assert_eq!(b.state(), State::ForcedOpen, "one breaker per name");
/// assert_eq!(registry.snapshots().len(), 1);
/// ```
#[derive(Clone)]
pub struct Registry {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry").field("id", &self.inner.id).field("breakers", &self.inner.breakers.len()).finish()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

/// Builds a [`Registry`].
#[derive(Debug, Default)]
pub struct RegistryBuilder {
    default: ConfigBuilder,
    clock: ClockSource,
    metrics: Option<bool>,
    env: Option<SourceConfig>,
    file: Option<SourceConfig>,
    capacity: Option<usize>,
    evict_idle: Option<Duration>,
    reload_from: ReloadFrom,
    degradation: crate::DegradationRule,
    open_level: Option<tracing::Level>,
}

impl RegistryBuilder {
    /// The configuration every breaker starts from (code level; file and environment override it).
    pub fn default_config(mut self, config: ConfigBuilder) -> Self {
        self.default = config;
        self
    }

    /// The clock every breaker reads; use a [`ManualClock`](crate::testing::ManualClock) in tests.
    pub fn clock(mut self, clock: impl Into<ClockSource>) -> Self {
        self.clock = clock.into();
        self
    }

    /// Record metrics (the default). With `false` the registry's breakers register no series
    /// and record nothing, and calls are not timed, which saves two clock reads per call.
    pub fn metrics(mut self, enabled: bool) -> Self {
        self.metrics = Some(enabled);
        self
    }

    /// The most breakers the registry holds ([`DEFAULT_CAPACITY`] unless set). Names that a
    /// configuration source or an attribute names do not count against it; see
    /// [`Registry::breaker`] for what a new name gets once the registry is full.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Evicts breakers that have been idle for `idle` when a new name needs room (at most once
    /// a second) and on [`Registry::evict_idle`]. Idle means: no handle to it is held outside
    /// the registry, and no lookup asked for it for `idle`. An evicted breaker's state is
    /// lost; the next lookup creates a fresh one. Off by default.
    pub fn evict_idle_after(mut self, idle: Duration) -> Self {
        self.evict_idle = Some(idle);
        self
    }

    /// The rule that derives the registry's [degradation level](Registry::degradation_level)
    /// and its health report's status ([`DegradationRule::default`](crate::DegradationRule) unless set).
    pub fn degradation_rule(mut self, rule: crate::DegradationRule) -> Self {
        self.degradation = rule;
        self
    }

    /// The level of the "circuit breaker opened" log line: `WARN` unless set (some teams page
    /// on `ERROR`). Other transitions log at `INFO`.
    pub fn open_log_level(mut self, level: tracing::Level) -> Self {
        self.open_level = Some(level);
        self
    }

    /// Apply the process environment (`CIRCUIT_BREAKER_*`). Only our own variables are
    /// decoded: another variable that is not valid UTF-8 is ignored.
    pub fn from_env(mut self) -> Result<Self, SourceErrors> {
        let env = sources::from_env_vars_os(std::env::vars_os())?;
        self.reload_from.env = true;
        Ok(self.env_config(env))
    }

    /// Apply environment settings read elsewhere (see [`sources::from_env_vars`]).
    pub fn env_config(mut self, env: SourceConfig) -> Self {
        self.env = Some(env);
        self
    }

    /// Apply a TOML file (see [`sources::from_toml_file`]; feature `toml`). The path is
    /// remembered for [`Registry::reload`] and [`Registry::watch_config`].
    #[cfg(feature = "toml")]
    #[cfg_attr(docsrs, doc(cfg(feature = "toml")))]
    pub fn from_toml_file(mut self, path: impl AsRef<std::path::Path>) -> Result<Self, SourceErrors> {
        self.file = Some(sources::from_toml_file(path.as_ref())?);
        self.reload_from.file = Some(path.as_ref().to_owned());
        Ok(self)
    }

    /// Apply file settings read elsewhere (see `sources::from_toml_str`, with the `toml`
    /// feature).
    pub fn file_config(mut self, file: SourceConfig) -> Self {
        self.file = Some(file);
        self
    }

    /// Builds the registry, checking that the combined default configuration is valid.
    pub fn build(self) -> Result<Registry, SourceErrors> {
        let layers = Layers {
            code_default: self.default,
            env: self.env.unwrap_or_default(),
            file: self.file.unwrap_or_default(),
            file_name: self.reload_from.file.as_ref().map(|p| p.display().to_string()),
            ..Layers::default()
        };
        let warnings: Vec<SourceError> = layers.file.warnings.iter().chain(&layers.env.warnings).cloned().collect();
        let registry = Registry {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                breakers: DashMap::new(),
                count: AtomicUsize::new(0),
                capacity: self.capacity.unwrap_or(DEFAULT_CAPACITY),
                degradation: self.degradation,
                open_level: self.open_level.unwrap_or(tracing::Level::WARN),
                overflow: OnceLock::new(),
                overflow_warned: AtomicBool::new(false),
                evict_idle: self.evict_idle,
                last_sweep: AtomicU64::new(0),
                layers: RwLock::new(Layers::default()),
                hub: Arc::new(Hub::new()),
                clock: self.clock,
                metrics: self.metrics.unwrap_or(true),
                conflicts: RwLock::new(Vec::new()),
                default_name_sites: DashMap::new(),
                reload_from: self.reload_from,
                problems: RwLock::new(Problems::default()),
                used_sections: std::sync::Mutex::new(HashSet::new()),
            }),
        };
        let _ = registry.inner.hub.registry.set(Arc::downgrade(&registry.inner));
        registry.replace_layers("the combined sources", layers)?;
        for warning in &warnings {
            crate::reload::report_warning(warning);
        }
        write(&registry.inner.problems).warnings = warnings;
        Ok(registry)
    }
}

static GLOBAL: OnceLock<Registry> = OnceLock::new();

/// Installs `registry` as the [global](Registry::global) one. Fails (returning it) if the
/// global registry was already created, explicitly or by a first call.
///
/// The recipe for a service that reads a file and the environment, and refuses to start on a
/// bad configuration:
///
/// ```no_run
/// use breaker_runtime::{init_global, Registry};
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let registry = Registry::builder()
///         .from_toml_file("/etc/my-service/breakers.toml")?
///         .from_env()?
///         .build()?;
///     init_global(registry).map_err(|_| "the global registry was already in use")?;
///     // ... #[circuit_breaker] methods now use it.
///     Ok(())
/// }
/// ```
pub fn init_global(registry: Registry) -> Result<(), Registry> {
    let mut slot = Some(registry);
    GLOBAL.get_or_init(|| slot.take().unwrap_or_else(|| unreachable!("taken once")));
    match slot {
        None => Ok(()),
        Some(registry) => Err(registry),
    }
}

/// Creates the [global](Registry::global) registry from the environment, or fails: the
/// fail-fast entry point for a service that must not start with a configuration it did not
/// ask for. Also fails if the global registry already exists.
///
/// ```no_run
/// fn main() -> Result<(), breaker_runtime::sources::SourceErrors> {
///     breaker_runtime::init_global_from_env()?;
///     Ok(())
/// }
/// ```
pub fn init_global_from_env() -> Result<&'static Registry, SourceErrors> {
    let registry = Registry::builder().from_env().and_then(RegistryBuilder::build)?;
    init_global(registry).map_err(|_| SourceErrors {
        source: "environment".to_owned(),
        errors: vec![SourceError {
            location: String::new(),
            line: None,
            value: String::new(),
            message: "the global registry already exists (created by an earlier call); call init_global_from_env first"
                .to_owned(),
        }],
    })?;
    Ok(Registry::global())
}

impl Registry {
    /// An empty registry with the built-in defaults, the system clock and metrics on. It does
    /// not read the environment; see [`RegistryBuilder::from_env`].
    pub fn new() -> Self {
        Registry::builder().build().expect("the built-in defaults are valid")
    }

    /// Starts building a registry.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    /// The process-wide registry the `#[circuit_breaker]` attribute uses by default.
    ///
    /// Created on first use, reading the environment (`CIRCUIT_BREAKER_*`), unless
    /// [`init_global`] or [`init_global_from_env`] installed one first. What happens on a bad
    /// environment:
    ///
    /// - the kill switch `CIRCUIT_BREAKER_ENABLED` is read on its own and always honoured;
    /// - an unknown `CIRCUIT_BREAKER_*` variable is skipped with a warning (with a
    ///   did-you-mean), and the rest applies;
    /// - a malformed value keeps every other setting from applying (a half-applied
    ///   configuration is worse than the defaults): the registry starts with the defaults and
    ///   the kill switch.
    ///
    /// Errors and warnings are logged, printed to stderr when no `tracing` subscriber is
    /// installed, and listed by [`config_errors`](Self::config_errors) and
    /// [`config_warnings`](Self::config_warnings). A service that would rather refuse to start
    /// calls [`init_global_from_env`] first.
    pub fn global() -> &'static Registry {
        GLOBAL.get_or_init(Registry::from_process_env)
    }

    /// The global registry's lenient construction; see [`global`](Self::global).
    fn from_process_env() -> Registry {
        match Registry::builder().from_env().and_then(RegistryBuilder::build) {
            Ok(registry) => registry,
            Err(errors) => {
                crate::reload::report_errors(&errors, "circuit breaker environment not applied; using the defaults");
                // The kill switch alone, so no error elsewhere can lose it.
                let ours = std::env::vars_os()
                    .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                    .filter(|(k, _)| k == sources::ENV_ENABLED);
                let enabled = sources::env_enabled(ours).ok().flatten();
                let env = SourceConfig { enabled, ..SourceConfig::default() };
                let registry = Registry::builder()
                    .env_config(env)
                    .build()
                    .unwrap_or_else(|_| unreachable!("the defaults and a switch are valid"));
                write(&registry.inner.problems).errors = errors.errors;
                registry
            }
        }
    }

    /// A number unique to this registry, for caches keyed by registry.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The breaker named `name`, created with its configuration on first use.
    ///
    /// Never fails: once the registry holds its [capacity](RegistryBuilder::capacity) of
    /// breakers, a new name (or one longer than [`MAX_NAME_LEN`]) is served by one shared
    /// overflow breaker named [`OVERFLOW_NAME`](crate::OVERFLOW_NAME), a warning is logged once and the counter
    /// `circuit_breaker_registry_overflow_total` counts each such lookup. Use
    /// [`try_breaker`](Self::try_breaker) to get an error instead.
    ///
    /// Names are meant to be a fixed set: one per dependency or endpoint. Never derive them
    /// from unbounded input (URL paths, user or tenant ids, error messages); map such input to
    /// a bounded set first:
    ///
    /// ```
    /// use breaker_runtime::Registry;
    ///
    /// fn breaker_name(path: &str) -> &'static str {
    ///     match path.split('/').nth(1) {
    ///         Some("users") => "user-service",
    ///         Some("orders") => "order-service",
    ///         _ => "other",
    ///     }
    /// }
    ///
    /// let registry = Registry::new();
    /// for path in ["/users/17", "/users/18", "/orders/5", "/../../etc/passwd"] {
    ///     registry.breaker(breaker_name(path));
    /// }
    /// assert_eq!(registry.snapshots().len(), 3);
    /// ```
    pub fn breaker(&self, name: impl Into<Name>) -> Breaker {
        let name = name.into();
        if let Some(b) = self.inner.breakers.get(&name) {
            let b = b.clone();
            self.touch(&b);
            return b;
        }
        self.create(name, false).unwrap_or_else(|refused| self.overflow(refused))
    }

    /// The breaker named `name`, or why a new one was refused: the registry is full, or the
    /// name is too long. An existing breaker is always returned.
    ///
    /// ```
    /// use breaker_runtime::{NameRefused, Registry};
    ///
    /// let registry = Registry::builder().capacity(1).build().unwrap();
    /// assert!(registry.try_breaker("db").is_ok());
    /// assert!(registry.try_breaker("db").is_ok(), "an existing name is always served");
    /// assert_eq!(registry.try_breaker("cache").unwrap_err(), NameRefused::Full { capacity: 1 });
    /// ```
    pub fn try_breaker(&self, name: impl Into<Name>) -> Result<Breaker, NameRefused> {
        let name = name.into();
        if let Some(b) = self.inner.breakers.get(&name) {
            let b = b.clone();
            self.touch(&b);
            return Ok(b);
        }
        self.create(name, false)
    }

    /// The breaker for a name written in code (an attribute's call site): never refused, since
    /// such names are a fixed set.
    pub(crate) fn site_breaker(&self, name: Name) -> Breaker {
        if let Some(b) = self.inner.breakers.get(&name) {
            return b.clone();
        }
        self.create(name, true).unwrap_or_else(|refused| self.overflow(refused))
    }

    #[cold]
    pub(crate) fn create(&self, name: Name, from_code: bool) -> Result<Breaker, NameRefused> {
        if name.len() > MAX_NAME_LEN {
            return Err(NameRefused::TooLong { len: name.len() });
        }
        let (config, enabled, configured) = {
            let layers = read(&self.inner.layers);
            let configured = from_code || layers.names(&name);
            if !configured && self.inner.count.load(Ordering::Relaxed) >= self.inner.capacity && !self.make_room() {
                return Err(NameRefused::Full { capacity: self.inner.capacity });
            }
            let config = layers.effective(&name).unwrap_or_else(|e| {
                // Layers are validated when they change, so this only happens for a name whose
                // layers conflict with each other; fall back rather than fail the call.
                tracing::error!(breaker = %name, error = %e, "invalid combined configuration; using defaults");
                Config::default()
            });
            let on = layers.switched_on(&config);
            self.note_sections(&layers, &name);
            (config, on, configured)
        };
        // Built outside the map's lock, with its events held until it is published: a
        // listener that calls back into the registry must not find a shard locked.
        let created = self.build_breaker(name.clone(), config);
        if !enabled {
            created.core().metrics_only();
        }
        let breaker = match self.inner.breakers.entry(name) {
            Entry::Occupied(existing) => return Ok(existing.get().clone()), // another thread won
            Entry::Vacant(slot) => {
                let count = self.inner.count.fetch_add(1, Ordering::Relaxed);
                if !configured && count >= self.inner.capacity {
                    // Racing creators filled the last places first.
                    self.inner.count.fetch_sub(1, Ordering::Relaxed);
                    return Err(NameRefused::Full { capacity: self.inner.capacity });
                }
                slot.insert(created.clone());
                created
            }
        };
        self.touch(&breaker);
        breaker.core().release_events();
        Ok(breaker)
    }

    /// Records which file sections and environment names `name` uses, and warns when its
    /// environment name is shared with another breaker's or is `DEFAULT`.
    fn note_sections(&self, layers: &Layers, name: &str) {
        let mut used = lock(&self.inner.used_sections);
        for (section, _) in layers.file.sections_for(name, false) {
            used.insert((true, section.to_owned()));
        }
        let env = env_name(name);
        for (section, _) in layers.env.sections_for(name, true) {
            used.insert((false, section.to_owned()));
        }
        drop(used);
        if env == "DEFAULT" {
            tracing::warn!(breaker = %name, "a breaker named `{name}` cannot be configured alone from the environment: CIRCUIT_BREAKER_DEFAULT__* sets every breaker");
        } else if layers.env.named.contains_key(&env) {
            if let Some(other) =
                self.inner.breakers.iter().map(|e| e.key().clone()).find(|n| n.as_str() != name && env_name(n) == env)
            {
                tracing::warn!(breaker = %name, other = %other, "`{name}` and `{other}` share the environment name {env}: CIRCUIT_BREAKER_{env}__* configures both");
            }
        }
    }

    pub(crate) fn build_breaker(&self, name: Name, config: Config) -> Breaker {
        let metrics = BreakerMetrics::new(&name, self.inner.metrics);
        let listener = RuntimeListener {
            metrics: metrics.clone(),
            hub: Arc::clone(&self.inner.hub),
            clock: self.inner.clock.clone(),
            opened_at: AtomicU64::new(0),
            open_level: self.inner.open_level,
        };
        let core = CircuitBreaker::new(name, config)
            .with_clock(self.inner.clock.clone())
            .with_listener(Arc::new(listener))
            .hold_events();
        Breaker::new(core, metrics, Arc::clone(&self.inner.hub))
    }

    /// The breaker named `name`, if it exists.
    pub fn get(&self, name: &str) -> Option<Breaker> {
        self.inner.breakers.get(name).map(|b| b.clone())
    }

    /// Every breaker, in name order, with the [overflow](Self::breaker) breaker once it exists.
    pub fn breakers(&self) -> Vec<Breaker> {
        let mut all: Vec<Breaker> = self.inner.breakers.iter().map(|e| e.value().clone()).collect();
        all.extend(self.inner.overflow.get().cloned());
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }

    /// A snapshot of every breaker, in name order.
    pub fn snapshots(&self) -> Vec<(Name, Snapshot)> {
        self.breakers().into_iter().map(|b| (b.name().clone(), b.snapshot())).collect()
    }

    fn with(&self, name: &str, f: impl FnOnce(&Breaker)) -> bool {
        self.get(name).map(|b| f(&b)).is_some()
    }

    /// Resets the named breaker; false when there is none.
    pub fn reset(&self, name: &str) -> bool {
        self.with(name, Breaker::reset)
    }
    /// Forces the named breaker open; false when there is none.
    pub fn force_open(&self, name: &str) -> bool {
        self.with(name, Breaker::force_open)
    }
    /// Disables the named breaker; false when there is none.
    pub fn disable(&self, name: &str) -> bool {
        self.with(name, Breaker::disable)
    }
    /// Puts the named breaker in metrics-only mode; false when there is none.
    pub fn metrics_only(&self, name: &str) -> bool {
        self.with(name, Breaker::metrics_only)
    }
    /// Applies a manual `op` (force open, disable, metrics-only, reset) to the named breaker on
    /// behalf of `origin` (an admin route, an operator's tool): publishes
    /// [`Event::ManualChange`] naming the origin, then the transition follows as usual. False
    /// when no breaker has that name (none is created).
    ///
    /// ```
    /// use breaker_runtime::{ManualOp, Registry, State};
    ///
    /// let registry = Registry::new();
    /// registry.breaker("db");
    /// assert!(registry.manual_change("db", ManualOp::ForceOpen, "runbook: db migration"));
    /// assert_eq!(registry.breaker("db").state(), State::ForcedOpen);
    /// assert!(!registry.manual_change("nope", ManualOp::Reset, "runbook"));
    /// ```
    pub fn manual_change(&self, name: &str, op: breaker_core::ManualOp, origin: &str) -> bool {
        let Some(b) = self.get(name) else {
            return false;
        };
        self.inner.hub.publish(Event::ManualChange { name: b.name().clone(), op, origin: origin.to_owned() });
        match op {
            breaker_core::ManualOp::ForceOpen => b.force_open(),
            breaker_core::ManualOp::Disable => b.disable(),
            breaker_core::ManualOp::MetricsOnly => b.metrics_only(),
            breaker_core::ManualOp::Reset => b.reset(),
        }
        true
    }

    /// Marks the named breaker critical for [`health`](Self::health) (creating it if needed).
    pub fn mark_critical(&self, name: impl Into<Name>, critical: bool) {
        self.breaker(name).set_critical(critical);
    }

    /// Removes the named breaker. Handles already held keep working on the removed breaker;
    /// the next lookup creates a fresh one.
    pub fn remove(&self, name: &str) -> Option<Breaker> {
        let removed = self.inner.breakers.remove(name).map(|(_, b)| b);
        if removed.is_some() {
            self.inner.count.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// Sets the code-level configuration for `name`, over the registry default and any
    /// attribute configuration (file and environment settings still win).
    ///
    /// A breaker that already exists is reconfigured in place: its state is kept, its window is
    /// emptied only if the window's kind or size changed. Calling `configure` again with a
    /// different configuration replaces the earlier one (last call wins) and logs the
    /// replacement at `info` level, so it is never silently ignored.
    pub fn configure(&self, name: impl Into<Name>, config: ConfigBuilder) -> Result<(), ConfigError> {
        let name = name.into();
        let mut layers = write(&self.inner.layers);
        let mut next = layers.clone();
        let previous = next.code.insert(name.to_string(), config.clone());
        let effective = next.effective(&name)?;
        if let Some(previous) = previous.filter(|p| *p != config) {
            tracing::info!(breaker = %name, ?previous, new = ?config, "replacing the breaker's code configuration");
        }
        *layers = next;
        drop(layers);
        if let Some(b) = self.get(&name) {
            self.reconfigure(&b, effective);
        }
        Ok(())
    }

    /// Gives an existing breaker its new configuration, switching it off or back on when its
    /// `enabled` changed.
    fn reconfigure(&self, b: &Breaker, config: Config) {
        let on = read(&self.inner.layers).enabled();
        let before = b.core().config().enabled();
        let after = config.enabled();
        b.core().reconfigure(config);
        if !(on && after) && b.state() != State::MetricsOnly {
            b.metrics_only();
        } else if on && after && !before && b.state() == State::MetricsOnly {
            b.reset();
        }
    }

    /// The configuration `name` has (or would get) from all sources combined.
    pub fn effective_config(&self, name: &str) -> Result<Config, ConfigError> {
        read(&self.inner.layers).effective(name)
    }

    /// Applies environment settings (replacing earlier environment settings). Validates the
    /// combined configuration of every configured and existing breaker first; on any error
    /// nothing is applied.
    pub fn apply_env(&self, env: SourceConfig) -> Result<(), SourceErrors> {
        let mut next = read(&self.inner.layers).clone();
        next.env = env;
        self.replace_layers("environment", next).map(drop)
    }

    /// Applies file settings (replacing earlier file settings); all or nothing, like
    /// [`apply_env`](Self::apply_env).
    pub fn apply_file(&self, file: SourceConfig) -> Result<(), SourceErrors> {
        let mut next = read(&self.inner.layers).clone();
        next.file = file;
        self.replace_layers("file", next).map(drop)
    }

    /// Validates `next` for every existing and configured name, then installs it and
    /// reconfigures every existing breaker; on any error nothing changes. Returns the names of
    /// the existing breakers whose configuration changed.
    pub(crate) fn replace_layers(&self, source: &str, next: Layers) -> Result<Vec<Name>, SourceErrors> {
        let mut names: Vec<String> = self.inner.breakers.iter().map(|e| e.key().to_string()).collect();
        names.extend(next.file.named.keys().filter(|k| !k.contains('*')).cloned());
        names.extend(next.code.keys().cloned());
        names.extend(next.attribute.keys().cloned());
        names.extend(next.env.named.keys().cloned());
        names.sort();
        names.dedup();
        let effective = next
            .check(names.iter().map(String::as_str))
            .map_err(|errors| SourceErrors { source: source.to_owned(), errors })?;
        let was_on = read(&self.inner.layers).enabled();
        let now_on = next.enabled();
        *write(&self.inner.layers) = next;
        let mut changed = Vec::new();
        for (name, config) in effective {
            let Some(b) = name.and_then(|n| self.get(n)) else {
                continue;
            };
            let before = b.core().config();
            if before != config {
                changed.push(b.name().clone());
            }
            let (on_before, on_after) = (was_on && before.enabled(), now_on && config.enabled());
            b.core().reconfigure(config);
            if !on_after && b.state() != State::MetricsOnly {
                b.metrics_only();
            } else if on_after && !on_before && b.state() == State::MetricsOnly {
                b.reset(); // switched back on: a breaker again, from closed
            }
        }
        Ok(changed)
    }

    /// The configuration problems of the last read of this registry's sources: every error
    /// (a source with an error was not applied) and every warning (a setting that was skipped:
    /// an unknown variable or key). Errors also go to the log, and to stderr when no `tracing`
    /// subscriber is installed.
    pub fn config_errors(&self) -> Vec<SourceError> {
        read(&self.inner.problems).errors.clone()
    }

    /// The warnings of the last read of this registry's sources (see
    /// [`config_errors`](Self::config_errors)).
    pub fn config_warnings(&self) -> Vec<SourceError> {
        read(&self.inner.problems).warnings.clone()
    }

    /// File sections and environment variables that no breaker created so far has used: a
    /// likely typo, such as `["inventory-stok"]`. Patterns are listed until a breaker matches.
    pub fn unused_sections(&self) -> Vec<String> {
        let layers = read(&self.inner.layers);
        let used = lock(&self.inner.used_sections);
        let file = layers.file_name.as_deref().unwrap_or("file");
        let mut unused: Vec<String> = layers
            .file
            .named
            .keys()
            .filter(|k| !used.contains(&(true, (*k).clone())))
            .map(|k| format!("{file}: [\"{k}\"]"))
            .collect();
        unused.extend(
            layers
                .env
                .named
                .keys()
                .filter(|k| !used.contains(&(false, (*k).clone())))
                .map(|k| format!("environment: CIRCUIT_BREAKER_{k}__*")),
        );
        unused
    }

    /// The effective configuration of the default (under `default`) and of every breaker,
    /// complete and ready to serialise (feature-free: [`Config`] is `serde::Serialize`).
    /// Written as TOML it is a breaker file that reads back to the same configuration; the
    /// admin view and debugging use it.
    ///
    /// ```
    /// use breaker_runtime::{sources, Config, Registry};
    ///
    /// let registry = Registry::new();
    /// registry.configure("db", Config::builder().failure_rate(0.25)).unwrap();
    /// registry.breaker("db");
    /// let file = toml::to_string(&registry.effective_configs()).unwrap();
    /// let again = Registry::builder().file_config(sources::from_toml_str(&file, "dump.toml").unwrap()).build().unwrap();
    /// assert_eq!(again.effective_config("db").unwrap(), registry.effective_config("db").unwrap());
    /// ```
    pub fn effective_configs(&self) -> std::collections::BTreeMap<String, Config> {
        let layers = read(&self.inner.layers);
        let mut all = std::collections::BTreeMap::new();
        all.insert("default".to_owned(), layers.effective("").unwrap_or_default());
        for b in self.breakers() {
            all.insert(b.name().to_string(), b.core().config());
        }
        all
    }

    /// The settings of the [`RetryQueue`](crate::RetryQueue) named `name`: `defaults` (from
    /// code), overridden by the file's `[queues."name"]` table, overridden by the environment's
    /// `CIRCUIT_BREAKER_QUEUE__<NAME>__CAPACITY` and `..._SHUTDOWN_DEADLINE`. See
    /// [`QueueSettings`](crate::QueueSettings).
    pub fn queue_settings(&self, name: &str, defaults: crate::QueueSettings) -> crate::QueueSettings {
        let layers = read(&self.inner.layers);
        let file = layers.file.queues.get(name).copied().unwrap_or_default();
        let env = layers.env.queues.get(&env_name(name)).copied().unwrap_or_default();
        let set = file.merge(env);
        crate::QueueSettings {
            capacity: set.capacity.unwrap_or(defaults.capacity),
            shutdown_deadline: set.shutdown_deadline.unwrap_or(defaults.shutdown_deadline),
        }
    }

    /// Which source supplied each field of `name`'s configuration, in
    /// [`KEYS`](breaker_core::KEYS) order: the variable, the file's path, line and section, the
    /// attribute's site, code, or the built-in default.
    ///
    /// ```
    /// use breaker_runtime::{sources, Registry};
    ///
    /// let file = sources::from_toml_str("[\"payments.*\"]\nwait = \"5s\"\n", "breakers.toml").unwrap();
    /// let registry = Registry::builder().file_config(file).build().unwrap();
    /// let sources = registry.effective_config_sources("payments.refunds");
    /// let wait = sources.iter().find(|(key, _)| *key == "wait").unwrap();
    /// assert_eq!(wait.1, "breakers.toml:2 (payments.*.wait)");
    /// assert!(sources.iter().any(|(key, source)| *key == "jitter" && source == "built-in default"));
    /// ```
    pub fn effective_config_sources(&self, name: &str) -> Vec<(&'static str, String)> {
        read(&self.inner.layers).sources_of(name)
    }

    /// Registers a call site's attribute configuration for `name`. The first site to register
    /// a configuration for a name sets it; a later site with a different one is reported (a
    /// `warn` log and [`conflicts`](Self::conflicts)), never silently merged.
    pub fn register_attribute_config(&self, name: &Name, config: ConfigBuilder, site: &'static str) {
        // The common case, a site registering what is already there, under the read lock.
        if read(&self.inner.layers).attribute.get(name.as_str()).is_some_and(|(existing, _)| *existing == config) {
            return;
        }
        let mut layers = write(&self.inner.layers);
        match layers.attribute.get(name.as_str()) {
            Some((existing, _)) if *existing == config => {}
            Some((_, first)) => {
                let first = *first;
                drop(layers);
                let message = format!(
                    "circuit breaker `{name}`: the attribute at `{site}` configures it differently from the one at `{first}`; keeping the configuration from `{first}`"
                );
                tracing::warn!(breaker = %name, first_site = first, site, "{message}");
                let mut conflicts = write(&self.inner.conflicts);
                // A call site that alternates registries re-registers on every miss of its
                // cache: report each conflict once.
                if !conflicts.contains(&message) {
                    conflicts.push(message);
                }
            }
            None => {
                let mut next = layers.clone();
                next.attribute.insert(name.to_string(), (config, site));
                match next.effective(name) {
                    Ok(effective) => {
                        *layers = next;
                        drop(layers);
                        if let Some(b) = self.get(name) {
                            self.reconfigure(&b, effective);
                        }
                    }
                    Err(e) => {
                        tracing::error!(breaker = %name, site, error = %e, "ignoring invalid attribute configuration")
                    }
                }
            }
        }
    }

    /// Conflicting attribute configurations, and call sites that share a breaker only because
    /// they ended up with the same default name, seen so far, one message each.
    pub fn conflicts(&self) -> Vec<String> {
        read(&self.inner.conflicts).clone()
    }

    /// Calls `f` for every transition, rejection and metrics-only threshold crossing of every
    /// breaker in this registry. A panicking callback is caught.
    ///
    /// `f` never runs while a lock of the registry or of a breaker is held, so it may call
    /// back into the registry. One breaker's transitions reach it one at a time, in the order
    /// they happened. It runs synchronously on a thread that caused one of them (usually the
    /// call that tripped the breaker, which waits for it): keep it short, and for slow work
    /// (sending an alert, writing to a database) use [`subscribe`](Self::subscribe), which
    /// hands events to an async task instead, or spawn from `f`.
    pub fn on_event(&self, f: impl Fn(&Event) + Send + Sync + 'static) {
        self.inner.hub.on_event(Arc::new(f));
    }

    /// A channel of the same events (bounded; a slow receiver sees `Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.hub.subscribe()
    }

    /// The health of every breaker; see [`HealthReport`] for the rule.
    pub fn health(&self) -> HealthReport {
        HealthReport::from_breakers(&self.breakers(), &self.inner.degradation)
    }
}

impl Registry {
    /// Registers a call site whose attribute has no `name`, so uses the default one. Two
    /// different sites with one default name share a breaker without having asked to: the
    /// second is reported (a `warn` log and [`conflicts`](Self::conflicts)). Sites sharing an
    /// explicit `name` do so on purpose and never come here.
    pub fn register_default_name(&self, name: &Name, site: &'static str) {
        let first = *self.inner.default_name_sites.entry(name.clone()).or_insert(site);
        if first == site {
            return;
        }
        let message = format!(
            "circuit breaker `{name}`: the attributes at `{first}` and `{site}` both default to this name, so they share one breaker; give them distinct `name = \"...\"` arguments, or the same one if sharing is intended"
        );
        tracing::warn!(breaker = %name, first_site = first, site, "{message}");
        let mut conflicts = write(&self.inner.conflicts);
        if !conflicts.contains(&message) {
            conflicts.push(message);
        }
    }
}

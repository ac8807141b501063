//! The registry of named breakers: one per endpoint, created on first use.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use breaker_core::{CircuitBreaker, ClockSource, Config, ConfigBuilder, ConfigError, Name, Snapshot, State};
use dashmap::DashMap;
use tokio::sync::broadcast;

use crate::breaker::Breaker;
use crate::events::{Event, Hub, RuntimeListener};
use crate::health::HealthReport;
use crate::metrics::BreakerMetrics;
use crate::sources::{self, SourceConfig, SourceError, SourceErrors};
use crate::sync::{read, write};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The configuration layers of a registry, lowest precedence first.
#[derive(Debug, Default, Clone)]
struct Layers {
    code_default: ConfigBuilder,
    attribute: HashMap<String, (ConfigBuilder, &'static str)>,
    code: HashMap<String, ConfigBuilder>,
    file: SourceConfig,
    env: SourceConfig,
}

impl Layers {
    fn builder_for(&self, name: &str) -> ConfigBuilder {
        let mut b = Config::builder().merge(&self.code_default);
        if let Some((attr, _)) = self.attribute.get(name) {
            b = b.merge(attr);
        }
        if let Some(code) = self.code.get(name) {
            b = b.merge(code);
        }
        b = b.merge(&self.file.default);
        if let Some(file) = self.file.for_name(name, false) {
            b = b.merge(file);
        }
        b = b.merge(&self.env.default);
        if let Some(env) = self.env.for_name(name, true) {
            b = b.merge(env);
        }
        b
    }

    fn effective(&self, name: &str) -> Result<Config, ConfigError> {
        self.builder_for(name).build()
    }

    fn enabled(&self) -> bool {
        self.env.enabled.or(self.file.enabled).unwrap_or(true)
    }
}

struct Inner {
    id: u64,
    breakers: DashMap<Name, Breaker>,
    layers: RwLock<Layers>,
    hub: Arc<Hub>,
    clock: ClockSource,
    metrics: bool,
    conflicts: RwLock<Vec<String>>,
    /// The first call site seen for each default (attribute without `name`) breaker name.
    default_name_sites: DashMap<Name, &'static str>,
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
    inner: Arc<Inner>,
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

    /// Record metrics (the default). Without them calls are not timed, which saves two clock
    /// reads per call.
    pub fn metrics(mut self, enabled: bool) -> Self {
        self.metrics = Some(enabled);
        self
    }

    /// Apply the process environment (`CIRCUIT_BREAKER_*`).
    pub fn from_env(self) -> Result<Self, SourceErrors> {
        let env = sources::from_env_vars(std::env::vars())?;
        Ok(self.env_config(env))
    }

    /// Apply environment settings read elsewhere (see [`sources::from_env_vars`]).
    pub fn env_config(mut self, env: SourceConfig) -> Self {
        self.env = Some(env);
        self
    }

    /// Apply a TOML file (see [`sources::from_toml_file`]).
    pub fn from_toml_file(mut self, path: impl AsRef<std::path::Path>) -> Result<Self, SourceErrors> {
        self.file = Some(sources::from_toml_file(path)?);
        Ok(self)
    }

    /// Apply file settings read elsewhere (see [`sources::from_toml_str`]).
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
            ..Layers::default()
        };
        let registry = Registry {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                breakers: DashMap::new(),
                layers: RwLock::new(Layers::default()),
                hub: Arc::new(Hub::new()),
                clock: self.clock,
                metrics: self.metrics.unwrap_or(true),
                conflicts: RwLock::new(Vec::new()),
                default_name_sites: DashMap::new(),
            }),
        };
        registry.replace_layers("the combined sources", layers)?;
        Ok(registry)
    }
}

static GLOBAL: OnceLock<Registry> = OnceLock::new();

/// Installs `registry` as the [global](Registry::global) one. Fails (returning it) if the
/// global registry was already created, explicitly or by a first call.
pub fn init_global(registry: Registry) -> Result<(), Registry> {
    let mut slot = Some(registry);
    GLOBAL.get_or_init(|| slot.take().expect("taken once"));
    match slot {
        None => Ok(()),
        Some(registry) => Err(registry),
    }
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
    /// Created on first use, reading the environment (`CIRCUIT_BREAKER_*`). If the environment
    /// is malformed, none of it is applied and the errors are logged at `error` level; call
    /// [`init_global`] at startup to handle them yourself.
    pub fn global() -> &'static Registry {
        GLOBAL.get_or_init(|| match Registry::builder().from_env().and_then(RegistryBuilder::build) {
            Ok(registry) => registry,
            Err(errors) => {
                tracing::error!(%errors, "ignoring malformed circuit breaker environment");
                Registry::new()
            }
        })
    }

    /// A number unique to this registry, for caches keyed by registry.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The breaker named `name`, created with its configuration on first use.
    pub fn breaker(&self, name: impl Into<Name>) -> Breaker {
        let name = name.into();
        if let Some(b) = self.inner.breakers.get(&name) {
            return b.clone();
        }
        self.create(name)
    }

    #[cold]
    fn create(&self, name: Name) -> Breaker {
        let (config, enabled) = {
            let layers = read(&self.inner.layers);
            let config = layers.effective(&name).unwrap_or_else(|e| {
                // Layers are validated when they change, so this only happens for a name whose
                // layers conflict with each other; fall back rather than fail the call.
                tracing::error!(breaker = %name, error = %e, "invalid combined configuration; using defaults");
                Config::default()
            });
            (config, layers.enabled())
        };
        self.inner
            .breakers
            .entry(name.clone())
            .or_insert_with(|| {
                let metrics = BreakerMetrics::new(&name, self.inner.metrics);
                let listener = RuntimeListener { metrics: metrics.clone(), hub: Arc::clone(&self.inner.hub) };
                let core = CircuitBreaker::new(name.clone(), config)
                    .with_clock(self.inner.clock.clone())
                    .with_listener(Arc::new(listener));
                if !enabled {
                    core.metrics_only();
                }
                Breaker::new(core, metrics, Arc::clone(&self.inner.hub))
            })
            .clone()
    }

    /// The breaker named `name`, if it exists.
    pub fn get(&self, name: &str) -> Option<Breaker> {
        self.inner.breakers.get(name).map(|b| b.clone())
    }

    /// Every breaker, in name order.
    pub fn breakers(&self) -> Vec<Breaker> {
        let mut all: Vec<Breaker> = self.inner.breakers.iter().map(|e| e.value().clone()).collect();
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
    /// Marks the named breaker critical for [`health`](Self::health) (creating it if needed).
    pub fn mark_critical(&self, name: impl Into<Name>, critical: bool) {
        self.breaker(name).set_critical(critical);
    }

    /// Removes the named breaker. Handles already held keep working on the removed breaker;
    /// the next lookup creates a fresh one.
    pub fn remove(&self, name: &str) -> Option<Breaker> {
        self.inner.breakers.remove(name).map(|(_, b)| b)
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
            b.core().reconfigure(effective);
        }
        Ok(())
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
        self.replace_layers("environment", next)
    }

    /// Applies file settings (replacing earlier file settings); all or nothing, like
    /// [`apply_env`](Self::apply_env).
    pub fn apply_file(&self, file: SourceConfig) -> Result<(), SourceErrors> {
        let mut next = read(&self.inner.layers).clone();
        next.file = file;
        self.replace_layers("file", next)
    }

    fn replace_layers(&self, source: &str, next: Layers) -> Result<(), SourceErrors> {
        let mut names: Vec<String> = self.inner.breakers.iter().map(|e| e.key().to_string()).collect();
        names.extend(next.file.named.keys().cloned());
        names.extend(next.code.keys().cloned());
        names.extend(next.attribute.keys().cloned());
        names.extend(next.env.named.keys().cloned());
        names.sort();
        names.dedup();
        let mut errors = Vec::new();
        let mut effective = Vec::new();
        for name in std::iter::once(None).chain(names.iter().map(Some)) {
            match next.effective(name.map_or("", String::as_str)) {
                Ok(config) => effective.push((name, config)),
                Err(e) => errors.extend(e.errors().iter().map(|f| SourceError {
                    location: match name {
                        Some(n) => format!("breaker `{n}`: {}", f.field()),
                        None => format!("default: {}", f.field()),
                    },
                    value: String::new(),
                    message: f.message().to_owned(),
                })),
            }
        }
        if !errors.is_empty() {
            return Err(SourceErrors { source: source.to_owned(), errors });
        }
        let enabled = next.enabled();
        *write(&self.inner.layers) = next;
        for (name, config) in effective {
            if let Some(b) = name.and_then(|n| self.get(n)) {
                b.core().reconfigure(config);
                if !enabled && b.state() != State::MetricsOnly {
                    b.metrics_only();
                }
            }
        }
        Ok(())
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
                            b.core().reconfigure(effective);
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
    pub fn on_event(&self, f: impl Fn(&Event) + Send + Sync + 'static) {
        self.inner.hub.on_event(Arc::new(f));
    }

    /// A channel of the same events (bounded; a slow receiver sees `Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.hub.subscribe()
    }

    /// The health of every breaker; see [`HealthReport`] for the rule.
    pub fn health(&self) -> HealthReport {
        HealthReport::from_breakers(&self.breakers())
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

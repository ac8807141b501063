//! Reloading a registry's file and environment while it runs: on demand, when the file
//! changes, and on SIGHUP; and reporting configuration problems so they are never silent.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
#[cfg(feature = "toml")]
use std::time::{Duration, SystemTime};

use breaker_core::Name;

use crate::events::Event;
use crate::registry::Registry;
use crate::sources::{self, SourceError, SourceErrors};
use crate::sync::{read, write};

/// What a successful [`Registry::reload`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reloaded {
    /// The existing breakers whose configuration changed, in name order.
    pub changed: Vec<Name>,
    /// Settings that were skipped (unknown variables or keys); the rest was applied.
    pub warnings: Vec<SourceError>,
}

/// True when a `tracing` subscriber will show our log lines; otherwise configuration problems
/// also go to stderr, so a service without logging set up still hears of them.
fn no_subscriber() -> bool {
    !tracing::dispatcher::has_been_set()
}

/// Logs a skipped setting (and prints it to stderr when nothing would show the log).
pub(crate) fn report_warning(warning: &SourceError) {
    tracing::warn!(%warning, "circuit breaker configuration: setting skipped");
    if no_subscriber() {
        eprintln!("circuit breaker configuration: warning: {warning}");
    }
}

/// Logs a configuration that was not applied (and prints it to stderr when nothing would
/// show the log).
pub(crate) fn report_errors(errors: &SourceErrors, what: &str) {
    tracing::error!(%errors, "{what}");
    if no_subscriber() {
        eprintln!("circuit breaker configuration: {what}: {errors}");
    }
}

impl Registry {
    /// Re-reads the file and environment this registry was built from
    /// (`RegistryBuilder::from_toml_file`, with the `toml` feature, and
    /// [`RegistryBuilder::from_env`](crate::RegistryBuilder::from_env)) and applies them.
    ///
    /// The whole new configuration is validated first: on any error nothing changes and every
    /// error is returned. Otherwise every affected breaker gets its new configuration at once,
    /// and keeps its state, generation and backoff; its window is kept when the window's kind
    /// and size are unchanged, and emptied when they change. Breakers switched off with
    /// `enabled = false` (for one breaker or, with the top-level `enabled`, for all) become
    /// metrics-only; switched back on, they start closed.
    ///
    /// Each reload emits [`Event::ConfigReloaded`] or [`Event::ConfigReloadFailed`], counts
    /// `circuit_breaker_config_reloads_total{result="success"|"failure"}` and logs a line.
    ///
    /// ```
    /// use std::time::Duration;
    /// use breaker_runtime::Registry;
    ///
    /// let dir = std::env::temp_dir().join(format!("breaker-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("breakers.toml");
    /// std::fs::write(&path, "[db]\nwait = \"5s\"\n").unwrap();
    /// let registry = Registry::builder().from_toml_file(&path).unwrap().build().unwrap();
    /// let db = registry.breaker("db");
    ///
    /// std::fs::write(&path, "[db]\nwait = \"9s\"\n").unwrap();
    /// let reloaded = registry.reload().unwrap();
    /// assert_eq!(reloaded.changed, [breaker_runtime::Name::from("db")]);
    /// assert_eq!(db.core().config().wait(), Duration::from_secs(9));
    ///
    /// std::fs::write(&path, "[db]\nwait = \"soon\"\n").unwrap();
    /// assert!(registry.reload().is_err(), "invalid: nothing changes");
    /// assert_eq!(db.core().config().wait(), Duration::from_secs(9));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn reload(&self) -> Result<Reloaded, SourceErrors> {
        let result = self.reload_inner();
        let outcome = match &result {
            Ok(reloaded) => {
                tracing::info!(changed = ?reloaded.changed, "circuit breaker configuration reloaded");
                self.inner.hub.publish(Event::ConfigReloaded(reloaded.changed.clone()));
                "success"
            }
            Err(errors) => {
                report_errors(errors, "circuit breaker configuration reload refused; nothing changed");
                write(&self.inner.problems).errors.clone_from(&errors.errors);
                self.inner.hub.publish(Event::ConfigReloadFailed(errors.clone()));
                "failure"
            }
        };
        if self.inner.metrics {
            metrics::counter!(crate::metrics::CONFIG_RELOADS, "result" => outcome).increment(1);
        }
        result
    }

    fn reload_inner(&self) -> Result<Reloaded, SourceErrors> {
        let from = self.inner.reload_from.clone();
        #[cfg(feature = "toml")]
        let file = from.file.as_ref().map(sources::from_toml_file).transpose();
        #[cfg(not(feature = "toml"))]
        let file: Result<Option<crate::sources::SourceConfig>, SourceErrors> = Ok(None); // no file without `toml`
        let env = from.env.then(|| sources::from_env_vars_os(std::env::vars_os())).transpose();
        let (file, env) = match (file, env) {
            (Ok(file), Ok(env)) => (file, env),
            (file, env) => {
                // Both sources' errors at once.
                let mut errors = Vec::new();
                let mut source = Vec::new();
                for e in [file.err(), env.err()].into_iter().flatten() {
                    source.push(e.source);
                    errors.extend(e.errors);
                }
                return Err(SourceErrors { source: source.join(" and "), errors });
            }
        };
        let mut next = read(&self.inner.layers).clone();
        if let Some(file) = file {
            next.file = file;
        }
        if let Some(env) = env {
            next.env = env;
        }
        let warnings: Vec<SourceError> = next.file.warnings.iter().chain(&next.env.warnings).cloned().collect();
        let mut changed = self.replace_layers("the reloaded configuration", next)?;
        changed.sort();
        for warning in &warnings {
            report_warning(warning);
        }
        *write(&self.inner.problems) = crate::registry::Problems { errors: Vec::new(), warnings: warnings.clone() };
        Ok(Reloaded { changed, warnings })
    }

    /// Reloads whenever the file given to
    /// [`RegistryBuilder::from_toml_file`](crate::RegistryBuilder::from_toml_file) changes,
    /// checking its modification time and size every `every`, on a thread of its own, until
    /// the returned [`ConfigWatch`] is dropped. A change that does not validate is refused and
    /// reported as by [`reload`](Self::reload); the next valid change applies.
    ///
    /// Fails when the registry reads no file. Feature `toml`.
    #[cfg(feature = "toml")]
    #[cfg_attr(docsrs, doc(cfg(feature = "toml")))]
    pub fn watch_config(&self, every: Duration) -> std::io::Result<ConfigWatch> {
        let Some(path) = self.inner.reload_from.file.clone() else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "this registry reads no configuration file (RegistryBuilder::from_toml_file)",
            ));
        };
        let stamp = |path: &std::path::Path| {
            std::fs::metadata(path).ok().map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
        };
        let stop = Arc::new(AtomicBool::new(false));
        let registry: std::sync::Weak<crate::registry::Inner> = Arc::downgrade(&self.inner);
        let mut seen = stamp(&path);
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new().name("breaker-config-watch".to_owned()).spawn(move || loop {
                std::thread::park_timeout(every);
                if stop.load(Ordering::Acquire) {
                    return;
                }
                let Some(inner) = registry.upgrade() else {
                    return; // the registry is gone
                };
                let now = stamp(&path);
                if now != seen {
                    seen = now;
                    let _ = Registry { inner }.reload();
                }
            })?
        };
        Ok(ConfigWatch { stop, thread: Some(thread) })
    }

    /// Reloads on every SIGHUP (see [`reload`](Self::reload)), from a task on the current tokio
    /// runtime, for as long as the registry lives. The handler is installed before this
    /// returns, so a SIGHUP sent afterwards never takes the default action (ending the process).
    ///
    /// Needs the `sighup` feature, a Unix platform and a tokio runtime.
    #[cfg(all(unix, feature = "sighup"))]
    pub fn reload_on_sighup(&self) -> std::io::Result<()> {
        let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let registry: std::sync::Weak<crate::registry::Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                let Some(inner) = registry.upgrade() else {
                    return;
                };
                tracing::info!("SIGHUP: reloading the circuit breaker configuration");
                let _ = Registry { inner }.reload();
            }
        });
        Ok(())
    }
}

/// Watches a registry's configuration file; see `Registry::watch_config` (the `toml`
/// feature). Dropping it stops the watch.
pub struct ConfigWatch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for ConfigWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigWatch").field("stopped", &self.stop.load(Ordering::Relaxed)).finish()
    }
}

impl Drop for ConfigWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

//! Fleet-wide circuit breakers through Redis or Valkey: the replicas of a service share what
//! one of them learns, with no network on the call path.
//!
//! Every call is still decided by the local breaker, exactly as fast as without a fleet. A
//! background task per [`Registry`] holds one connection and one subscription:
//!
//! - **Openings are shared.** When a breaker opens by its own judgement, the replica publishes
//!   a small versioned [`message::Message`] on `<prefix>:fleet:events` and records it in a key
//!   expiring with the wait, so replicas that join late or reconnect catch up. Other replicas
//!   react by the breaker's [`FleetPolicy`]: `hint` (default) sensitises them for the
//!   remaining wait, `any` adopts the open, `quorum(k)` adopts once `k` replicas opened,
//!   `local` ignores the fleet. An adopted open is a transition like a local one, with
//!   reason [`Reason::Fleet`](breaker_runtime::Reason::Fleet) naming the instance.
//! - **One probe budget.** When the wait ends, only the replica holding a lease (`SET NX PX`
//!   in a Lua script, with a fencing token) probes; the others keep rejecting, with a
//!   `retry_after` of the time until the verdict is due, until the prober publishes the
//!   verdict, which closes or reopens the breaker fleet-wide. A verdict is published only
//!   while its lease is still held, and older tokens are ignored. A prober that dies loses
//!   the lease when it expires, and another replica probes.
//! - **Redis trouble never hurts calls.** Down, slow (every command has a deadline) or
//!   partitioned (a heartbeat notices), the replica falls back to local judgement at once:
//!   probe holds are lifted, no breaker changes state. It reconnects with backoff and
//!   resyncs from the keys. Malformed, oversized or foreign messages are counted and dropped.
//!
//! # Auth and TLS
//!
//! Through the URL, as redis-rs reads it: `redis://:password@host:6379/0`,
//! `redis://user:password@host:6379`. `rediss://` (TLS) needs this crate's **`tls`** feature
//! (rustls with the `ring` provider; off by default), which trusts the system's roots, or only
//! the CA in [`FleetConfig::tls_ca_file()`] when it is set (a private CA). For a server that
//! asks clients for a certificate (mutual TLS), [`FleetConfig::tls_client_identity`] names the
//! PEM certificate and key this replica presents. The password is never logged: URLs are shown
//! as `redis://***@host:6379`; the key file's contents never are.
//!
//! # Example
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use breaker_redis::{Fleet, FleetConfig, FleetPolicy};
//! use breaker_runtime::Registry;
//!
//! let registry = Registry::new();
//! let config = FleetConfig::new("redis://127.0.0.1:6379")
//!     .prefix("checkout")
//!     .breaker_policy("payments", FleetPolicy::Any);
//! let fleet = Fleet::attach(&registry, config)?;
//! // ... serve; calls go through `registry` as before ...
//! println!("fleet link up: {}", fleet.link_up());
//! fleet.shutdown().await;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms, unreachable_pub)]

mod config;
mod link;
pub mod message;
mod node;
mod stats;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use breaker_runtime::{Registry, Transition};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use config::{FleetConfig, FleetConfigError, FleetPolicy, ENV_PREFIX, KEYS};
/// The redis client crate this one links with, for [`Fleet::attach_with_client`].
pub use redis;
pub use stats::{FleetStats, LINK_UP, MESSAGES};

/// Local changes waiting for the link task; beyond this they are dropped and counted.
const QUEUE: usize = 4096;

/// Why a fleet could not be attached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// The URL is not a Redis URL the client accepts.
    #[error("invalid fleet Redis URL `{url}`: {source}")]
    Url {
        /// The URL, password removed.
        url: String,
        /// The client's complaint.
        source: redis::RedisError,
    },
    /// A setting is out of range ([`FleetConfig::validate`]).
    #[error("invalid fleet settings: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Config(Vec<FleetConfigError>),
    /// Not called inside a Tokio runtime.
    #[error("`Fleet::attach` must be called inside a Tokio runtime")]
    NoRuntime,
    /// The registry already has a fleet link: a second one would publish every opening
    /// twice and race the first for probe leases. Drop or [`shutdown`](Fleet::shutdown)
    /// the first [`Fleet`] before attaching again.
    #[error(
        "this registry already has a fleet link (instance `{instance_id}`); drop or shut down that `Fleet` before attaching another"
    )]
    AlreadyAttached {
        /// The instance id of the link already attached.
        instance_id: String,
    },
    /// The URL asks for TLS (`rediss://`), or a CA file or client certificate is set, and this
    /// build of `breaker-redis` has no TLS: turn on its `tls` feature.
    #[error("the fleet URL `{url}` needs TLS, which this build lacks: turn on the `tls` feature of `breaker-redis`")]
    TlsNotBuilt {
        /// The URL, password removed.
        url: String,
    },
    /// TLS settings that could not be used, every one of them: a file
    /// ([`FleetConfig::tls_ca_file()`], [`tls_client_cert_file`](FleetConfig::tls_client_cert_file)
    /// or [`tls_client_key_file`](FleetConfig::tls_client_key_file)) that is unreadable or
    /// holds no PEM certificate or key, or that is set for a URL without TLS.
    #[error("fleet TLS: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Tls(Vec<TlsFileError>),
}

/// One TLS setting that could not be used (see [`FleetError::Tls`]). The file's contents are
/// never shown: a key file's would be a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting `{setting}` ({}): {message}", path.display())]
pub struct TlsFileError {
    /// The setting: `tls_ca_file`, `tls_client_cert_file` or `tls_client_key_file`.
    pub setting: &'static str,
    /// Its file.
    pub path: std::path::PathBuf,
    /// What was wrong.
    pub message: String,
}

/// The registries with a fleet link (by [`Registry::id`]), and the link's instance id.
static ATTACHED: Mutex<BTreeMap<u64, String>> = Mutex::new(BTreeMap::new());

/// A registry's link to its fleet. Dropping it stops the link (the breakers keep their
/// state and judge locally); [`shutdown`](Self::shutdown) also waits for the task.
pub struct Fleet {
    registry_id: u64,
    stats: stats::Stats,
    instance_id: String,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for Fleet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet").field("instance_id", &self.instance_id).field("link_up", &self.link_up()).finish()
    }
}

impl Fleet {
    /// Links `registry` to the fleet described by `config` and returns at once: the
    /// connection is made in the background, and until it is up every breaker judges
    /// locally. Must be called inside a Tokio runtime; fails on settings out of range
    /// ([`FleetConfig::validate`]) or a URL the client refuses.
    ///
    /// One registry has at most one link: attaching a second [`Fleet`] to a registry whose
    /// first is still alive fails with [`FleetError::AlreadyAttached`] (a second link would
    /// publish every opening twice). Once the first is dropped or shut down, attaching again
    /// works.
    ///
    /// Follows the registry's transitions ([`Registry::on_transition`], which costs calls
    /// nothing); the callback only queues a state change for the link task, without waiting.
    pub fn attach(registry: &Registry, config: FleetConfig) -> Result<Fleet, FleetError> {
        config.validate().map_err(FleetError::Config)?;
        let client = client(&config)?;
        Self::link(registry, config, client)
    }

    /// [`attach`](Self::attach) with a `redis::Client` the caller built: for connection
    /// settings [`FleetConfig`] does not cover (a TLS setup of your own, say). The client
    /// decides where and how to connect; `config.url` is then only shown in logs, and the TLS
    /// files of `config` are not read. Every other setting applies as with `attach`.
    /// [`redis`] is re-exported so the client's version matches.
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
    /// use breaker_redis::{redis, Fleet, FleetConfig};
    /// use breaker_runtime::Registry;
    ///
    /// let registry = Registry::new();
    /// let client = redis::Client::open("redis://10.0.0.7:6379/2")?;
    /// let fleet = Fleet::attach_with_client(&registry, FleetConfig::new("redis://10.0.0.7:6379/2"), client)?;
    /// # drop(fleet);
    /// # Ok(())
    /// # }
    /// ```
    pub fn attach_with_client(
        registry: &Registry,
        config: FleetConfig,
        client: redis::Client,
    ) -> Result<Fleet, FleetError> {
        config.validate().map_err(FleetError::Config)?;
        Self::link(registry, config, client)
    }

    /// Starts the link task for a checked `config` and its client.
    fn link(registry: &Registry, config: FleetConfig, client: redis::Client) -> Result<Fleet, FleetError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| FleetError::NoRuntime)?;
        let registry_id = registry.id();
        {
            let mut attached = ATTACHED.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(instance_id) = attached.get(&registry_id) {
                return Err(FleetError::AlreadyAttached { instance_id: instance_id.clone() });
            }
            attached.insert(registry_id, config.instance_id.clone());
        }
        let stats = stats::Stats::default();
        stats.set_link(false);
        let (tx, rx) = mpsc::channel::<Transition>(QUEUE);
        let dropped = stats.clone();
        registry.on_transition(move |t| {
            if tx.try_send(t.clone()).is_err() && !tx.is_closed() {
                dropped.count("dropped");
            }
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let instance_id = config.instance_id.clone();
        let link = link::Link {
            node: node::Node::new(registry.clone(), config, stats.clone()),
            client,
            local: rx,
            shutdown: shutdown_rx,
            stats: stats.clone(),
            timers: BTreeMap::new(),
            timer_seq: 0,
        };
        let task = runtime.spawn(link.run());
        Ok(Fleet { registry_id, stats, instance_id, shutdown, task: Some(task) })
    }

    /// True while the link is connected, subscribed and resynced (the
    /// [`LINK_UP`] gauge).
    pub fn link_up(&self) -> bool {
        self.stats.link_up()
    }

    /// This replica's id, as other replicas' events show it.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Message counts by outcome and the link's state.
    pub fn stats(&self) -> FleetStats {
        self.stats.snapshot()
    }

    /// Stops the link and waits for its task. The breakers keep their state.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        ATTACHED.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.registry_id);
    }
}

/// The redis client for `config`'s URL, with its CA file and client certificate when set.
fn client(config: &FleetConfig) -> Result<redis::Client, FleetError> {
    let url = config.url.as_str();
    let tls_url = url.trim_start().get(..9).is_some_and(|scheme| scheme.eq_ignore_ascii_case("rediss://"));
    let tls_files = [
        ("tls_ca_file", &config.tls_ca_file),
        ("tls_client_cert_file", &config.tls_client_cert_file),
        ("tls_client_key_file", &config.tls_client_key_file),
    ];
    if !cfg!(feature = "tls") && (tls_url || tls_files.iter().any(|(_, file)| file.is_some())) {
        return Err(FleetError::TlsNotBuilt { url: config::redact(url) });
    }
    let client = redis::Client::open(url).map_err(|source| FleetError::Url { url: config::redact(url), source })?;
    #[cfg(feature = "tls")]
    {
        if tls_url {
            // The provider the `tls` feature builds. A program that installed its own first (a
            // build with rustls's other providers too) keeps it: then this fails, harmlessly.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        // Every file read and checked before any error is returned, so one error names them all.
        let [ca, cert, key] = tls_files.map(|(setting, file)| read_tls_file(setting, file.as_deref(), tls_url));
        let (ca, cert, key) = match (ca, cert, key) {
            (Ok(ca), Ok(cert), Ok(key)) => (ca, cert, key),
            (ca, cert, key) => {
                return Err(FleetError::Tls([ca.err(), cert.err(), key.err()].into_iter().flatten().collect()))
            }
        };
        if ca.is_none() && cert.is_none() {
            return Ok(client);
        }
        // `validate` has made sure a certificate comes with its key.
        let client_tls =
            cert.zip(key).map(|(client_cert, client_key)| redis::ClientTlsConfig { client_cert, client_key });
        let certificates = redis::TlsCertificates { client_tls, root_cert: ca };
        // Every file parsed above as redis-rs parses it: what is left to fail is the CA's
        // certificates as trust anchors.
        redis::Client::build_with_tls(client.get_connection_info().clone(), certificates).map_err(|e| {
            let (setting, file) = tls_files[0];
            FleetError::Tls(vec![TlsFileError {
                setting,
                path: file.clone().unwrap_or_default(),
                message: e.to_string(),
            }])
        })
    }
    #[cfg(not(feature = "tls"))]
    Ok(client)
}

/// The contents of one TLS file, parsed as the PEM it should hold (certificates, or for
/// `tls_client_key_file` a private key), so an error names the file; `None` when unset.
#[cfg(feature = "tls")]
fn read_tls_file(
    setting: &'static str,
    path: Option<&std::path::Path>,
    tls_url: bool,
) -> Result<Option<Vec<u8>>, TlsFileError> {
    use rustls::pki_types::pem::{self, PemObject};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let Some(path) = path else { return Ok(None) };
    let error = |message: String| TlsFileError { setting, path: path.to_path_buf(), message };
    if !tls_url {
        return Err(error(format!("`{setting}` needs a `rediss://` URL")));
    }
    let bytes = std::fs::read(path).map_err(|e| error(e.to_string()))?;
    let parsed = if setting == "tls_client_key_file" {
        PrivateKeyDer::from_pem_slice(&bytes).map(drop)
    } else {
        CertificateDer::pem_slice_iter(&bytes).try_fold(0, |n, cert| cert.map(|_| n + 1)).and_then(|n| match n {
            0 => Err(pem::Error::NoItemsFound),
            _ => Ok(()),
        })
    };
    match parsed {
        Ok(()) => Ok(Some(bytes)),
        Err(pem::Error::NoItemsFound) if setting == "tls_client_key_file" => {
            Err(error("no PEM private key (`-----BEGIN ... PRIVATE KEY-----`) in the file".into()))
        }
        Err(pem::Error::NoItemsFound) => {
            Err(error("no PEM certificate (`-----BEGIN CERTIFICATE-----`) in the file".into()))
        }
        Err(e) => Err(error(format!("unreadable PEM: {e}"))),
    }
}

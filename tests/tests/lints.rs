//! Expansions are lint-clean: every shape of annotated function, compiled under the strictest
//! lints (`cargo clippy --all-targets` checks the clippy ones).

#![deny(warnings, clippy::all, clippy::pedantic)]
#![allow(clippy::unused_async)] // the bodies are trivial; the expansion is what is checked

use std::sync::Arc;

use breaker_runtime::{circuit_breaker, CallError, Registry, Rejected, TimedOut};

/// The error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

impl From<TimedOut> for Error {
    fn from(_: TimedOut) -> Self {
        Error
    }
}

/// Documented, so `missing_docs` stays quiet.
#[derive(Debug, Clone, Default)]
pub struct Client {
    registry: Registry,
    hits: u32,
}

impl Client {
    /// Every argument at once.
    ///
    /// # Errors
    ///
    /// On failure.
    #[circuit_breaker(
        name = "lints",
        registry = self.registry,
        timeout = "1s",
        fallback = Self::fallback,
        fallback_on = "rejected",
        failure_if = is_failure,
        consecutive_failures = 3,
        failure_rate = 0.5,
        window = "10 calls",
        minimum_calls = 5,
        slow_call = "2s",
        slow_call_rate = 0.8,
        wait = "30s",
        backoff_multiplier = 2.0,
        max_wait = "10m",
        jitter = 0.1,
        half_open_permits = 2,
        success_threshold = 2,
        max_half_open = "2m"
    )]
    pub async fn everything(&self, id: String, tag: &str) -> Result<String, Error> {
        if tag.is_empty() {
            return Err(Error);
        }
        Ok(id)
    }

    async fn fallback(&self, id: String, _tag: &str, _error: CallError<Error>) -> Result<String, Error> {
        Ok(id)
    }

    /// `&mut self` with a fallback.
    ///
    /// # Errors
    ///
    /// Never.
    #[circuit_breaker(fallback = Self::hit_fallback)]
    pub async fn hit(&mut self, by: u32) -> Result<u32, Error> {
        self.hits += by;
        Ok(self.hits)
    }

    async fn hit_fallback(&mut self, by: u32, _error: CallError<Error>) -> Result<u32, Error> {
        self.hits -= by;
        Ok(self.hits)
    }

    /// Retries.
    ///
    /// # Errors
    ///
    /// Never.
    #[circuit_breaker(retry(attempts = 3, backoff = "10ms"))]
    pub async fn retried(&self, id: String) -> Result<String, Error> {
        Ok(id)
    }

    /// Blocking, by value.
    ///
    /// # Errors
    ///
    /// Never.
    #[circuit_breaker(fallback = Self::owned_fallback)]
    pub fn owned(self) -> Result<u32, Error> {
        Ok(self.hits)
    }

    #[allow(clippy::needless_pass_by_value, clippy::unnecessary_wraps)] // a fallback mirrors its function
    fn owned_fallback(self, _error: CallError<Error>) -> Result<u32, Error> {
        Ok(self.hits)
    }

    /// `Arc<Self>`, without a fallback.
    ///
    /// # Errors
    ///
    /// When open.
    #[circuit_breaker]
    pub async fn arc(self: Arc<Self>) -> Result<u32, Error> {
        Ok(self.hits)
    }

    /// Unit result and an early return.
    ///
    /// # Errors
    ///
    /// When open.
    #[circuit_breaker]
    pub async fn unit(&self, skip: bool) -> Result<(), Error> {
        if skip {
            return Ok(());
        }
        Ok(())
    }

    /// `impl Trait` return.
    ///
    /// # Errors
    ///
    /// When open.
    #[circuit_breaker]
    pub fn range(&self, n: u32) -> Result<impl Iterator<Item = u32>, Error> {
        Ok(0..n + self.hits)
    }
}

/// A trait implemented through `#[async_trait]`, whose expansion binds the arguments before
/// the attribute's statements.
#[async_trait::async_trait]
pub trait Fetch {
    /// Fetches.
    ///
    /// # Errors
    ///
    /// When open.
    async fn fetch(&self, key: u32) -> Result<u32, Error>;
}

#[async_trait::async_trait]
impl Fetch for Client {
    #[circuit_breaker(fallback = Self::fetch_fallback)]
    async fn fetch(&self, key: u32) -> Result<u32, Error> {
        Ok(key + self.hits)
    }
}

impl Client {
    async fn fetch_fallback(&self, key: u32, _: CallError<Error>) -> Result<u32, Error> {
        Ok(key)
    }
}

/// A whole client behind one attribute on its `impl` block.
#[derive(Debug, Clone, Default)]
pub struct Block {
    registry: Registry,
}

#[circuit_breaker(name = "lints-block", registry = self.registry, timeout = "1s", consecutive_failures = 3)]
impl Block {
    /// Shared breaker.
    ///
    /// # Errors
    ///
    /// When open.
    pub async fn first(&self, id: String) -> Result<String, Error> {
        Ok(id)
    }

    /// Blocking, with its own fallback.
    ///
    /// # Errors
    ///
    /// Never.
    #[circuit_breaker(fallback = Self::second_fallback)]
    pub fn second(&self, n: u32) -> Result<u32, Error> {
        Ok(n)
    }

    #[allow(clippy::unnecessary_wraps)] // a fallback mirrors its function
    fn second_fallback(&self, n: u32, _error: CallError<Error>) -> Result<u32, Error> {
        Ok(n)
    }

    /// Skipped.
    ///
    /// # Errors
    ///
    /// Never.
    #[circuit_breaker(skip)]
    pub async fn skipped(&self) -> Result<u32, Error> {
        Ok(0)
    }

    /// Left alone.
    #[must_use]
    pub fn plain(&self) -> u32 {
        u32::from(self.registry.is_empty())
    }
}

/// `#[async_trait]` above the block attribute, one breaker per method, default names.
#[async_trait::async_trait]
#[circuit_breaker(per_method)]
impl Fetch for Block {
    async fn fetch(&self, key: u32) -> Result<u32, Error> {
        Ok(key)
    }
}

fn is_failure(_: &Error) -> bool {
    true
}

#[test]
fn annotated_functions_compile_under_pedantic_lints() {
    let client = Client::default();
    assert_eq!(client.range(2).unwrap().count(), 2);
    assert_eq!(client.owned(), Ok(0));
    let block = Block::default();
    assert_eq!(block.plain(), 1, "no breaker before the first call");
    assert_eq!(block.second(2), Ok(2));
    assert_eq!(block.plain(), 0);
}

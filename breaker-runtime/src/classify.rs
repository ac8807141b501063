//! Deciding what a call's result says about the dependency's health.

use std::fmt;

use breaker_core::Outcome;

/// Classifies a call's result as a success, a failure, or neither (ignored).
///
/// Implemented for closures `Fn(&Result<T, E>) -> Outcome`, for [`ErrorsAreFailures`] (the
/// default) and for [`Classifier`].
pub trait Classify<T, E> {
    /// What `result` says about the dependency.
    fn classify(&self, result: &Result<T, E>) -> Outcome;
}

/// The default: `Ok` is a success and every `Err` a failure.
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorsAreFailures;

impl<T, E> Classify<T, E> for ErrorsAreFailures {
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        }
    }
}

impl<T, E, F: Fn(&Result<T, E>) -> Outcome> Classify<T, E> for F {
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        self(result)
    }
}

type ErrPredicate<E> = Box<dyn Fn(&E) -> bool + Send + Sync>;
type OkPredicate<T> = Box<dyn Fn(&T) -> bool + Send + Sync>;

/// A rule-based classifier, in the spirit of Resilience4j's record and ignore lists.
///
/// Rules, in order of precedence:
/// 1. an error matching an `ignore_if` predicate is [`Outcome::Ignored`];
/// 2. an error matching a `success_if` predicate is a success (the caller's own mistake, such
///    as a 404);
/// 3. when `failure_if` predicates exist, an error is a failure only if one matches and a
///    success otherwise; without them every other error is a failure;
/// 4. an `Ok` value matching a `failure_if_ok` predicate (an HTTP 503 inside `Ok`) is a failure;
///    every other `Ok` is a success.
///
/// # Example
///
/// ```
/// use breaker_runtime::{Classifier, Classify, Outcome};
///
/// #[derive(Debug)]
/// enum DbError { Timeout, NotFound, Cancelled }
///
/// let c = Classifier::<u16, DbError>::new()
///     .success_if(|e| matches!(e, DbError::NotFound))
///     .ignore_if(|e| matches!(e, DbError::Cancelled))
///     .failure_if_ok(|status| *status >= 500);
/// assert_eq!(c.classify(&Err(DbError::Timeout)), Outcome::Failure);
/// assert_eq!(c.classify(&Err(DbError::NotFound)), Outcome::Success);
/// assert_eq!(c.classify(&Err(DbError::Cancelled)), Outcome::Ignored);
/// assert_eq!(c.classify(&Ok(503)), Outcome::Failure);
/// assert_eq!(c.classify(&Ok(200)), Outcome::Success);
/// ```
pub struct Classifier<T, E> {
    failure_if: Vec<ErrPredicate<E>>,
    success_if: Vec<ErrPredicate<E>>,
    ignore_if: Vec<ErrPredicate<E>>,
    failure_if_ok: Vec<OkPredicate<T>>,
}

impl<T, E> Default for Classifier<T, E> {
    fn default() -> Self {
        Self { failure_if: Vec::new(), success_if: Vec::new(), ignore_if: Vec::new(), failure_if_ok: Vec::new() }
    }
}

impl<T, E> fmt::Debug for Classifier<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Classifier")
            .field("failure_if", &self.failure_if.len())
            .field("success_if", &self.success_if.len())
            .field("ignore_if", &self.ignore_if.len())
            .field("failure_if_ok", &self.failure_if_ok.len())
            .finish()
    }
}

impl<T, E> Classifier<T, E> {
    /// A classifier that counts every error as a failure.
    pub fn new() -> Self {
        Self::default()
    }
    /// Errors matching `p` are failures (and, once any such rule exists, only those).
    pub fn failure_if(mut self, p: impl Fn(&E) -> bool + Send + Sync + 'static) -> Self {
        self.failure_if.push(Box::new(p));
        self
    }
    /// Errors matching `p` count as successes.
    pub fn success_if(mut self, p: impl Fn(&E) -> bool + Send + Sync + 'static) -> Self {
        self.success_if.push(Box::new(p));
        self
    }
    /// Errors matching `p` count for nothing.
    pub fn ignore_if(mut self, p: impl Fn(&E) -> bool + Send + Sync + 'static) -> Self {
        self.ignore_if.push(Box::new(p));
        self
    }
    /// `Ok` values matching `p` are failures.
    pub fn failure_if_ok(mut self, p: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
        self.failure_if_ok.push(Box::new(p));
        self
    }
}

impl<T, E> Classify<T, E> for Classifier<T, E> {
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        match result {
            Ok(v) if self.failure_if_ok.iter().any(|p| p(v)) => Outcome::Failure,
            Ok(_) => Outcome::Success,
            Err(e) if self.ignore_if.iter().any(|p| p(e)) => Outcome::Ignored,
            Err(e) if self.success_if.iter().any(|p| p(e)) => Outcome::Success,
            Err(e) if self.failure_if.is_empty() || self.failure_if.iter().any(|p| p(e)) => Outcome::Failure,
            Err(_) => Outcome::Success,
        }
    }
}

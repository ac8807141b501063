//! Classifiers for `http::Response`s (feature `http`), re-exported from [`crate::tower`].

use std::fmt;

use breaker_core::Outcome;

use crate::classify::Classify;

/// Classifies HTTP responses: by default 5xx and 429 are failures, everything else a success;
/// transport errors are failures.
///
/// ```
/// use breaker_runtime::tower::HttpClassifier;
/// use breaker_runtime::{Classify, Outcome};
///
/// let c = HttpClassifier::new();
/// let resp = |code: u16| http::Response::builder().status(code).body(()).unwrap();
/// assert_eq!(Classify::<_, ()>::classify(&c, &Ok(resp(503))), Outcome::Failure);
/// assert_eq!(Classify::<_, ()>::classify(&c, &Ok(resp(429))), Outcome::Failure);
/// assert_eq!(Classify::<_, ()>::classify(&c, &Ok(resp(404))), Outcome::Success);
/// let strict = HttpClassifier::failure_if(|s| s >= 400);
/// assert_eq!(Classify::<_, ()>::classify(&strict, &Ok(resp(404))), Outcome::Failure);
/// ```
#[derive(Clone, Copy)]
pub struct HttpClassifier {
    is_failure: fn(u16) -> bool,
}

impl fmt::Debug for HttpClassifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HttpClassifier")
    }
}

impl Default for HttpClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClassifier {
    /// 5xx and 429 are failures.
    pub const fn new() -> Self {
        HttpClassifier { is_failure: |s| s >= 500 || s == 429 }
    }

    /// Statuses for which `is_failure` is true are failures.
    pub const fn failure_if(is_failure: fn(u16) -> bool) -> Self {
        HttpClassifier { is_failure }
    }

    /// The outcome for one status code.
    pub fn classify_status(&self, status: u16) -> Outcome {
        if (self.is_failure)(status) {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }
}

impl<B, E> Classify<http::Response<B>, E> for HttpClassifier {
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Outcome {
        match result {
            Ok(response) => self.classify_status(response.status().as_u16()),
            Err(_) => Outcome::Failure,
        }
    }
}

/// gRPC status codes, as numbered on the wire (`grpc-status`).
pub mod grpc_code {
    #![allow(missing_docs)]
    pub const OK: i32 = 0;
    pub const CANCELLED: i32 = 1;
    pub const UNKNOWN: i32 = 2;
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const DEADLINE_EXCEEDED: i32 = 4;
    pub const NOT_FOUND: i32 = 5;
    pub const ALREADY_EXISTS: i32 = 6;
    pub const PERMISSION_DENIED: i32 = 7;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const FAILED_PRECONDITION: i32 = 9;
    pub const ABORTED: i32 = 10;
    pub const OUT_OF_RANGE: i32 = 11;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
    pub const DATA_LOSS: i32 = 15;
    pub const UNAUTHENTICATED: i32 = 16;
}

/// Classifies gRPC responses by their `grpc-status`: by default `Unavailable`,
/// `DeadlineExceeded`, `ResourceExhausted`, `Internal` and `Unknown` are failures; every other
/// code (`NotFound`, `InvalidArgument`, ... — the caller's fault) is a success. Transport errors
/// are failures.
///
/// Works on the `http::Response` a tonic `Channel` returns (a failing unary call carries its
/// status in the response headers). With a generated client, classify the `tonic::Status`
/// yourself with [`classify_code`](Self::classify_code)`(status.code() as i32)`.
///
/// ```
/// use breaker_runtime::tower::{grpc_code, GrpcClassifier};
/// use breaker_runtime::Outcome;
///
/// let c = GrpcClassifier::new();
/// assert_eq!(c.classify_code(grpc_code::UNAVAILABLE), Outcome::Failure);
/// assert_eq!(c.classify_code(grpc_code::NOT_FOUND), Outcome::Success);
/// let c = c.with_failure(grpc_code::ABORTED);
/// assert_eq!(c.classify_code(grpc_code::ABORTED), Outcome::Failure);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct GrpcClassifier {
    failures: u32,
}

impl Default for GrpcClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl GrpcClassifier {
    /// The default failure codes.
    pub const fn new() -> Self {
        use grpc_code::*;
        GrpcClassifier {
            failures: 1 << UNAVAILABLE
                | 1 << DEADLINE_EXCEEDED
                | 1 << RESOURCE_EXHAUSTED
                | 1 << INTERNAL
                | 1 << UNKNOWN,
        }
    }

    /// Also count `code` as a failure.
    pub const fn with_failure(mut self, code: i32) -> Self {
        if code >= 0 && code < 32 {
            self.failures |= 1 << code;
        }
        self
    }

    /// Count `code` as a success.
    pub const fn without_failure(mut self, code: i32) -> Self {
        if code >= 0 && code < 32 {
            self.failures &= !(1 << code);
        }
        self
    }

    /// The outcome for one status code.
    pub fn classify_code(&self, code: i32) -> Outcome {
        if (0..32).contains(&code) && self.failures & (1 << code) != 0 {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }
}

impl<B, E> Classify<http::Response<B>, E> for GrpcClassifier {
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Outcome {
        match result {
            Ok(response) => {
                if response.status().is_server_error() {
                    return Outcome::Failure;
                }
                let code = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<i32>().ok())
                    .unwrap_or(grpc_code::OK);
                self.classify_code(code)
            }
            Err(_) => Outcome::Failure,
        }
    }
}

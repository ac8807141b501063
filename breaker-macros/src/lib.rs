//! The `#[circuit_breaker]` attribute. An implementation detail of `breaker-runtime`, which
//! re-exports it: depend on `breaker-runtime` instead.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms, unreachable_pub)]

mod attr;
mod expand;
mod validate;

use proc_macro::TokenStream;

/// Protects a function with a named circuit breaker.
///
/// ```ignore
/// use breaker_runtime::{circuit_breaker, CallError};
///
/// impl ContentClient {
///     #[circuit_breaker(name = "content-service", fallback = Self::cached_posts)]
///     async fn posts(&self, user: UserId) -> Result<Vec<Post>, ClientError> {
///         self.http.get_posts(user).await
///     }
///
///     async fn cached_posts(&self, user: UserId, err: CallError<ClientError>) -> Result<Vec<Post>, ClientError> {
///         self.cache.posts(user).ok_or(err.into_error())
///     }
/// }
/// ```
///
/// Every call goes through the breaker named `content-service` in the global registry: while
/// the dependency fails, the breaker opens and calls fail fast, without touching it; the
/// fallback answers instead. The function keeps its signature: an `async fn` stays an
/// `async fn` (its future is `Send` exactly when the body's is), lints such as `dead_code` and
/// `must_use` keep working, and errors in the body point at the body.
///
/// # Where it works
///
/// - `async fn` and plain `fn` (run through the blocking path: a timeout there is checked
///   after the call returns, and `retry` is not available).
/// - Free functions and methods taking `&self`, `&mut self`, `self` or `self: Arc<Self>`.
/// - Generics, where clauses, `impl Trait` in arguments and in the return type, elided and
///   named lifetimes.
/// - `async fn` in trait impls, and methods inside `#[async_trait]` impls (put
///   `#[circuit_breaker]` on the method; `#[async_trait]` on the impl runs first and this
///   attribute wraps the future it builds).
/// - Not on a `const fn`.
///
/// The function must return a `Result`, spelled any way (`io::Result<T>`, `anyhow::Result<T>`
/// and other aliases work): the breaker counts `Err` as a failure. Without a fallback, the
/// error type must hold a rejection, `impl From<breaker_runtime::Rejected> for E`, and with a
/// `timeout` also `impl From<breaker_runtime::TimedOut> for E`; the compiler says so on the
/// return type (or on `timeout = ...`) when one is missing.
///
/// # Arguments
///
/// All are optional. Errors in them are reported together, each on its own token, and the
/// function is still emitted unchanged so the rest of the crate keeps compiling.
///
/// ## `name = "..."`
///
/// The breaker's name in the registry, used in metrics, logs and configuration files.
/// Functions with the same `name` share one breaker, on purpose.
///
/// Without `name`, the name is the function's path: `module::function` for a free function,
/// `module::Type::method` for a method in an inherent impl and `module::<Type as Trait>::method`
/// for one in a trait impl, where `module` is the module the function is written in
/// (`module_path!()`) and `Type` and `Trait` are the last segments of their paths, without
/// generic arguments: every instantiation of a generic impl shares its method's breaker. The
/// type is read at run time, on a site's first call, from `core::any::type_name`, which a
/// future compiler may spell differently; give breakers that configuration files or dashboards
/// refer to an explicit `name`. Two different functions that still end up with one default
/// name (`impl Fetch<u8> for Users` and `impl Fetch<u16> for Users`) share a breaker they did
/// not ask for: the registry reports it (`Registry::conflicts` and a `warn` log).
///
/// ```ignore
/// #[circuit_breaker(name = "content-service")]
/// async fn posts(&self, user: UserId) -> Result<Vec<Post>, ClientError> { .. }
///
/// #[circuit_breaker(name = "content-service")] // the same breaker as `posts`
/// async fn comments(&self, post: PostId) -> Result<Vec<Comment>, ClientError> { .. }
/// ```
///
/// ## `fallback = path`
///
/// A function called instead of failing: it takes the same arguments followed by
/// `CallError<E>` (which says why: `Rejected`, `Timeout` or `Failed(e)`) and returns the same
/// type; `async` when the protected function is. Arguments the call takes by value are cloned
/// for the fallback before the call (so they must be `Clone`; the compiler names the one that
/// is not); references are passed on as they are, and `&mut self` is free again by the time
/// the fallback runs.
///
/// ```ignore
/// #[circuit_breaker(fallback = Self::cached_posts)]
/// async fn posts(&self, user: UserId) -> Result<Vec<Post>, ClientError> { .. }
///
/// async fn cached_posts(&self, user: UserId, err: CallError<ClientError>) -> Result<Vec<Post>, ClientError> { .. }
/// ```
///
/// ## `fallback_on = "rejected" | "any"`
///
/// Which errors reach the fallback: `"any"` (the default) for rejections, timeouts and the
/// function's own errors; `"rejected"` only for calls the open breaker turned away, while the
/// function's errors (and timeouts, converted with `From<TimedOut>`) are returned as usual.
///
/// ```ignore
/// #[circuit_breaker(fallback = Self::cached_posts, fallback_on = "rejected")]
/// async fn posts(&self, user: UserId) -> Result<Vec<Post>, ClientError> { .. }
/// ```
///
/// ## `registry = expr`
///
/// The registry holding the breaker, instead of the global one: anything that borrows as a
/// `Registry` (`Registry`, `&Registry`, `Arc<Registry>`); it may use the arguments.
///
/// ```ignore
/// #[circuit_breaker(registry = self.registry)]
/// async fn posts(&self, user: UserId) -> Result<Vec<Post>, ClientError> { .. }
/// ```
///
/// ## `timeout = "10s"`
///
/// Drops a call that runs longer and records a failure. The error type needs
/// `From<TimedOut>`, unless a fallback with `fallback_on = "any"` handles timeouts. Durations
/// are a whole number followed by `ns`, `us`, `ms`, `s`, `m` or `h`.
///
/// ```ignore
/// #[circuit_breaker(timeout = "2s")]
/// async fn posts(&self, user: UserId) -> Result<Vec<Post>, ClientError> { .. }
/// ```
///
/// ## `retry(attempts = 3, backoff = "100ms")`
///
/// Runs the body again after a failure or a timeout, up to `attempts` times in all, waiting
/// `backoff` before the first retry and twice as long before each next one (`backoff`
/// defaults to `"100ms"`). It never retries into an open breaker: a rejection ends the call.
/// Each attempt gets its own clones of the arguments taken by value; `async fn` only, and not
/// with `&mut` arguments or `self` by value.
///
/// ```ignore
/// #[circuit_breaker(retry(attempts = 3, backoff = "100ms"))]
/// async fn posts(&self, user: UserId) -> Result<Vec<Post>, ClientError> { .. }
/// ```
///
/// ## `failure_if = path`
///
/// A predicate `fn(&E) -> bool`: errors for which it returns `false` count as successes for
/// the breaker (a 404 says nothing about the dependency's health). They are still returned.
///
/// ```ignore
/// #[circuit_breaker(failure_if = ClientError::is_server_error)]
/// async fn posts(&self, user: UserId) -> Result<Vec<Post>, ClientError> { .. }
/// ```
///
/// ## `crate = path`
///
/// Where to find `breaker_runtime` when it is renamed or re-exported; the expansion then
/// names `path::__private` instead of `::breaker_runtime::__private`.
///
/// ```ignore
/// #[circuit_breaker(crate = my_platform::breaker)]
/// async fn posts(&self, user: UserId) -> Result<Vec<Post>, ClientError> { .. }
/// ```
///
/// ## Breaker configuration
///
/// Every configuration key (`breaker_core::KEYS`) can be set for this breaker, as the
/// code-level default for its name; the registry's own configuration, configuration files and
/// the environment override it. Values are checked while compiling, with the same rules as at
/// runtime, and each invalid one is reported on its literal.
///
/// | key | value | example |
/// |---|---|---|
/// | `consecutive_failures` | whole number, or `"off"` | `consecutive_failures = 5` |
/// | `failure_rate` | number in (0, 1], or `"off"` | `failure_rate = 0.5` |
/// | `window` | `"N calls"` or a whole-second duration | `window = "100 calls"`, `window = "60s"` |
/// | `minimum_calls` | whole number, at least 1 | `minimum_calls = 20` |
/// | `slow_call` | duration, or `"off"` | `slow_call = "2s"` |
/// | `slow_call_rate` | number in (0, 1] | `slow_call_rate = 0.8` |
/// | `wait` | duration | `wait = "30s"` |
/// | `backoff_multiplier` | number, at least 1 | `backoff_multiplier = 2.0` |
/// | `max_wait` | duration, at least `wait` | `max_wait = "10m"` |
/// | `jitter` | number in [0, 1) | `jitter = 0.1` |
/// | `half_open_permits` | whole number, at least 1 | `half_open_permits = 2` |
/// | `success_threshold` | whole number, at most `half_open_permits` | `success_threshold = 2` |
/// | `max_half_open` | duration | `max_half_open = "2m"` |
///
/// ```ignore
/// #[circuit_breaker(name = "content-service", consecutive_failures = 3, window = "60s", wait = "30s")]
/// async fn posts(&self, user: UserId) -> Result<Vec<Post>, ClientError> { .. }
/// ```
///
/// Two functions that share a name but configure it differently are a mistake the registry
/// reports at runtime (`Registry::conflicts` and a `warn` log); the first configuration seen
/// is kept.
///
/// # What it expands to
///
/// The example at the top becomes, in substance (the generated names are hygienic and the
/// helpers in `breaker_runtime::__private` are not public API):
///
/// ```ignore
/// async fn posts(&self, user: UserId) -> Result<Vec<Post>, ClientError> {
///     // Resolved once per call site, not looked up by name on every call.
///     static SITE: __private::CallSite = __private::CallSite::new(
///         "content-service",
///         concat!(module_path!(), "::posts (", file!(), ":", line!(), ")"),
///         &[], // the configuration keys, as text: &[("consecutive_failures", "3"), ...]
///     );
///     const OPTIONS: __private::Options = __private::Options { timeout: None, fallback_on: __private::FALLBACK_ON_ANY, retry: None };
///     let breaker = SITE.global(); // `SITE.breaker(registry)` with `registry = ...`
///     let user_for_fallback = Clone::clone(&user);
///     let policy = __private::policy(&OPTIONS, __private::DEFAULT_CLASSIFY);
///     let raw = __private::call::<Result<Vec<Post>, ClientError>, _, _>(&breaker, &policy, async {
///         let ret: Result<Vec<Post>, ClientError> = { self.http.get_posts(user).await };
///         ret
///     })
///     .await;
///     match __private::fallback_or::<Result<Vec<Post>, ClientError>>(&OPTIONS, raw) {
///         Ok(value) => value,
///         Err(error) => __private::run_fallback(&breaker, error, |error| Self::cached_posts(self, user_for_fallback, error)).await,
///     }
/// }
/// ```
///
/// Without a fallback the tail is `__private::finish::<R>(raw)`, which turns a rejection into
/// `E` with `From<Rejected>`. Written by hand with the public API, the same call is
///
/// ```ignore
/// let breaker = Registry::global().breaker("content-service");
/// match breaker.call(self.http.get_posts(user.clone())).await {
///     Ok(posts) => Ok(posts),
///     // With `fallback_on = "rejected"`, `Err(CallError::Failed(e)) => Err(e)` comes first.
///     Err(error) => self.cached_posts(user, error).await,
/// }
/// ```
#[proc_macro_attribute]
pub fn circuit_breaker(args: TokenStream, item: TokenStream) -> TokenStream {
    entry(args.into(), item.into()).into()
}

/// Parses, validates and expands; on any error, emits the errors and the original item.
fn entry(args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    let mut errors = attr::Errors::default();
    let args = match syn::parse2::<attr::RawArgs>(args) {
        Ok(raw) => raw.into_args(&mut errors),
        Err(e) => {
            errors.push(e);
            attr::Args::default()
        }
    };
    let function = match syn::parse2::<syn::ItemFn>(item.clone()) {
        Ok(function) => function,
        Err(e) => {
            let error = match syn::parse2::<syn::TraitItemFn>(item.clone()) {
                // A trait method declaration: the attribute has no body to wrap.
                Ok(syn::TraitItemFn { default: None, semi_token: Some(semi), .. }) => syn::Error::new(
                    semi.span,
                    "`#[circuit_breaker]` needs a function body, and this trait method declaration has none; put the attribute on the method in each `impl` of the trait, or on a method with a default body",
                ),
                _ => syn::Error::new(e.span(), "`#[circuit_breaker]` goes on a function or method"),
            };
            return with_errors(item, error);
        }
    };
    let plan = validate::validate(&args, &function, &mut errors);
    match (errors.into_error(), plan) {
        (None, Some(plan)) => expand::expand(&args, &plan, function),
        (Some(error), _) => with_errors(item, error),
        (None, None) => item,
    }
}

fn with_errors(item: proc_macro2::TokenStream, error: syn::Error) -> proc_macro2::TokenStream {
    let mut out = error.to_compile_error();
    out.extend(item);
    out
}

#[cfg(test)]
mod tests {
    use quote::quote;

    #[test]
    fn crate_path_replaces_breaker_runtime_everywhere() {
        let out = super::entry(
            quote!(crate = cb, timeout = "1s", fallback = fb, failure_if = bad, retry(attempts = 2)),
            quote!(
                async fn f(x: u32) -> Result<u32, E> {
                    Ok(x)
                }
            ),
        )
        .to_string();
        assert!(!out.contains("breaker_runtime"), "{out}");
        assert!(out.contains("cb :: __private"), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn errors_keep_the_item() {
        let out = super::entry(
            quote!(nmae = "x"),
            quote!(
                async fn f() -> Result<u32, E> {
                    Ok(1)
                }
            ),
        )
        .to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("async fn f"), "{out}");
    }
}

//! The argument grammar of `#[circuit_breaker(...)]`, parsed into a plain [`Args`].
//!
//! Every argument is checked on its own here (unknown and duplicate keys, literal types,
//! durations, windows); checks that look at several arguments or at the function live in
//! `validate.rs`. Errors are collected, never returned early, so one compile reports them all.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned as _;
use syn::{Expr, ExprLit, ExprPath, ExprUnary, Ident, Lit, LitStr, Path, Token, UnOp};

use breaker_core::parse::{format_duration, parse_duration};
use breaker_core::ConfigBuilder;

/// The arguments that are not breaker configuration, in the order error messages list them.
const ARGS: &[&str] = &["name", "fallback", "fallback_on", "registry", "timeout", "retry", "failure_if", "crate"];

/// The flags that only have a meaning on an `impl` block (`per_method`) or on a method inside
/// one (`skip`).
const BLOCK_FLAGS: &[&str] = &["per_method", "skip"];

/// The arguments of `retry(...)`.
const RETRY_ARGS: &[&str] = &["attempts", "backoff"];

/// A value and the span of the token it came from.
#[derive(Debug, Clone)]
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// Which errors the fallback handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FallbackOn {
    Rejected,
    Any,
}

/// `retry(attempts = .., backoff = ..)`.
#[derive(Debug, Clone)]
pub(crate) struct Retry {
    pub(crate) attempts: u32,
    pub(crate) backoff: Duration,
    /// The `retry` keyword.
    pub(crate) span: Span,
}

/// One breaker configuration key (see `breaker_core::KEYS`) and its value as text.
#[derive(Debug, Clone)]
pub(crate) struct ConfigValue {
    pub(crate) key: &'static str,
    pub(crate) text: String,
    /// The value's tokens, where errors about it point.
    pub(crate) tokens: TokenStream,
}

/// Where a `#[circuit_breaker(...)]` is written, which decides the arguments it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// On a function or method of its own.
    Function,
    /// On an `impl` block.
    Block,
    /// On a method inside an `impl` block that carries the attribute, read by that one.
    Method,
}

/// Everything `#[circuit_breaker(...)]` was given.
#[derive(Default, Clone)]
pub(crate) struct Args {
    pub(crate) name: Option<LitStr>,
    pub(crate) fallback: Option<ExprPath>,
    pub(crate) fallback_on: Option<Spanned<FallbackOn>>,
    pub(crate) registry: Option<Expr>,
    pub(crate) timeout: Option<Spanned<Duration>>,
    pub(crate) retry: Option<Retry>,
    pub(crate) failure_if: Option<ExprPath>,
    pub(crate) krate: Option<Path>,
    pub(crate) config: Vec<ConfigValue>,
    /// `config`, parsed by the runtime's own builder (cross-field checks run in `validate.rs`).
    pub(crate) builder: ConfigBuilder,
    /// `per_method` (on an `impl` block): each method gets a breaker of its own.
    pub(crate) per_method: Option<Span>,
    /// `skip` (on a method inside an `impl` block): the method is left alone.
    pub(crate) skip: Option<Span>,
    /// Every key given, with the span of its keyword, in the order written.
    pub(crate) keys: Vec<Spanned<&'static str>>,
}

/// Collects errors, each on its own token.
#[derive(Default)]
pub(crate) struct Errors {
    error: Option<syn::Error>,
}

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.error {
            Some(e) => e.combine(error),
            None => self.error = Some(error),
        }
    }

    pub(crate) fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    pub(crate) fn spanned(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn into_error(self) -> Option<syn::Error> {
        self.error
    }
}

/// One `key = value` or `key(...)` entry, before its value is interpreted.
struct Entry {
    key: Ident,
    value: EntryValue,
}

enum EntryValue {
    Expr(Expr),
    List(Punctuated<SubEntry, Token![,]>, Span),
    Missing,
}

/// One `key = value` inside `retry(...)`.
struct SubEntry {
    key: Ident,
    value: Expr,
}

impl Parse for Entry {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let key = Ident::parse_any(input)?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            EntryValue::Expr(input.parse()?)
        } else if input.peek(syn::token::Paren) {
            let content;
            let paren = syn::parenthesized!(content in input);
            EntryValue::List(content.parse_terminated(SubEntry::parse, Token![,])?, paren.span.join())
        } else {
            EntryValue::Missing
        };
        Ok(Entry { key, value })
    }
}

impl Parse for SubEntry {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let key = Ident::parse_any(input)?;
        input.parse::<Token![=]>()?;
        Ok(SubEntry { key, value: input.parse()? })
    }
}

/// The argument tokens, split into entries.
pub(crate) struct RawArgs(Punctuated<Entry, Token![,]>);

impl Parse for RawArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        Ok(RawArgs(Punctuated::parse_terminated(input)?))
    }
}

impl RawArgs {
    /// Interprets every entry of an attribute on a function, collecting errors in `errors`.
    pub(crate) fn into_args(self, errors: &mut Errors) -> Args {
        self.into_args_at(Place::Function, errors)
    }

    /// Interprets every entry of an attribute written at `place`, collecting errors in `errors`.
    pub(crate) fn into_args_at(self, place: Place, errors: &mut Errors) -> Args {
        let mut args = Args::default();
        let mut seen: Vec<&'static str> = Vec::new();
        for entry in self.0 {
            let text = entry.key.unraw().to_string();
            if seen.contains(&text.as_str()) {
                errors.at(entry.key.span(), format_args!("duplicate `circuit_breaker` argument `{text}`"));
                continue;
            }
            let Some(key) = all_keys().chain(BLOCK_FLAGS.iter().copied()).find(|k| *k == text) else {
                errors.at(entry.key.span(), unknown("circuit_breaker", &text, keys_at(place)));
                continue;
            };
            seen.push(key);
            if let Some(message) = misplaced(key, place) {
                errors.at(entry.key.span(), message);
                continue;
            }
            args.keys.push(Spanned { value: key, span: entry.key.span() });
            if let Err(e) = interpret(&mut args, key, entry) {
                errors.push(e);
            }
        }
        args
    }
}

fn all_keys() -> impl Iterator<Item = &'static str> + Clone {
    ARGS.iter().chain(breaker_core::KEYS).copied()
}

/// The keys an attribute at `place` takes, in the order error messages list them.
fn keys_at(place: Place) -> impl Iterator<Item = &'static str> + Clone {
    let extra: &'static [&'static str] = match place {
        Place::Function => &[],
        Place::Block => &["per_method"],
        Place::Method => &["skip"],
    };
    all_keys().filter(move |k| misplaced(k, place).is_none()).chain(extra.iter().copied())
}

/// Why `key`, valid elsewhere, is not taken at `place`.
fn misplaced(key: &str, place: Place) -> Option<&'static str> {
    match (key, place) {
        ("fallback" | "fallback_on", Place::Block) => Some(
            "`fallback` and `fallback_on` go on a method, not on the `impl` block: a fallback takes its method's arguments and returns its type; write `#[circuit_breaker(fallback = ...)]` on the method inside the block",
        ),
        ("skip", Place::Block) => {
            Some("`skip` goes on a method inside the `impl` block, to leave that method unprotected: `#[circuit_breaker(skip)]`")
        }
        ("skip", Place::Function) => Some(
            "`skip` only has a meaning on a method inside an `impl` block that carries `#[circuit_breaker]`; to leave this function unprotected, remove the attribute",
        ),
        ("per_method", Place::Function | Place::Method) => Some(
            "`per_method` goes on the `impl` block's `#[circuit_breaker]`, where it gives each method a breaker of its own; to give one method its own breaker, give it its own `name = \"...\"`",
        ),
        _ => None,
    }
}

/// "unknown `circuit_breaker` argument `nmae`; did you mean `name`? expected one of ..."
fn unknown(what: &str, key: &str, valid: impl Iterator<Item = &'static str> + Clone) -> String {
    let list = valid.clone().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
    let suggestion =
        valid.map(|k| (edit_distance(key, k), k)).filter(|(d, k)| *d <= (k.len() / 3).max(1)).min_by_key(|(d, _)| *d);
    match suggestion {
        Some((_, k)) => format!("unknown `{what}` argument `{key}`; did you mean `{k}`? expected one of {list}"),
        None => format!("unknown `{what}` argument `{key}`; expected one of {list}"),
    }
}

/// Edit distance counting insertions, deletions, substitutions and swaps of neighbours
/// (optimal string alignment), for "did you mean" hints.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

fn interpret(args: &mut Args, key: &'static str, entry: Entry) -> syn::Result<()> {
    let key_span = entry.key.span();
    if key == "skip" || key == "per_method" {
        return match entry.value {
            EntryValue::Missing => {
                *if key == "skip" { &mut args.skip } else { &mut args.per_method } = Some(key_span);
                Ok(())
            }
            EntryValue::Expr(e) => {
                Err(syn::Error::new(e.span(), format_args!("`{key}` takes no value: write `{key}` on its own")))
            }
            EntryValue::List(_, span) => {
                Err(syn::Error::new(span, format_args!("`{key}` takes no value: write `{key}` on its own")))
            }
        };
    }
    if key == "retry" {
        return match entry.value {
            EntryValue::List(list, _) => {
                args.retry = Some(retry(list, key_span)?);
                Ok(())
            }
            EntryValue::Expr(e) => {
                Err(syn::Error::new(e.span(), "expected `retry(attempts = 3, backoff = \"100ms\")`, not `retry = ...`"))
            }
            EntryValue::Missing => {
                Err(syn::Error::new(key_span, "`retry` needs its settings: `retry(attempts = 3, backoff = \"100ms\")`"))
            }
        };
    }
    let value = match entry.value {
        EntryValue::Expr(e) => e,
        EntryValue::List(_, span) => {
            return Err(syn::Error::new(span, format_args!("expected `{key} = ...`, not `{key}(...)`")))
        }
        EntryValue::Missing => {
            return Err(syn::Error::new(key_span, format_args!("`{key}` needs a value: `{key} = {}`", example(key))))
        }
    };
    match key {
        "name" => {
            let name = lit_str(&value, "name")?;
            if name.value().trim().is_empty() {
                return Err(syn::Error::new(name.span(), "the breaker name must not be empty"));
            }
            args.name = Some(name);
        }
        "fallback" => args.fallback = Some(path(value, "fallback")?),
        "failure_if" => args.failure_if = Some(path(value, "failure_if")?),
        "fallback_on" => {
            let lit = lit_str(&value, "fallback_on")?;
            let on = match lit.value().as_str() {
                "rejected" => FallbackOn::Rejected,
                "any" => FallbackOn::Any,
                other => {
                    return Err(syn::Error::new(
                        lit.span(),
                        format_args!("invalid `fallback_on` value \"{other}\"; expected \"rejected\" or \"any\""),
                    ))
                }
            };
            args.fallback_on = Some(Spanned { value: on, span: lit.span() });
        }
        "registry" => args.registry = Some(value),
        "timeout" => args.timeout = Some(duration(&value, "timeout")?),
        "crate" => match value {
            Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => args.krate = Some(p.path),
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "expected a path to `breaker_runtime`, such as `crate = my_crate::breaker`",
                ))
            }
        },
        _ => args.config.push(config_value(key, &value, &mut args.builder)?),
    }
    Ok(())
}

fn example(key: &str) -> &'static str {
    match key {
        "name" => "\"content-service\"",
        "fallback" => "Self::cached_posts",
        "fallback_on" => "\"rejected\"",
        "registry" => "&REGISTRY",
        "timeout" | "backoff" | "wait" | "slow_call" => "\"10s\"",
        "max_wait" | "max_half_open" => "\"2m\"",
        "failure_if" => "ClientError::is_server_error",
        "crate" => "my_crate::breaker",
        "window" => "\"100 calls\"",
        "failure_rate" | "slow_call_rate" => "0.5",
        "backoff_multiplier" => "2.0",
        "jitter" => "0.1",
        "enabled" => "false",
        _ => "5",
    }
}

fn lit_str(value: &Expr, key: &str) -> syn::Result<LitStr> {
    match value {
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Ok(s.clone()),
        other => Err(syn::Error::new(
            other.span(),
            format_args!("expected a string literal for `{key}`, such as `{key} = {}`", example(key)),
        )),
    }
}

fn path(value: Expr, key: &str) -> syn::Result<ExprPath> {
    match value {
        Expr::Path(p) if p.attrs.is_empty() => Ok(p),
        other => Err(syn::Error::new(
            other.span(),
            format_args!("expected a path to a function for `{key}`, such as `{key} = {}`", example(key)),
        )),
    }
}

fn duration(value: &Expr, key: &str) -> syn::Result<Spanned<Duration>> {
    let lit = lit_str(value, key)?;
    let parsed = parse_duration(&lit.value()).map_err(|e| syn::Error::new(lit.span(), format_args!("`{key}`: {e}")))?;
    if parsed.is_zero() {
        return Err(syn::Error::new(lit.span(), format_args!("`{key}` must be longer than zero")));
    }
    if parsed > breaker_core::MAX_DURATION {
        // The bound every configuration duration has, worded as `ConfigBuilder::build` words it.
        let (max, got) = (format_duration(breaker_core::MAX_DURATION), format_duration(parsed));
        return Err(syn::Error::new(lit.span(), format_args!("`{key}`: must be at most {max}, got {got}")));
    }
    Ok(Spanned { value: parsed, span: lit.span() })
}

fn retry(list: Punctuated<SubEntry, Token![,]>, span: Span) -> syn::Result<Retry> {
    let mut errors = Errors::default();
    let mut attempts = None;
    let mut backoff = None;
    for sub in list {
        let key = sub.key.unraw().to_string();
        match key.as_str() {
            "attempts" if attempts.is_some() => errors.at(sub.key.span(), "duplicate `retry` argument `attempts`"),
            "backoff" if backoff.is_some() => errors.at(sub.key.span(), "duplicate `retry` argument `backoff`"),
            "attempts" => match &sub.value {
                Expr::Lit(ExprLit { lit: Lit::Int(i), .. }) => match i.base10_parse::<u32>() {
                    Ok(0) | Err(_) => errors.at(i.span(), "`attempts` must be a whole number of at least 1"),
                    Ok(n) => attempts = Some(n),
                },
                other => errors.at(other.span(), "expected an integer for `attempts`, such as `attempts = 3`"),
            },
            "backoff" => match duration(&sub.value, "backoff") {
                Ok(d) => backoff = Some(d.value),
                Err(e) => errors.push(e),
            },
            _ => errors.at(sub.key.span(), unknown("retry", &key, RETRY_ARGS.iter().copied())),
        }
    }
    if let Some(e) = errors.into_error() {
        return Err(e);
    }
    let Some(attempts) = attempts else {
        return Err(syn::Error::new(span, "`retry` needs `attempts`: `retry(attempts = 3, backoff = \"100ms\")`"));
    };
    Ok(Retry { attempts, backoff: backoff.unwrap_or(Duration::from_millis(100)), span })
}

/// A breaker configuration key: checks the literal's type, then sets its text into `builder`,
/// the same parser the runtime uses (range and cross-field checks run later, in `validate.rs`).
fn config_value(key: &'static str, value: &Expr, builder: &mut ConfigBuilder) -> syn::Result<ConfigValue> {
    let text = match (kind(key), value) {
        (Kind::Int, Expr::Lit(ExprLit { lit: Lit::Int(i), .. })) => i.base10_digits().to_owned(),
        (Kind::Float, Expr::Lit(ExprLit { lit: Lit::Float(f), .. })) => f.base10_digits().to_owned(),
        (Kind::Float, Expr::Lit(ExprLit { lit: Lit::Int(i), .. })) => i.base10_digits().to_owned(),
        (Kind::Int | Kind::Float, Expr::Unary(ExprUnary { op: UnOp::Neg(_), expr, .. })) => match &**expr {
            Expr::Lit(ExprLit { lit: Lit::Int(i), .. }) => format!("-{}", i.base10_digits()),
            Expr::Lit(ExprLit { lit: Lit::Float(f), .. }) => format!("-{}", f.base10_digits()),
            _ => return Err(wrong_type(key, value)),
        },
        (Kind::Duration | Kind::Window, Expr::Lit(ExprLit { lit: Lit::Str(s), .. })) => s.value(),
        (Kind::Bool, Expr::Lit(ExprLit { lit: Lit::Bool(b), .. })) => b.value.to_string(),
        (_, Expr::Lit(ExprLit { lit: Lit::Str(s), .. })) if s.value() == "off" && can_be_off(key) => "off".to_owned(),
        _ => return Err(wrong_type(key, value)),
    };
    let tokens = value.to_token_stream();
    if let Err(e) = builder.set(key, &text) {
        return Err(syn::Error::new_spanned(tokens, e));
    }
    Ok(ConfigValue { key, text, tokens })
}

enum Kind {
    Int,
    Float,
    Duration,
    Window,
    Bool,
}

fn kind(key: &str) -> Kind {
    match key {
        "failure_rate" | "slow_call_rate" | "backoff_multiplier" | "jitter" => Kind::Float,
        "slow_call" | "wait" | "max_wait" | "max_half_open" => Kind::Duration,
        "window" => Kind::Window,
        "enabled" => Kind::Bool,
        _ => Kind::Int,
    }
}

fn can_be_off(key: &str) -> bool {
    matches!(key, "consecutive_failures" | "failure_rate" | "slow_call")
}

fn wrong_type(key: &str, value: &Expr) -> syn::Error {
    let expected = match kind(key) {
        Kind::Int => "a whole number",
        Kind::Float => "a number",
        Kind::Duration => "a duration string",
        Kind::Window => "a window string",
        Kind::Bool => "`true` or `false`",
    };
    let off = if can_be_off(key) { format!(" (or `{key} = \"off\"`)") } else { String::new() };
    syn::Error::new(
        value.span(),
        format_args!("expected {expected} for `{key}`, such as `{key} = {}`{off}", example(key)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(tokens: proc_macro2::TokenStream) -> (Args, Option<syn::Error>) {
        let mut errors = Errors::default();
        let args = syn::parse2::<RawArgs>(tokens).unwrap().into_args(&mut errors);
        (args, errors.into_error())
    }

    #[test]
    fn durations_over_their_bound_are_errors_naming_the_field_and_the_bound() {
        let (_, e) = parse(quote::quote!(timeout = "25h"));
        assert_eq!(e.unwrap().to_string(), "`timeout`: must be at most 24h, got 25h");
        let (_, e) = parse(quote::quote!(retry(attempts = 3, backoff = "18446744073709551615s")));
        assert!(e.unwrap().to_string().starts_with("`backoff`: must be at most 24h, got "));
        let (args, e) = parse(quote::quote!(wait = "2ns"));
        assert!(e.is_none(), "range checks are the core's, in `validate`");
        assert_eq!(
            args.builder.build().unwrap_err().to_string(),
            "invalid circuit breaker configuration: `wait`: must be at least 1ms, got 2ns"
        );
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("nmae", "name"), 1);
        assert_eq!(edit_distance("fallbak", "fallback"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn suggests_close_keys() {
        let (_, e) = parse(quote::quote!(fallbak = f));
        assert!(e.unwrap().to_string().contains("did you mean `fallback`?"));
        let (_, e) = parse(quote::quote!(zzz = 1));
        assert!(!e.unwrap().to_string().contains("did you mean"));
    }

    #[test]
    fn reads_every_kind_of_argument() {
        let (args, e) = parse(quote::quote!(
            name = "svc",
            fallback = Self::f,
            fallback_on = "rejected",
            registry = &R,
            timeout = "2s",
            retry(attempts = 3, backoff = "10ms"),
            failure_if = is_bad,
            crate = cb,
            consecutive_failures = 2,
            failure_rate = 1,
            window = "10 calls",
            wait = "30s",
            jitter = 0.1
        ));
        assert!(e.is_none(), "{e:?}");
        assert_eq!(args.name.unwrap().value(), "svc");
        assert_eq!(args.fallback_on.unwrap().value, FallbackOn::Rejected);
        assert_eq!(args.timeout.unwrap().value, Duration::from_secs(2));
        assert_eq!(args.retry.unwrap().attempts, 3);
        let config: Vec<_> = args.config.iter().map(|c| (c.key, c.text.as_str())).collect();
        assert_eq!(
            config,
            [
                ("consecutive_failures", "2"),
                ("failure_rate", "1"),
                ("window", "10 calls"),
                ("wait", "30s"),
                ("jitter", "0.1")
            ]
        );
    }

    #[test]
    fn reports_every_error() {
        let (_, e) = parse(quote::quote!(name = "", name = "x", wait = "30 sec", minimum_calls = -1, bogus = 1));
        let messages: Vec<String> = e.unwrap().into_iter().map(|e| e.to_string()).collect();
        assert_eq!(messages.len(), 5, "{messages:?}");
    }
}

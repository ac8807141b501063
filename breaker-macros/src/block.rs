//! `#[circuit_breaker]` on an `impl` block: walks the block's methods, reads each method's own
//! `#[circuit_breaker(...)]` (consuming it), merges the block's arguments under the method's and
//! protects each method through the method form's checks (`validate.rs`) and expansion
//! (`expand.rs`). No code is generated here.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{Attribute, ImplItem, ImplItemFn, ItemFn, ItemImpl, LitStr, Meta, ReturnType, Type};

use breaker_core::ConfigBuilder;

use crate::attr::{Args, Errors, Place, RawArgs};
use crate::{expand, validate};

/// Protects the methods of `block` with `args`, the block attribute's arguments. On any error,
/// emits the errors and the block without the method-level attributes this one consumes.
pub(crate) fn entry(args: TokenStream, mut block: ItemImpl) -> TokenStream {
    let mut errors = Errors::default();
    let block_args = match syn::parse2::<RawArgs>(args) {
        Ok(raw) => raw.into_args_at(Place::Block, &mut errors),
        Err(e) => {
            errors.push(e);
            Args::default()
        }
    };
    if let Some(attr) = block.attrs.iter().find(|a| is_named(a, "async_trait")) {
        errors.spanned(
            attr,
            "`#[async_trait]` must come before `#[circuit_breaker]` on an `impl` block: write `#[async_trait]` above `#[circuit_breaker(...)]`, so that this attribute sees the methods `#[async_trait]` makes of each `async fn`",
        );
    }
    // The block's configuration is checked once here, not again for every method.
    let mut config_errors = Errors::default();
    validate::check_config(&block_args, &mut config_errors);
    let block_config_ok = match config_errors.into_error() {
        Some(e) => {
            errors.push(e);
            false
        }
        None => true,
    };
    let block_site = describe(&block);

    let mut stripped = Vec::with_capacity(block.items.len());
    let mut protected = Vec::with_capacity(block.items.len());
    for item in std::mem::take(&mut block.items) {
        let ImplItem::Fn(mut method) = item else {
            stripped.push(item.clone());
            protected.push(item);
            continue;
        };
        let marker = take_marker(&mut method, &mut errors);
        let context = Context { args: &block_args, config_ok: block_config_ok, site: &block_site };
        let out = protect(&context, &method, marker, &mut errors);
        protected.push(out.map_or_else(|| ImplItem::Fn(method.clone()), ImplItem::Verbatim));
        stripped.push(ImplItem::Fn(method));
    }
    match errors.into_error() {
        Some(error) => {
            block.items = stripped;
            let mut out = error.to_compile_error();
            out.extend(block.into_token_stream());
            out
        }
        None => {
            block.items = protected;
            block.into_token_stream()
        }
    }
}

/// What every method of the block is protected with.
struct Context<'a> {
    args: &'a Args,
    /// The block's own configuration passed its checks.
    config_ok: bool,
    /// The block's description, for the site of a shared default name.
    site: &'a str,
}

/// Removes the method-level `#[circuit_breaker(...)]` from `method` and returns its arguments.
fn take_marker(method: &mut ImplItemFn, errors: &mut Errors) -> Option<Args> {
    let mut marker = None;
    let mut kept = Vec::with_capacity(method.attrs.len());
    for attr in std::mem::take(&mut method.attrs) {
        if !is_named(&attr, "circuit_breaker") {
            kept.push(attr);
            continue;
        }
        let args = match &attr.meta {
            Meta::Path(_) => Args::default(),
            Meta::List(list) => match syn::parse2::<RawArgs>(list.tokens.clone()) {
                Ok(raw) => raw.into_args_at(Place::Method, errors),
                Err(e) => {
                    errors.push(e);
                    Args::default()
                }
            },
            Meta::NameValue(value) => {
                errors.spanned(value, "expected `#[circuit_breaker]` or `#[circuit_breaker(...)]`");
                Args::default()
            }
        };
        if marker.is_some() {
            errors.spanned(&attr, "duplicate `#[circuit_breaker]` on this method; put all its arguments in one");
            continue;
        }
        marker = Some(args);
    }
    method.attrs = kept;
    marker
}

/// The protected method, or `None` to leave it as it is.
fn protect(
    context: &Context<'_>,
    method: &ImplItemFn,
    marker: Option<Args>,
    errors: &mut Errors,
) -> Option<TokenStream> {
    let block = context.args;
    let explicit = marker.is_some();
    let own = marker.unwrap_or_default();
    if own.skip.is_some() {
        for key in own.keys.iter().filter(|k| k.value != "skip") {
            errors.at(
                key.span,
                format_args!(
                    "`skip` leaves this method unprotected, so `{}` has no effect; remove one of them",
                    key.value
                ),
            );
        }
        return None;
    }
    if !explicit
        && (method.sig.constness.is_some() || method.modifiers.defaultness.is_some() || !returns_result(method))
    {
        // Unmarked methods that cannot be protected are left alone, silently.
        return None;
    }
    if let Some(default) = &method.modifiers.defaultness {
        errors
            .spanned(default, "`#[circuit_breaker]` cannot protect a `default fn`; mark it `#[circuit_breaker(skip)]`");
        return None;
    }

    let ident = &method.sig.ident;
    if block.per_method.is_none() && own.name.is_none() {
        for c in &own.config {
            errors.spanned(
                &c.tokens,
                format_args!(
                    "`{}` on a method would configure the breaker that every method of this `impl` block shares; put it on the block's `#[circuit_breaker(...)]`, add `per_method` there, or give this method its own `name = \"...\"`",
                    c.key
                ),
            );
        }
    }
    let mut args = merge(block, &own, ident, errors);
    let is_async = method.sig.asyncness.is_some() || validate::is_async_trait_body(&method.block);
    if let (None, Some(_), false) = (&own.retry, &block.retry, is_async) {
        errors.at(
            ident.span(),
            format_args!(
                "the `impl` block's `retry` cannot apply to `{ident}`, a blocking `fn`: it cannot wait between attempts; mark it `#[circuit_breaker(skip)]`, or make it an `async fn`",
            ),
        );
        args.retry = None;
    }
    validate::check_fallback_on(&own, errors);
    if !own.config.is_empty() && context.config_ok {
        validate::check_config(&args, errors);
    }
    let item = ItemFn {
        attrs: method.attrs.clone(),
        vis: method.vis.clone(),
        modifiers: method.modifiers.clone(),
        sig: method.sig.clone(),
        block: Box::new(method.block.clone()),
    };
    let mut function = validate::validate_function(&args, &item, errors)?;
    function.site.line = ident.span();
    if args.name.is_none() && block.per_method.is_none() {
        function.site.shared_default = Some(context.site.to_owned());
    }
    Some(expand::expand(&args, &function, item))
}

/// The block's arguments under the method's: each argument the method gives replaces the
/// block's, configuration key by key. With `per_method`, a block `name` becomes
/// `name::method`.
fn merge(block: &Args, own: &Args, ident: &syn::Ident, errors: &mut Errors) -> Args {
    let name = match (&own.name, &block.name, block.per_method) {
        (Some(name), _, _) => Some(name.clone()),
        (None, Some(name), Some(_)) => Some(LitStr::new(&format!("{}::{}", name.value(), ident.unraw()), name.span())),
        (None, name, _) => name.clone(),
    };
    let mut config = own.config.clone();
    config.extend(block.config.iter().filter(|c| !own.config.iter().any(|o| o.key == c.key)).cloned());
    let mut builder = ConfigBuilder::new();
    for c in &config {
        // Each value was set into a builder once already, in `attr.rs`.
        if let Err(e) = builder.set(c.key, &c.text) {
            errors.spanned(&c.tokens, e);
        }
    }
    Args {
        name,
        fallback: own.fallback.clone(),
        fallback_on: own.fallback_on.clone(),
        registry: own.registry.clone().or_else(|| block.registry.clone()),
        timeout: own.timeout.clone().or_else(|| block.timeout.clone()),
        retry: own.retry.clone().or_else(|| block.retry.clone()),
        failure_if: own.failure_if.clone().or_else(|| block.failure_if.clone()),
        krate: own.krate.clone().or_else(|| block.krate.clone()),
        config,
        builder,
        per_method: None,
        skip: None,
        keys: own.keys.clone(),
    }
}

/// True when the method returns a type whose last path segment is `Result` (`Result<T, E>`,
/// `io::Result<T>`, `fmt::Result`); for `#[async_trait]` output, the future's `Output`.
fn returns_result(method: &ImplItemFn) -> bool {
    let ReturnType::Type(_, ty) = &method.sig.output else { return false };
    let ty = if method.sig.asyncness.is_none() && validate::is_async_trait_body(&method.block) {
        match validate::future_output(ty) {
            Some(output) => output,
            None => return false,
        }
    } else {
        (**ty).clone()
    };
    is_result(&ty)
}

fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => path.path.segments.last().is_some_and(|s| s.ident == "Result"),
        Type::Paren(inner) => is_result(&inner.elem),
        Type::Group(inner) => is_result(&inner.elem),
        _ => false,
    }
}

/// An attribute whose path ends in `name` (`circuit_breaker`, `breaker_runtime::circuit_breaker`).
fn is_named(attr: &Attribute, name: &str) -> bool {
    attr.path().segments.last().is_some_and(|s| s.ident == name)
}

/// `impl Type` or `impl Trait for Type`, as written.
fn describe(block: &ItemImpl) -> String {
    let ty = block.self_ty.to_token_stream();
    match &block.trait_ {
        Some((path, _)) => format!("impl {} for {ty}", path.to_token_stream()),
        None => format!("impl {ty}"),
    }
}

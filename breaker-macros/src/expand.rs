//! Code generation: wraps the body of a validated function in a call through its breaker.
//!
//! The user's attributes, visibility, signature and braces are re-emitted as they came; only
//! the statements inside the braces change. Generated names start with `__breaker` and are
//! declared before the user's statements' own block, so they cannot clash; generated code
//! names only `__private` and `::core`.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{AttrStyle, ItemFn, Stmt};

use crate::attr::{Args, FallbackOn};
use crate::validate::{async_trait_body_mut, Function, Shape};

/// The protected function.
pub(crate) fn expand(args: &Args, function: &Function, mut item: ItemFn) -> TokenStream {
    let private = match &args.krate {
        Some(path) => quote!(#path::__private),
        None => quote!(::breaker_runtime::__private),
    };
    let (outer, inner): (Vec<_>, Vec<_>) = item.attrs.iter().partition(|a| matches!(a.style, AttrStyle::Outer));
    let vis = &item.vis;
    let sig = &item.sig;
    let mut out = quote!(#(#outer)* #vis #sig);

    let stmts = if function.shape == Shape::AsyncTrait {
        // `{ <stmts>; Box::pin(async move { <body> }) }`: only the async block's statements change.
        if let Some(block) = async_trait_body_mut(&mut item.block) {
            let mut body = std::mem::take(&mut block.block.stmts);
            reborrow_moved_params(&mut body, function);
            let generated = generate(args, function, &body, &private);
            block.block.stmts = vec![Stmt::Expr(syn::Expr::Verbatim(generated), None)];
        }
        let stmts = &item.block.stmts;
        quote!(#(#stmts)*)
    } else {
        generate(args, function, &item.block.stmts, &private)
    };
    item.block.brace_token.surround(&mut out, |tokens| {
        for attr in &inner {
            attr.to_tokens(tokens);
        }
        tokens.extend(stmts);
    });
    out
}

/// The statements that replace the body: the call-site `static`, the call, and the fallback
/// or the conversion of a rejection into the error type.
fn generate(args: &Args, function: &Function, body: &[Stmt], private: &TokenStream) -> TokenStream {
    // Call-site hygiene, not mixed-site: some of these are re-spanned onto user tokens (see
    // `all_at`) and must still resolve. The user's statements run in a nested block declared
    // before them, so they cannot see these names.
    let here = Span::call_site();
    let site = format_ident!("__BREAKER_SITE", span = here);
    let options = format_ident!("__BREAKER_OPTIONS", span = here);
    let breaker = format_ident!("__breaker", span = here);
    let raw = format_ident!("__breaker_raw", span = here);
    let ret_value = format_ident!("__breaker_ret", span = here);
    let error = format_ident!("__breaker_error", span = here);
    let value = format_ident!("__breaker_value", span = here);
    let ret = &function.ret;
    let ret_span = ret.span();
    let is_async = function.shape != Shape::Blocking;

    let fn_name = function.ident.to_string();
    let unraw = syn::ext::IdentExt::unraw(&function.ident).to_string();
    // Without `name`, the runtime derives it from the `type_name` of an item nested here, the
    // only place that spells the impl's `Self` type and trait (see `CallSite::unnamed`).
    let path_fn = format_ident!("__breaker_path", span = here);
    let path_item = quote! {
        fn #path_fn() -> &'static str {
            #private::type_name_of_val(&#path_fn)
        }
    };
    let (path_item, constructor, name_args) = match (&args.name, &function.site.shared_default) {
        (Some(name), _) => (TokenStream::new(), quote!(new), quote!(#name,)),
        (None, None) => (path_item, quote!(unnamed), quote!(::core::module_path!(), #unraw, #path_fn,)),
        // Every method of the block names the block's site (the attribute's line), so the
        // registry sees one site for the shared default name, not one per method.
        (None, Some(block)) => (
            path_item,
            quote!(shared),
            quote! {
                ::core::module_path!(), #unraw, #path_fn,
                ::core::concat!(::core::module_path!(), "::", #block, " (", ::core::file!(), ":", ::core::line!(), ")"),
            },
        ),
    };
    let line = quote_spanned!(function.site.line=> ::core::line!());
    let config = args.config.iter().map(|c| {
        let (key, text) = (c.key, &c.text);
        quote!((#key, #text))
    });
    let timeout = match &args.timeout {
        Some(t) => {
            let d = duration(private, t.value);
            quote!(::core::option::Option::Some(#d))
        }
        None => quote!(::core::option::Option::None),
    };
    let fallback_on = match args.fallback_on.as_ref().map(|o| o.value) {
        Some(FallbackOn::Rejected) => quote!(#private::FALLBACK_ON_REJECTED),
        _ => quote!(#private::FALLBACK_ON_ANY),
    };
    let retry = match &args.retry {
        Some(r) => {
            let attempts = Literal::u32_unsuffixed(r.attempts);
            let backoff = duration(private, r.backoff);
            quote!(::core::option::Option::Some(#private::retry(#attempts, #backoff)))
        }
        None => quote!(::core::option::Option::None),
    };
    let resolve = match &args.registry {
        Some(expr) => quote!(#site.breaker(#private::registry_ref(&(#expr)))),
        None => quote!(#site.global()),
    };
    // A call into `__private` spanned entirely at `span` (path, turbofish and parentheses), so
    // an unsatisfied bound of that function is reported on that user token.
    let call_at = |span: Span, function: TokenStream, args: TokenStream| {
        let private = respan(private.clone(), span);
        quote_spanned!(span=> #private::#function(#args))
    };
    // The same with every token at `span`, the type arguments and arguments too (generated
    // code, never the user's body): rustc blames whichever of them involves the bound.
    let all_at = |span: Span, function: TokenStream, args: TokenStream| respan(call_at(span, function, args), span);
    let classify = match &args.failure_if {
        Some(path) => all_at(path.span(), quote!(failure_if::<#ret, _>), path.to_token_stream()),
        None => quote!(#private::DEFAULT_CLASSIFY),
    };

    // The body, pinned to the declared result type so `?` and `return` infer as they did.
    let pinned = quote! {
        if let ::core::option::Option::Some(#ret_value) = ::core::option::Option::None::<#ret> {
            #[allow(unreachable_code)] // pins the block's type; never runs
            return #ret_value;
        }
        let #ret_value: #ret = { #(#body)* };
        #[allow(unreachable_code)] // when the body always returns early
        #ret_value
    };
    let call = match (function.shape, &args.retry) {
        (Shape::Blocking, _) => call_at(
            ret_span,
            quote!(call_blocking::<#ret, _, _>),
            quote!(&#breaker, &#options, #classify, || -> #ret { #(#body)* }),
        ),
        (_, None) => {
            let policy = format_ident!("__breaker_policy", span = here);
            let call = call_at(ret_span, quote!(call::<#ret, _, _>), quote!(&#breaker, &#policy, async { #pinned }));
            quote_spanned!(ret_span=> {
                let #policy = #private::policy(&#options, #classify);
                #call.await
            })
        }
        (_, Some(_)) => {
            // Every attempt gets its own copy of the owned arguments.
            let copies = function.params.iter().filter(|p| !p.by_ref).map(|p| {
                let name = &p.name;
                let mutability = p.mutable.then(|| quote!(mut));
                quote_spanned!(p.span=> let #mutability #name = ::core::clone::Clone::clone(&#name);)
            });
            let call = call_at(
                ret_span,
                quote!(call_retrying::<#ret, _, _, _>),
                quote!(&#breaker, &#options, #classify, || {
                    #(#copies)*
                    async move { #pinned }
                }),
            );
            quote_spanned!(ret_span=> #call.await)
        }
    };

    let mut prelude = TokenStream::new();
    let mut prelude_after = TokenStream::new();
    // A timeout no fallback covers becomes the function's own error (spanned on `timeout`).
    let fallback_covers_timeouts =
        args.fallback.is_some() && !matches!(args.fallback_on.as_ref().map(|o| o.value), Some(FallbackOn::Rejected));
    if let (Some(t), false) = (&args.timeout, fallback_covers_timeouts) {
        let folded = all_at(t.span, quote!(fold_timeout::<#ret>), raw.to_token_stream());
        prelude_after.extend(quote!(let #raw = #folded;));
    }
    let finish = match &args.fallback {
        None => all_at(ret_span, quote!(finish::<#ret>), raw.to_token_stream()),
        Some(path) => {
            // Owned arguments move into the call, so the fallback gets clones taken before it.
            let mut fallback_args = Vec::new();
            for p in &function.params {
                let name = &p.name;
                if p.by_ref {
                    fallback_args.push(name.clone());
                } else {
                    let copy = format_ident!("__breaker_arg_{}", p.ident, span = here);
                    prelude.extend(quote_spanned!(p.span=> let #copy = ::core::clone::Clone::clone(&#name);));
                    fallback_args.push(copy.to_token_stream());
                }
            }
            let split = all_at(ret_span, quote!(fallback_or::<#ret>), quote!(&#options, #raw));
            // The fallback's shape is checked on the `fallback` path from its own type, before
            // the arguments are known (see `check_fallback`), so a wrong shape is one error on
            // the path that spells the shape expected; a return type that is not a `Result` is
            // reported once, on the return type, as without a fallback.
            let (check, helper) = if is_async {
                (quote!(check_fallback), quote!(fallback))
            } else {
                (quote!(check_fallback_blocking), quote!(fallback_blocking))
            };
            let wildcards = if is_async { quote!(_, _, _) } else { quote!(_, _) };
            let checked = all_at(path.span(), quote!(#check::<_, #ret, #wildcards>), path.to_token_stream());
            let fallback_call = respan(quote!(#checked.call(((#(#fallback_args,)*), #error))), path.span());
            let run = if is_async && args.timeout.is_some() && !names_no_type(ret) {
                // Bounded by the site's timeout when the error type can report one (picked at
                // compile time, so other error types compile as before, unbounded).
                let private = respan(private.clone(), path.span());
                let converter = quote_spanned! {path.span()=> {
                    // Both traits in scope, one is picked: the other is always unused.
                    #[allow(unused_imports)]
                    use #private::{TimeoutNone as _, TimeoutViaFrom as _};
                    (&&#private::Timeouts::<#ret>::new()).converter()
                }};
                all_at(
                    path.span(),
                    quote!(fallback_within),
                    quote!(&#breaker, &#options, #converter, #error, |#error| #fallback_call),
                )
            } else {
                all_at(path.span(), quote!(#helper), quote!(&#breaker, #error, |#error| #fallback_call))
            };
            let run = if is_async { quote_spanned!(path.span()=> #run.await) } else { run };
            quote! {
                match #split {
                    ::core::result::Result::Ok(#value) => #value,
                    ::core::result::Result::Err(#error) => #run,
                }
            }
        }
    };

    quote! {
        #path_item
        static #site: #private::CallSite = #private::CallSite::#constructor(
            #name_args
            ::core::concat!(::core::module_path!(), "::", #fn_name, " (", ::core::file!(), ":", #line, ")"),
            &[#(#config),*],
        );
        const #options: #private::Options = #private::Options {
            timeout: #timeout,
            fallback_on: #fallback_on,
            retry: #retry,
        };
        let #breaker = #resolve;
        #prelude
        let #raw = #call;
        #prelude_after
        #finish
    }
}

/// `#[async_trait]` moves each parameter into a binding of its own at the top of the async
/// block (`let __self = self;`). For `&mut` parameters, that would leave nothing for the
/// fallback: bind a reborrow instead, which ends when the body does.
fn reborrow_moved_params(body: &mut [Stmt], function: &Function) {
    for stmt in body {
        let Stmt::Local(syn::Local { init: Some(init), .. }) = stmt else { continue };
        let syn::Expr::Path(path) = &*init.expr else { continue };
        let Some(ident) = path.path.get_ident() else { continue };
        let moved = function.params.iter().any(|p| p.mut_ref && *ident == p.ident);
        if moved && init.diverge.is_none() {
            let name = ident.clone();
            *init.expr = syn::Expr::Verbatim(quote!(&mut *#name));
        }
    }
}

/// `tokens` with every span replaced by `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let proc_macro2::TokenTree::Group(g) = &tree {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                tree = proc_macro2::TokenTree::Group(group);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

fn duration(private: &TokenStream, d: std::time::Duration) -> TokenStream {
    let secs = Literal::u64_unsuffixed(d.as_secs());
    let nanos = Literal::u32_unsuffixed(d.subsec_nanos());
    quote!(#private::Duration::new(#secs, #nanos))
}

/// True when `ty` holds an inferred part (`_`, where an `impl Trait` was erased): such a type
/// cannot be named for the fallback's timeout conversion.
fn names_no_type(ty: &syn::Type) -> bool {
    struct Finds(bool);
    impl syn::visit_mut::VisitMut for Finds {
        fn visit_type_mut(&mut self, ty: &mut syn::Type) {
            if matches!(ty, syn::Type::Infer(_)) {
                self.0 = true;
            }
            syn::visit_mut::visit_type_mut(self, ty);
        }
    }
    let mut finds = Finds(false);
    syn::visit_mut::VisitMut::visit_type_mut(&mut finds, &mut ty.clone());
    finds.0
}

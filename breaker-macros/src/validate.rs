//! Checks that look at several arguments together, or at the function they are put on, and
//! the description of the function that `expand.rs` generates code from.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{Block, Expr, ExprAsync, FnArg, GenericArgument, ItemFn, Pat, ReturnType, Stmt, Type};

use crate::attr::{Args, Errors};

/// How the function's body runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `async fn`: the body becomes an async block.
    Async,
    /// A plain `fn`: the body becomes a closure run by the blocking path.
    Blocking,
    /// What `#[async_trait]` made of an `async fn` before this attribute ran: a plain `fn`
    /// whose body ends in `Box::pin(async move { .. })`; that async block's statements are the
    /// body.
    AsyncTrait,
}

/// How a parameter is handed to the fallback and to retried attempts.
#[derive(Clone)]
pub(crate) struct Param {
    /// The binding: the parameter's identifier or the `self` token.
    pub(crate) name: TokenStream,
    /// The identifier to build generated names from (`self` for the receiver). An `Ident`, not
    /// its text: `format_ident!` drops the `r#` of a raw identifier only from an `Ident`.
    pub(crate) ident: syn::Ident,
    /// `mut` on the binding (`mut user: UserId`).
    pub(crate) mutable: bool,
    /// A reference (`&T`, `&mut T`, `&self`): passed on as is. Anything else is owned and
    /// cloned for the fallback and for each retried attempt.
    pub(crate) by_ref: bool,
    /// A `&mut` reference (`&mut T`, `&mut self`).
    pub(crate) mut_ref: bool,
    /// The whole parameter, where errors about it point.
    pub(crate) span: Span,
    /// The whole parameter's tokens, for errors spanning all of it.
    pub(crate) tokens: TokenStream,
}

/// The annotated function, as the expansion needs it.
pub(crate) struct Function {
    pub(crate) shape: Shape,
    /// The declared result type with `impl Trait` replaced by `_` (for async-trait: the
    /// future's `Output`).
    pub(crate) ret: Type,
    pub(crate) params: Vec<Param>,
    pub(crate) ident: syn::Ident,
    /// Where the call site's facts come from.
    pub(crate) site: Site,
}

/// What the call site records about where it is, beyond the function itself.
pub(crate) struct Site {
    /// The token `line!()` is spelled on: the attribute for the method form, the method's name
    /// inside an `impl` block (whose attribute is on the block).
    pub(crate) line: Span,
    /// Inside an `impl` block without `name` and without `per_method`: every method shares one
    /// breaker named after the block's type (and trait); this is the block's description for
    /// the registry's report of sites sharing a default name.
    pub(crate) shared_default: Option<String>,
}

impl Default for Site {
    fn default() -> Self {
        Site { line: Span::call_site(), shared_default: None }
    }
}

/// Checks the arguments against each other and against `item`. Returns the function's
/// description when it can be protected at all; errors go to `errors`.
pub(crate) fn validate(args: &Args, item: &ItemFn, errors: &mut Errors) -> Option<Function> {
    check_config(args, errors);
    check_fallback_on(args, errors);
    validate_function(args, item, errors)
}

/// `fallback_on` needs a `fallback`.
pub(crate) fn check_fallback_on(args: &Args, errors: &mut Errors) {
    if let (Some(on), None) = (&args.fallback_on, &args.fallback) {
        errors.at(on.span, "`fallback_on` has no effect without `fallback = ...`");
    }
}

/// The checks of `item` against `args`, and its description; the arguments' own checks are
/// `check_config` and `check_fallback_on`.
pub(crate) fn validate_function(args: &Args, item: &ItemFn, errors: &mut Errors) -> Option<Function> {
    let sig = &item.sig;
    if let Some(constness) = &sig.constness {
        errors.at(
            constness.span,
            "`#[circuit_breaker]` cannot protect a `const fn`: a breaker is runtime state; remove `const`",
        );
        return None;
    }
    let shape = if sig.asyncness.is_some() {
        Shape::Async
    } else if is_async_trait_body(&item.block) {
        Shape::AsyncTrait
    } else {
        Shape::Blocking
    };

    let ret = match (&sig.output, shape) {
        (ReturnType::Default, _) => {
            errors.at(
                sig.ident.span(),
                format_args!(
                    "`#[circuit_breaker]` functions must return a `Result`, but `{}` returns `()`; return `Result<T, E>` so failures can be told from successes",
                    sig.ident
                ),
            );
            return None;
        }
        (ReturnType::Type(_, ty), Shape::AsyncTrait) => future_output(ty)
            .unwrap_or_else(|| Type::Infer(syn::TypeInfer { attrs: Vec::new(), underscore_token: Default::default() })),
        (ReturnType::Type(_, ty), _) => (**ty).clone(),
    };
    let ret = erase_impl_trait(ret);

    let needs_params = args.fallback.is_some() || args.retry.is_some();
    let mut params = Vec::new();
    for input in &sig.inputs {
        let param = match input {
            FnArg::Receiver(r) => Param {
                name: r.self_token.to_token_stream(),
                ident: syn::Ident::from(r.self_token),
                mutable: r.mutability.is_some(),
                by_ref: match &r.kind {
                    syn::ReceiverKind::Reference(..) => true,
                    syn::ReceiverKind::Typed(_, ty) => is_ref(ty),
                    _ => false,
                },
                mut_ref: match &r.kind {
                    syn::ReceiverKind::Reference(_, _, mutability) => mutability.is_some(),
                    syn::ReceiverKind::Typed(_, ty) => is_mut_ref(ty),
                    _ => false,
                },
                span: r.span(),
                tokens: r.to_token_stream(),
            },
            FnArg::Typed(t) => match &*t.pat {
                Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => Param {
                    name: p.ident.to_token_stream(),
                    ident: p.ident.clone(),
                    mutable: p.mutability.is_some(),
                    by_ref: is_ref(&t.ty),
                    mut_ref: is_mut_ref(&t.ty),
                    span: t.span(),
                    tokens: t.to_token_stream(),
                },
                other => {
                    if needs_params {
                        let what = if args.fallback.is_some() { "`fallback`" } else { "`retry`" };
                        errors.spanned(
                                other,
                                format_args!("{what} needs every argument bound to a plain name; bind this argument to a name and destructure it in the body"),
                            );
                    }
                    continue;
                }
            },
        };
        params.push(param);
    }

    if let Some(retry) = &args.retry {
        if shape == Shape::Blocking {
            errors.at(retry.span, "`retry` needs an `async fn`: a blocking function cannot wait between attempts");
        }
        for p in &params {
            if p.ident == "self" && !p.by_ref {
                errors.at(p.span, "`retry` cannot re-run a method that takes `self` by value: take `&self` instead");
            } else if p.mut_ref {
                errors.spanned(
                    &p.tokens,
                    format_args!("`retry` cannot re-run a function that takes `{}` by `&mut`: each attempt would need its own mutable borrow; take a shared reference or an owned, cloneable value", p.ident),
                );
            }
        }
    }

    Some(Function { shape, ret, params, ident: sig.ident.clone(), site: Site::default() })
}

fn is_ref(ty: &Type) -> bool {
    matches!(ty, Type::Reference(_))
}

fn is_mut_ref(ty: &Type) -> bool {
    matches!(ty, Type::Reference(r) if r.mutability.is_some())
}

/// Runs the attribute's configuration through the same builder the runtime uses and reports
/// every invalid field on its own literal.
pub(crate) fn check_config(args: &Args, errors: &mut Errors) {
    if args.config.is_empty() {
        return;
    }
    if let Err(e) = args.builder.build() {
        for field in e.errors() {
            match args.config.iter().find(|c| c.key == field.field()) {
                Some(c) => errors.spanned(&c.tokens, field),
                None => errors.at(Span::call_site(), field),
            }
        }
    }
}

/// True when `block` is `#[async_trait]` output: its tail expression is
/// `Box::pin(async move { .. })` (with any path to `Box`).
pub(crate) fn is_async_trait_body(block: &Block) -> bool {
    block.stmts.last().is_some_and(is_async_trait_tail)
}

/// The `async move { .. }` block of `#[async_trait]` output, to rewrite.
pub(crate) fn async_trait_body_mut(block: &mut Block) -> Option<&mut ExprAsync> {
    let Some(Stmt::Expr(Expr::Call(call), None)) = block.stmts.last_mut().filter(|s| is_async_trait_tail(s)) else {
        return None;
    };
    match call.args.first_mut() {
        Some(Expr::Async(block)) => Some(block),
        _ => None,
    }
}

fn is_async_trait_tail(stmt: &Stmt) -> bool {
    let Stmt::Expr(Expr::Call(call), None) = stmt else { return false };
    let Expr::Path(func) = &*call.func else { return false };
    let segments: Vec<String> = func.path.segments.iter().map(|s| s.ident.to_string()).collect();
    segments.ends_with(&["Box".to_owned(), "pin".to_owned()])
        && call.args.len() == 1
        && matches!(call.args.first(), Some(Expr::Async(block)) if block.capture.is_some())
}

/// `R` in `Pin<Box<dyn Future<Output = R> + Send + 'async_trait>>`.
pub(crate) fn future_output(ty: &Type) -> Option<Type> {
    struct Find(Option<Type>);
    impl VisitMut for Find {
        fn visit_generic_argument_mut(&mut self, arg: &mut GenericArgument) {
            if let GenericArgument::AssocType(a) = arg {
                if a.ident == "Output" && self.0.is_none() {
                    self.0 = Some(a.ty.clone());
                    return;
                }
            }
            syn::visit_mut::visit_generic_argument_mut(self, arg);
        }
    }
    let mut find = Find(None);
    find.visit_type_mut(&mut ty.clone());
    find.0
}

/// Replaces every `impl Trait` with `_`, so the type can annotate a binding.
fn erase_impl_trait(mut ty: Type) -> Type {
    struct Erase;
    impl VisitMut for Erase {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::ImplTrait(i) = ty {
                *ty = Type::Infer(syn::TypeInfer {
                    attrs: Vec::new(),
                    underscore_token: syn::Token![_](i.impl_token.span),
                });
                return;
            }
            syn::visit_mut::visit_type_mut(self, ty);
        }
    }
    Erase.visit_type_mut(&mut ty);
    ty
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn erases_impl_trait() {
        let ty: Type = syn::parse2(quote!(Result<impl Iterator<Item = u8>, E>)).unwrap();
        assert_eq!(erase_impl_trait(ty).to_token_stream().to_string(), "Result < _ , E >");
    }

    #[test]
    fn finds_the_future_output() {
        let ty: Type = syn::parse2(quote!(
            ::core::pin::Pin<
                Box<dyn ::core::future::Future<Output = Result<u8, E>> + ::core::marker::Send + 'async_trait>,
            >
        ))
        .unwrap();
        assert_eq!(future_output(&ty).unwrap().to_token_stream().to_string(), "Result < u8 , E >");
    }

    #[test]
    fn recognises_async_trait_output() {
        let block: Block = syn::parse2(quote!({ Box::pin(async move { 1 }) })).unwrap();
        assert!(is_async_trait_body(&block));
        let block: Block = syn::parse2(quote!({ Box::pin(async { 1 }) })).unwrap();
        assert!(!is_async_trait_body(&block));
    }
}

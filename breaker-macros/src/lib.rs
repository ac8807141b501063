//! The `#[circuit_breaker]` attribute. An implementation detail of `breaker-runtime`, which
//! re-exports it: depend on `breaker-runtime` instead.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms, unreachable_pub)]

mod attr;
mod expand;
mod validate;

use proc_macro::TokenStream;

/// Protects a function with a named circuit breaker.
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
            let error = syn::Error::new(e.span(), "`#[circuit_breaker]` goes on a function or method");
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

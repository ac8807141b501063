//! The `#[circuit_breaker]` attribute. An implementation detail of `breaker-runtime`, which
//! re-exports it: depend on `breaker-runtime` instead.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms, unreachable_pub)]

mod attr;
mod block;
mod expand;
mod validate;

#[cfg(test)]
mod snapshot;

use proc_macro::TokenStream;

/// *The attribute is defined in `breaker-macros`, an implementation detail of
/// `breaker-runtime`, which re-exports and documents it: see `breaker_runtime::circuit_breaker`.*
#[proc_macro_attribute]
pub fn circuit_breaker(args: TokenStream, item: TokenStream) -> TokenStream {
    entry(args.into(), item.into()).into()
}

/// Parses, validates and expands a function or an `impl` block; on any error, emits the
/// errors and the original item.
fn entry(args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    match syn::parse2::<syn::ItemImpl>(item.clone()) {
        Ok(block) => block::entry(args, block),
        Err(_) => function(args, item),
    }
}

/// The attribute on a function or method of its own.
fn function(args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
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
                _ => syn::Error::new(e.span(), "`#[circuit_breaker]` goes on a function, a method or an `impl` block"),
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
    fn a_method_of_a_block_expands_exactly_as_the_method_form() {
        let method = quote!(
            async fn get(&self, id: u32) -> Result<u32, E> {
                Ok(id)
            }
        );
        let alone = super::entry(quote!(name = "bcs", timeout = "1s", retry(attempts = 2)), method.clone());
        let block = super::entry(
            quote!(name = "bcs", timeout = "1s"),
            quote!(impl C {
                #[circuit_breaker(retry(attempts = 2))]
                #method
            }),
        );
        assert_eq!(block.to_string(), quote!(impl C { #alone }).to_string());
        assert!(!block.to_string().contains("compile_error"), "{block}");
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

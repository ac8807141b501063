//! The `#[circuit_breaker]` attribute (work in progress).
use proc_macro::TokenStream;

/// Protects a function with a named circuit breaker (work in progress).
#[proc_macro_attribute]
pub fn circuit_breaker(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}

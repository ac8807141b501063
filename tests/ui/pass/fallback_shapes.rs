//! Fallbacks the shape check must accept: generic fallbacks for `impl Trait` arguments, a
//! blocking fallback taking `&mut self`, a fallback path with a turbofish, an associated
//! function without a receiver, and the most arguments the check supports (twelve).
use std::fmt::Display;

use breaker_runtime::{circuit_breaker, CallError, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(fallback = shown_fallback)]
pub async fn shown(value: impl Display + Clone + Send) -> Result<String, Error> {
    Ok(value.to_string())
}

async fn shown_fallback(value: impl Display, _: CallError<Error>) -> Result<String, Error> {
    Ok(format!("cached {value}"))
}

#[circuit_breaker(fallback = parse_fallback::<u8>)]
pub async fn parse(text: &str) -> Result<u8, Error> {
    text.parse().map_err(|_| Error)
}

async fn parse_fallback<T: Default>(_: &str, _: CallError<Error>) -> Result<T, Error> {
    Ok(T::default())
}

pub struct Counter(u32);

impl Counter {
    #[circuit_breaker(fallback = Self::bump_fallback)]
    pub fn bump(&mut self, by: u32) -> Result<u32, Error> {
        self.0 += by;
        Ok(self.0)
    }

    fn bump_fallback(&mut self, _: u32, _: CallError<Error>) -> Result<u32, Error> {
        Ok(self.0)
    }

    #[circuit_breaker(fallback = Self::make_fallback)]
    pub async fn make(start: u32) -> Result<Counter, Error> {
        Ok(Counter(start))
    }

    async fn make_fallback(start: u32, _: CallError<Error>) -> Result<Counter, Error> {
        Ok(Counter(start))
    }
}

#[allow(clippy::too_many_arguments)]
#[circuit_breaker(fallback = twelve_fallback)]
pub async fn twelve(
    a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8, h: u8, i: u8, j: u8, k: u8, l: u8,
) -> Result<u32, Error> {
    Ok([a, b, c, d, e, f, g, h, i, j, k, l].iter().map(|&x| u32::from(x)).sum())
}

#[allow(clippy::too_many_arguments)]
async fn twelve_fallback(
    _: u8, _: u8, _: u8, _: u8, _: u8, _: u8, _: u8, _: u8, _: u8, _: u8, _: u8, _: u8, _: CallError<Error>,
) -> Result<u32, Error> {
    Ok(0)
}

fn main() {}

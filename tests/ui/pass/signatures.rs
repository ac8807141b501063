//! Generics, where clauses, `impl Trait` in arguments and return, elided and explicit
//! lifetimes, references passed to a fallback, `mut` bindings, inner attributes, `?` and
//! early `return`, raw identifiers as owned arguments cloned for a fallback and for retries.
use std::fmt::Display;

use breaker_runtime::{circuit_breaker, CallError, Rejected};

#[derive(Debug)]
pub struct Error(String);

impl From<Rejected> for Error {
    fn from(r: Rejected) -> Self {
        Error(r.to_string())
    }
}

impl From<std::num::ParseIntError> for Error {
    fn from(e: std::num::ParseIntError) -> Self {
        Error(e.to_string())
    }
}

#[circuit_breaker]
pub async fn generic<T, U>(value: T, other: U) -> Result<String, Error>
where
    T: Display + Send,
    U: Into<String>,
{
    Ok(format!("{value}{}", other.into()))
}

#[circuit_breaker]
pub async fn impl_args(value: impl Display) -> Result<impl Display, Error> {
    Ok(value.to_string())
}

#[circuit_breaker]
pub fn impl_return_blocking(n: u32) -> Result<impl Iterator<Item = u32>, Error> {
    Ok(0..n)
}

#[circuit_breaker]
pub async fn elided(text: &str) -> Result<&str, Error> {
    Ok(text.trim())
}

#[circuit_breaker]
pub async fn explicit<'a, 'b: 'a>(a: &'a str, _b: &'b str) -> Result<&'a str, Error> {
    Ok(a)
}

#[circuit_breaker(fallback = with_refs_fallback)]
pub async fn with_refs<'a>(text: &'a str, out: &mut Vec<u32>, owned: String) -> Result<&'a str, Error> {
    out.push(owned.len() as u32);
    Ok(text)
}

async fn with_refs_fallback<'a>(
    text: &'a str,
    out: &mut Vec<u32>,
    owned: String,
    _: CallError<Error>,
) -> Result<&'a str, Error> {
    out.push(owned.len() as u32);
    Ok(text)
}

#[circuit_breaker]
pub async fn question_mark_and_return(text: &str, mut tries: u32) -> Result<u32, Error> {
    #![allow(unused_mut)]
    tries += 1;
    if text.is_empty() {
        return Err(Error("empty".to_owned()));
    }
    let n: u32 = text.parse()?;
    Ok(n + tries)
}

#[circuit_breaker]
pub fn blocking_question_mark(text: &str) -> Result<u32, Error> {
    let n: u32 = text.parse()?;
    if n == 0 {
        return Ok(1);
    }
    Ok(n)
}

pub struct Wrapper<T>(T);

impl<T: Clone + Send + Sync> Wrapper<T> {
    #[circuit_breaker(fallback = Self::fallback)]
    pub async fn get(&self, key: T) -> Result<T, Error> {
        let _ = &self.0;
        Ok(key)
    }

    async fn fallback(&self, key: T, _: CallError<Error>) -> Result<T, Error> {
        Ok(key)
    }
}

#[circuit_breaker(fallback = raw_fallback, retry(attempts = 2, backoff = "1ms"))]
pub async fn raw_identifiers(r#type: String, r#match: u32) -> Result<String, Error> {
    Ok(format!("{type}{match}", type = r#type, match = r#match))
}

async fn raw_fallback(r#type: String, _: u32, _: CallError<Error>) -> Result<String, Error> {
    Ok(r#type)
}

fn main() {}

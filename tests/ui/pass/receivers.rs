//! `&self`, `&mut self`, `self` and `self: Arc<Self>`, with and without a fallback.
use std::sync::Arc;

use breaker_runtime::{circuit_breaker, CallError, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[derive(Clone)]
pub struct Client {
    hits: u32,
}

impl Client {
    #[circuit_breaker]
    pub async fn shared(&self, id: u32) -> Result<u32, Error> {
        Ok(self.hits + id)
    }

    #[circuit_breaker]
    pub async fn exclusive(&mut self, id: u32) -> Result<u32, Error> {
        self.hits += id;
        Ok(self.hits)
    }

    #[circuit_breaker(fallback = Self::exclusive_fallback)]
    pub async fn exclusive_with_fallback(&mut self, id: u32) -> Result<u32, Error> {
        self.hits += id;
        Ok(self.hits)
    }

    async fn exclusive_fallback(&mut self, id: u32, _: CallError<Error>) -> Result<u32, Error> {
        self.hits -= id;
        Ok(0)
    }

    #[circuit_breaker(fallback = Self::owned_fallback)]
    pub async fn owned(self) -> Result<u32, Error> {
        Ok(self.hits)
    }

    async fn owned_fallback(self, _: CallError<Error>) -> Result<u32, Error> {
        Ok(self.hits)
    }

    #[circuit_breaker(fallback = Self::arc_fallback)]
    pub async fn arc(self: Arc<Self>) -> Result<u32, Error> {
        Ok(self.hits)
    }

    async fn arc_fallback(self: Arc<Self>, _: CallError<Error>) -> Result<u32, Error> {
        Ok(self.hits)
    }

    #[circuit_breaker]
    pub fn blocking(&mut self) -> Result<u32, Error> {
        self.hits += 1;
        Ok(self.hits)
    }
}

fn main() {}

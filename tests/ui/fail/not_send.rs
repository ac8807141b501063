//! The attribute keeps `Send` inference: a body holding an `Rc` across `.await` is `!Send`,
//! and the error points into the body, as without the attribute.
use std::rc::Rc;
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker]
pub async fn get() -> Result<u32, Error> {
    let rc = Rc::new(1);
    std::future::ready(()).await;
    Ok(*rc)
}

fn assert_send<T: Send>(_: T) {}

fn main() {
    assert_send(get());
}

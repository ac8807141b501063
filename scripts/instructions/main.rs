use std::hint::black_box;

use breaker_runtime::{circuit_breaker, CallError, Rejected, Registry};

#[derive(Debug)]
pub enum E {
    Down,
    Open,
}
impl From<Rejected> for E {
    fn from(_: Rejected) -> Self {
        E::Open
    }
}

pub struct Client {
    registry: Registry,
}

impl Client {
    #[circuit_breaker(name = "annotated", registry = self.registry)]
    #[inline(never)]
    pub async fn annotated(&self, x: u64) -> Result<u64, E> {
        if x == u64::MAX { Err(E::Down) } else { Ok(x + 1) }
    }
}

#[inline(never)]
async fn bare(x: u64) -> Result<u64, ()> {
    Ok(x + 1)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap();
    let n: u64 = args.next().unwrap().parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let registry = Registry::builder().metrics(false).build().unwrap();
    let client = Client { registry: registry.clone() };
    let breaker = registry.breaker("db");
    rt.block_on(async {
        let mut sum = 0u64;
        for i in 0..n {
            sum = sum.wrapping_add(match what.as_str() {
                "bare" => bare(black_box(i)).await.unwrap_or(0),
                "call" => {
                    let r: Result<u64, CallError<()>> = breaker.call(bare(black_box(i))).await;
                    r.unwrap_or(0)
                }
                "attribute" => client.annotated(black_box(i)).await.unwrap_or(0),
                _ => panic!("bare | call | attribute"),
            });
        }
        black_box(sum);
    });
}

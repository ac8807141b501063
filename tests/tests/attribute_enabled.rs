//! `enabled = false` in the attribute switches one breaker off: metrics-only, never tripping.

use breaker_runtime::{circuit_breaker, Registry, Rejected, State};

#[derive(Debug)]
enum ClientError {
    Down,
    Rejected,
}

impl From<Rejected> for ClientError {
    fn from(_: Rejected) -> Self {
        ClientError::Rejected
    }
}

struct Client {
    registry: Registry,
}

impl Client {
    #[circuit_breaker(name = "switched-off", registry = self.registry, consecutive_failures = 1, enabled = false)]
    fn off(&self) -> Result<(), ClientError> {
        Err(ClientError::Down)
    }
}

#[test]
fn an_attribute_can_switch_its_breaker_off() {
    let client = Client { registry: Registry::new() };
    for _ in 0..3 {
        assert!(matches!(client.off(), Err(ClientError::Down)), "never rejected");
    }
    let breaker = client.registry.get("switched-off").unwrap();
    assert_eq!(breaker.state(), State::MetricsOnly, "never trips");
    assert_eq!(breaker.snapshot().failed_calls, 3, "still measures");
}

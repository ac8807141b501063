//! The breaker's states and the packed atomic word that holds the current one.

use std::fmt;

/// A breaker's state.
///
/// The numeric codes ([`State::code`]) are the values of the `circuit_breaker_state` gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum State {
    /// Calls flow; outcomes are recorded and may open the breaker.
    Closed,
    /// Calls are rejected until the open wait has passed.
    Open,
    /// A few probe calls decide whether to close or reopen.
    HalfOpen,
    /// Manual: every call is rejected until released.
    ForcedOpen,
    /// Manual: every call is admitted and nothing is recorded.
    Disabled,
    /// Manual: every call is admitted and recorded; crossing a threshold is reported but never trips.
    MetricsOnly,
}

impl State {
    /// All states, in code order.
    pub const ALL: [State; 6] =
        [State::Closed, State::Open, State::HalfOpen, State::ForcedOpen, State::Disabled, State::MetricsOnly];

    /// The gauge code: 0 closed, 1 open, 2 half-open, 3 forced-open, 4 disabled, 5 metrics-only.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The snake_case name used in metrics labels, logs and reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::ForcedOpen => "forced_open",
            State::Disabled => "disabled",
            State::MetricsOnly => "metrics_only",
        }
    }

    /// True for the states that reject calls outright.
    pub const fn is_open(self) -> bool {
        matches!(self, State::Open | State::ForcedOpen)
    }

    pub(crate) const fn from_code(code: u64) -> State {
        match code {
            0 => State::Closed,
            1 => State::Open,
            2 => State::HalfOpen,
            3 => State::ForcedOpen,
            4 => State::Disabled,
            _ => State::MetricsOnly,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The packed state word: `generation << 32 | in_flight_probes << 4 | state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

impl Word {
    pub(crate) const fn new(state: State, in_flight: u32, generation: u32) -> Word {
        Word(((generation as u64) << 32) | ((in_flight as u64 & 0xFFFF) << 4) | state as u64)
    }
    pub(crate) const fn state(self) -> State {
        State::from_code(self.0 & 0xF)
    }
    pub(crate) const fn in_flight(self) -> u32 {
        ((self.0 >> 4) & 0xFFFF) as u32
    }
    pub(crate) const fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_round_trips() {
        for s in State::ALL {
            let w = Word::new(s, 10_000, u32::MAX);
            assert_eq!((w.state(), w.in_flight(), w.generation()), (s, 10_000, u32::MAX));
            assert_eq!(State::from_code(u64::from(s.code())), s);
        }
    }
}

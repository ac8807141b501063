//! What replicas say to each other: one small, versioned JSON message per state change.

use serde::{Deserialize, Serialize};

/// The wire format's version. A replica ignores (and counts) messages of any other version.
pub const VERSION: u32 = 1;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The sender's breaker opened by its own judgement.
    Open,
    /// The fleet's probe succeeded on the sender: close fleet-wide.
    Closed,
    /// The fleet's probe failed on the sender: reopen fleet-wide with `remaining_ms`.
    Reopened,
}

/// One message on the fleet channel, and the value of an open key.
///
/// ```
/// use breaker_redis::message::{Kind, Message};
///
/// let m = Message::new(Kind::Open, "db", "replica-1", 3, "failure_rate", 30_000, 0);
/// let json = m.encode();
/// assert!(json.len() < 200);
/// assert_eq!(Message::decode(json.as_bytes(), 4096).unwrap(), m);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// [`VERSION`].
    pub v: u32,
    /// What happened.
    pub kind: Kind,
    /// The breaker's name.
    pub breaker: String,
    /// The sender's instance id.
    pub instance: String,
    /// The sender's sequence number for this breaker's state changes (orders its messages).
    pub generation: u64,
    /// Why (a [`Reason`](breaker_runtime::Reason) label: `failure_rate`, `probe_failed`, ...).
    pub reason: String,
    /// Open and reopened: how long the wait has left, in milliseconds (a duration, so clocks
    /// need not agree).
    pub remaining_ms: u64,
    /// Closed and reopened: the fencing token of the probe lease the verdict came from.
    pub token: u64,
}

/// Why a message on the channel was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// Larger than `max_message_bytes`.
    Oversized,
    /// Not JSON, or not this shape.
    Malformed,
    /// Another version of the protocol.
    Foreign,
}

impl Ignored {
    /// A label for the `circuit_breaker_fleet_messages_total` counter.
    pub const fn as_str(self) -> &'static str {
        match self {
            Ignored::Oversized => "ignored_oversized",
            Ignored::Malformed => "ignored_malformed",
            Ignored::Foreign => "ignored_foreign",
        }
    }
}

impl Message {
    /// A message of the current version.
    pub fn new(
        kind: Kind,
        breaker: &str,
        instance: &str,
        generation: u64,
        reason: &str,
        remaining_ms: u64,
        token: u64,
    ) -> Self {
        Message {
            v: VERSION,
            kind,
            breaker: breaker.to_string(),
            instance: instance.to_string(),
            generation,
            reason: reason.to_string(),
            remaining_ms,
            token,
        }
    }

    /// The JSON text.
    pub fn encode(&self) -> String {
        // A struct of strings and integers always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a message, refusing anything larger than `max_bytes`, unreadable, or of another
    /// version. Never panics.
    pub fn decode(bytes: &[u8], max_bytes: usize) -> Result<Message, Ignored> {
        if bytes.len() > max_bytes {
            return Err(Ignored::Oversized);
        }
        #[derive(Deserialize)]
        struct Versioned {
            v: u32,
        }
        let versioned: Versioned = serde_json::from_slice(bytes).map_err(|_| Ignored::Malformed)?;
        if versioned.v != VERSION {
            return Err(Ignored::Foreign);
        }
        let message: Message = serde_json::from_slice(bytes).map_err(|_| Ignored::Malformed)?;
        if message.breaker.is_empty() || message.instance.is_empty() {
            return Err(Ignored::Malformed);
        }
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_is_refused_without_a_panic() {
        let max = 4096;
        assert_eq!(Message::decode(b"", max), Err(Ignored::Malformed));
        assert_eq!(Message::decode(b"\xff\xfe", max), Err(Ignored::Malformed));
        assert_eq!(Message::decode(b"{\"v\":1}", max), Err(Ignored::Malformed));
        assert_eq!(Message::decode(b"[1,2]", max), Err(Ignored::Malformed));
        assert_eq!(Message::decode(b"{\"v\":2,\"anything\":true}", max), Err(Ignored::Foreign));
        assert_eq!(Message::decode(&vec![b' '; max + 1], max), Err(Ignored::Oversized));
        let good = Message::new(Kind::Open, "db", "a", 1, "x", 1, 0).encode();
        let extra = good.replace("\"v\":1", "\"v\":1,\"evil\":1");
        assert_eq!(Message::decode(extra.as_bytes(), max), Err(Ignored::Malformed));
        let empty = Message::new(Kind::Open, "", "a", 1, "x", 1, 0).encode();
        assert_eq!(Message::decode(empty.as_bytes(), max), Err(Ignored::Malformed));
        let huge_number = good.replace("\"remaining_ms\":1", "\"remaining_ms\":1e400");
        assert_eq!(Message::decode(huge_number.as_bytes(), max), Err(Ignored::Malformed));
    }
}

//! Parsers for the human-readable values used in attributes, files and the environment:
//! durations (`"250ms"`, `"30s"`, `"5m"`) and windows (`"100 calls"`, `"60s"`).

use std::fmt;
use std::time::Duration;

use crate::config::WindowKind;

/// The duration forms every parser in the project accepts, for error messages.
pub const DURATION_FORMS: &str =
    "a whole number followed by `ns`, `us`, `ms`, `s`, `m` or `h`, such as \"250ms\", \"30s\" or \"5m\"";

/// The window forms every parser in the project accepts, for error messages.
pub const WINDOW_FORMS: &str =
    "\"N calls\" for a count window (such as \"100 calls\") or a whole number of seconds, minutes or hours for a time window (such as \"60s\" or \"5m\")";

/// Why a human-readable value was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    input: String,
    expected: &'static str,
}

impl ParseError {
    fn new(input: &str, expected: &'static str) -> Self {
        Self { input: input.to_owned(), expected }
    }

    /// The text that was rejected.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// A description of the accepted forms.
    pub fn expected(&self) -> &'static str {
        self.expected
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid value \"{}\"; expected {}", self.input, self.expected)
    }
}

impl std::error::Error for ParseError {}

/// Parses a duration such as `"250ms"`, `"30s"`, `"5m"` or `"1h"`.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use breaker_core::parse::parse_duration;
///
/// assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
/// assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
/// assert!(parse_duration("30 sec").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, ParseError> {
    let err = || ParseError::new(text, DURATION_FORMS);
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
    let (digits, unit) = trimmed.split_at(split);
    if digits.is_empty() {
        return Err(err());
    }
    let value: u64 = digits.parse().map_err(|_| err())?;
    let duration = match unit {
        "ns" => Some(Duration::from_nanos(value)),
        "us" | "µs" => Some(Duration::from_micros(value)),
        "ms" => Some(Duration::from_millis(value)),
        "s" => Some(Duration::from_secs(value)),
        "m" => value.checked_mul(60).map(Duration::from_secs),
        "h" => value.checked_mul(3600).map(Duration::from_secs),
        _ => None,
    };
    duration.ok_or_else(err)
}

/// Parses a window: `"100 calls"` (count-based) or `"60s"` (time-based, whole seconds).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use breaker_core::WindowKind;
/// use breaker_core::parse::parse_window;
///
/// assert_eq!(parse_window("100 calls").unwrap(), WindowKind::Count(100));
/// assert_eq!(parse_window("1m").unwrap(), WindowKind::Time(Duration::from_secs(60)));
/// ```
pub fn parse_window(text: &str) -> Result<WindowKind, ParseError> {
    let err = || ParseError::new(text, WINDOW_FORMS);
    let trimmed = text.trim();
    if let Some(count) = trimmed.strip_suffix("calls").or_else(|| trimmed.strip_suffix("call")) {
        let n: u32 = count.trim().parse().map_err(|_| err())?;
        return Ok(WindowKind::Count(n));
    }
    let duration = parse_duration(trimmed).map_err(|_| err())?;
    if duration.subsec_nanos() != 0 {
        return Err(err());
    }
    Ok(WindowKind::Time(duration))
}

/// Formats a duration in the shortest form [`parse_duration`] reads back.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    let units: [(u128, &str); 6] = [
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    for (scale, unit) in units {
        if nanos != 0 && nanos % scale == 0 {
            return format!("{}{unit}", nanos / scale);
        }
    }
    "0s".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration("5ns").unwrap(), Duration::from_nanos(5));
        assert_eq!(parse_duration("5us").unwrap(), Duration::from_micros(5));
        assert_eq!(parse_duration("5ms").unwrap(), Duration::from_millis(5));
        assert_eq!(parse_duration(" 5s ").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
    }

    #[test]
    fn bad_durations_name_the_input_and_the_forms() {
        for bad in ["", "s", "30", "30 sec", "-1s", "1.5s", "30S", "99999999999999999999s"] {
            let e = parse_duration(bad).unwrap_err();
            assert_eq!(e.input(), bad);
            assert!(e.to_string().contains("\"250ms\""), "{e}");
        }
        assert!(parse_duration(&format!("{}h", u64::MAX)).is_err());
    }

    #[test]
    fn windows() {
        assert_eq!(parse_window("1 call").unwrap(), WindowKind::Count(1));
        assert_eq!(parse_window("100calls").unwrap(), WindowKind::Count(100));
        assert_eq!(parse_window("60s").unwrap(), WindowKind::Time(Duration::from_secs(60)));
        for bad in ["100", "many calls", "1500ms", "x"] {
            assert!(parse_window(bad).unwrap_err().to_string().contains("100 calls"));
        }
    }

    #[test]
    fn format_round_trips() {
        for text in ["250ms", "30s", "5m", "2h", "7ns", "3us"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
    }
}

//! RFC 3339 (UTC) rendering of timestamps for serde.

use crate::Timestamp;
use serde::{Deserialize, Deserializer, Serializer};
use time::format_description::well_known::Rfc3339;

/// Renders a timestamp as RFC 3339 in UTC.
#[must_use]
pub fn to_rfc3339(ts: &Timestamp) -> String {
    ts.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| ts.unix_timestamp().to_string())
}

/// Parses an RFC 3339 timestamp and normalises it to UTC.
///
/// # Errors
/// Returns the parser's message when the text is not RFC 3339.
pub fn parse_rfc3339(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse(text, &Rfc3339)
        .map(|t| t.to_offset(time::UtcOffset::UTC))
        .map_err(|e| format!("not an RFC 3339 timestamp ({e})"))
}

/// The current time in UTC, truncated to milliseconds (what the stores keep):
/// one calendar conversion, no 128-bit arithmetic.
#[must_use]
pub fn now() -> Timestamp {
    from_unix_millis(now_millis())
}

/// Milliseconds since the Unix epoch, now: what the proxy stamps each
/// request with (a calendar conversion is only paid where a `Timestamp` is
/// needed).
#[must_use]
pub fn now_millis() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// Milliseconds since the Unix epoch (whole milliseconds, rounded down).
#[must_use]
pub fn unix_millis(ts: &Timestamp) -> i64 {
    ts.unix_timestamp()
        .saturating_mul(1000)
        .saturating_add(i64::from(ts.millisecond()))
}

/// Builds a UTC timestamp from milliseconds since the Unix epoch (clamped to the representable range).
#[must_use]
pub fn from_unix_millis(ms: i64) -> Timestamp {
    let nanos = u32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0);
    Timestamp::from_unix_timestamp(ms.div_euclid(1000))
        .and_then(|whole| whole.replace_nanosecond(nanos))
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// serde adapter: `Timestamp` as an RFC 3339 string.
pub mod rfc3339 {
    use super::*;

    /// Serialises as RFC 3339.
    ///
    /// # Errors
    /// Never fails on its own; the serializer may.
    pub fn serialize<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_rfc3339(ts))
    }

    /// Parses RFC 3339.
    ///
    /// # Errors
    /// When the text is not RFC 3339.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(d)?;
        parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

/// serde adapter: `Option<Timestamp>` as an RFC 3339 string or null.
pub mod rfc3339_option {
    use super::*;

    /// Serialises as RFC 3339 or null.
    ///
    /// # Errors
    /// Never fails on its own; the serializer may.
    pub fn serialize<S: Serializer>(ts: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match ts {
            Some(ts) => s.serialize_str(&to_rfc3339(ts)),
            None => s.serialize_none(),
        }
    }

    /// Parses RFC 3339 or null.
    ///
    /// # Errors
    /// When the text is not RFC 3339.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => parse_rfc3339(&text)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_round_trip() {
        let ts = from_unix_millis(1_700_000_000_123);
        assert_eq!(unix_millis(&ts), 1_700_000_000_123);
        assert_eq!(to_rfc3339(&ts), "2023-11-14T22:13:20.123Z");
        let before_1970 = from_unix_millis(-1_500);
        assert_eq!(to_rfc3339(&before_1970), "1969-12-31T23:59:58.5Z");
        assert_eq!(unix_millis(&before_1970), -1_500);
        assert_eq!(from_unix_millis(i64::MAX), Timestamp::UNIX_EPOCH, "clamped");
    }

    #[test]
    fn now_is_whole_milliseconds_of_the_clock() {
        let clock = |t: std::time::SystemTime| {
            t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
        };
        let before = clock(std::time::SystemTime::now());
        let now = now();
        let after = clock(std::time::SystemTime::now());
        assert_eq!(now.nanosecond() % 1_000_000, 0);
        assert!((before..=after).contains(&unix_millis(&now)));
    }

    #[test]
    fn parse_normalises_to_utc() {
        let ts = parse_rfc3339("2030-01-01T02:00:00+02:00").unwrap();
        assert_eq!(to_rfc3339(&ts), "2030-01-01T00:00:00Z");
        assert!(parse_rfc3339("yesterday").is_err());
    }
}

//! The request log: one row per proxied request (never bodies or keys).

pub mod packed;

use crate::time_fmt;
use crate::{ClientKeyId, ConfigId, KeyId, Timestamp};
use serde::Serialize;

/// The first `max` characters of `text`, without copying: a log field's
/// limit (`chars().take(n).collect()` stepped and copied char by char, ~300
/// instructions for a short slug on every request).
#[must_use]
pub fn first_chars(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text; // fewer bytes than `max` means fewer characters too
    }
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// Largest page of the request log.
pub const PAGE_MAX: u32 = 500;

/// One proxied request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequestLogEntry {
    /// Row id (0 before it is stored); the paging cursor.
    pub id: i64,
    /// When the request arrived.
    #[serde(with = "time_fmt::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub time: Timestamp,
    /// `X-Request-Id` (the client's, or one the gateway made).
    pub request_id: String,
    /// Service id.
    pub service_id: Option<ConfigId>,
    /// Service slug.
    pub service: String,
    /// Client key id (`null` for a `GLOBAL_PROXY_KEYS` entry).
    pub client_key_id: Option<ClientKeyId>,
    /// Client key name.
    pub client_key: String,
    /// Upstream key that gave the final answer.
    pub key_id: Option<KeyId>,
    /// Its masked hint.
    pub key_hint: Option<String>,
    /// Client API format (`null` on the generic proxy).
    pub client_format: Option<String>,
    /// Upstream API format (`null` on the generic proxy).
    pub upstream_format: Option<String>,
    /// Model, when the request or answer named one.
    pub model: Option<String>,
    /// Status sent to the client.
    pub status: u16,
    /// Upstream calls made (more than 1 after failovers).
    pub attempts: u32,
    /// From arrival to the end of the answer, in milliseconds.
    pub latency_ms: u64,
    /// From arrival to the upstream's answer head, in milliseconds.
    pub ttfb_ms: Option<u64>,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
}

/// A page request over the log, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestLogQuery {
    /// Only this service slug.
    pub service: Option<String>,
    /// Only this client key name.
    pub client_key: Option<String>,
    /// Only statuses of this class (2, 4 or 5 for 2xx, 4xx, 5xx).
    pub status_class: Option<u16>,
    /// At or after.
    pub since: Option<Timestamp>,
    /// Before.
    pub until: Option<Timestamp>,
    /// Only rows older than this id (the previous page's `next_cursor`).
    pub before_id: Option<i64>,
    /// Page size, 1..=[`PAGE_MAX`].
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::first_chars;

    #[test]
    fn first_chars_counts_characters_not_bytes() {
        assert_eq!(first_chars("chat", 63), "chat");
        assert_eq!(first_chars("abcdef", 3), "abc");
        assert_eq!(first_chars("ééééé", 3), "ééé", "two bytes each");
        assert_eq!(
            first_chars("aé", 2),
            "aé",
            "more bytes than max, no more chars"
        );
        assert_eq!(first_chars("", 0), "");
    }
}

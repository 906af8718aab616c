//! Upstream errors, whatever their format, in the client's format with the
//! upstream's message kept.

use crate::Handler;
use domain::chat::StreamEvent;
use domain::llm::{ClientFormat, FormatHandler};
use memchr::memmem::Finder;
use serde_json::Value;
use std::sync::LazyLock;

/// The type and message of an upstream error body in any of the formats
/// (OpenAI `{error:{message,type}}`, Anthropic `{type:error,error:{type,message}}`,
/// Gemini `{error:{code,message,status}}`, also inside a one-element array).
#[must_use]
pub fn read_error(body: &[u8]) -> Option<(String, String)> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let value = match value {
        Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        other => other,
    };
    let error = value.get("error").unwrap_or(&value);
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| error.as_str())?;
    let kind = error
        .get("type")
        .or_else(|| error.get("status"))
        .or_else(|| error.get("code"))
        .map(|k| match k {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default();
    Some((kind, message.to_owned()))
}

/// An upstream error response (`status`, raw `body`) in the client's format.
#[must_use]
pub fn convert_error(handler: Handler, status: u16, body: &[u8]) -> Value {
    // Between the two OpenAI APIs the error shape is the same: keep it whole (type and code).
    if matches!(
        handler.0,
        ClientFormat::Openai | ClientFormat::OpenaiResponses
    ) {
        if let Ok(value) = serde_json::from_slice::<Value>(body) {
            let error = &value["error"];
            if error["message"].is_string()
                && (error["type"].is_string() || error["code"].is_string())
                && value.get("type").is_none()
            {
                return value;
            }
        }
    }
    let (kind, message) = read_error(body).unwrap_or_else(|| {
        (
            String::new(),
            format!(
                "upstream answered {status}: {}",
                excerpt(&String::from_utf8_lossy(body))
            ),
        )
    });
    let code = if kind.is_empty() {
        "upstream_error".to_owned()
    } else {
        kind
    };
    handler.render_error(status, &code, &message)
}

/// An error event in the client's stream format, for a passthrough stream
/// the upstream cut after its first byte (never a silent clean end).
#[must_use]
pub fn stream_error_frame(client: ClientFormat, message: &str) -> String {
    let mut out = String::new();
    match client {
        ClientFormat::Openai => crate::sse::write_event(&mut out, None, &serde_json::json!({
            "error": {"message": message, "type": "api_error", "param": null, "code": "stream_interrupted"}}).to_string()),
        ClientFormat::OpenaiResponses => crate::sse::write_event(&mut out, Some("error"), &serde_json::json!({
            "type": "error", "code": "stream_interrupted", "message": message, "param": null,
            "error": {"type": "api_error", "code": "stream_interrupted", "message": message}}).to_string()),
        ClientFormat::Anthropic => crate::sse::write_event(&mut out, Some("error"), &serde_json::json!({
            "type": "error", "error": {"type": "api_error", "message": message}}).to_string()),
        ClientFormat::Gemini => crate::sse::write_event(&mut out, None, &serde_json::json!({
            "error": {"code": 500, "message": message, "status": "INTERNAL"}}).to_string()),
    }
    out
}

/// Byte strings of which at least one appears in a stream of `format` that
/// ended properly (its end marker, its finish reason, or an error event of
/// its own). A passthrough stream without any was cut.
#[must_use]
pub fn stream_end_markers(format: ClientFormat) -> &'static EndMarkers {
    // Every OpenAI chunk holds `"finish_reason":null`; the last one a string.
    static OPENAI: LazyLock<EndMarkers> = LazyLock::new(|| {
        EndMarkers::new(&["[DONE]", "{\"error\""]).with_string_key("\"finish_reason\"")
    });
    static RESPONSES: LazyLock<EndMarkers> = LazyLock::new(|| {
        EndMarkers::new(&[
            "response.completed",
            "response.incomplete",
            "response.failed",
            "event: error",
        ])
    });
    static ANTHROPIC: LazyLock<EndMarkers> =
        LazyLock::new(|| EndMarkers::new(&["message_stop", "event: error"]));
    static GEMINI: LazyLock<EndMarkers> =
        LazyLock::new(|| EndMarkers::new(&["finishReason", "{\"error\""]));
    match format {
        ClientFormat::Openai => &OPENAI,
        ClientFormat::OpenaiResponses => &RESPONSES,
        ClientFormat::Anthropic => &ANTHROPIC,
        ClientFormat::Gemini => &GEMINI,
    }
}

/// A stream format's end markers, each with its searcher built once: a
/// searcher built per call (`memmem::find`) cost more than the rest of a
/// streamed request's relay.
pub struct EndMarkers {
    finders: Vec<Finder<'static>>,
    /// A quoted key that marks the end when its value is a string.
    string_key: Option<Finder<'static>>,
    longest: usize,
}

/// What may follow a string-valued key before its value's quote (`: "`),
/// counted into a marker's length so a key split across chunks is still
/// read with its value.
const KEY_VALUE_SLACK: usize = 3;

impl EndMarkers {
    /// Markers never hold a line feed, so none can span an event boundary
    /// (callers rely on it to skip boundary checks).
    fn new(markers: &[&'static str]) -> Self {
        debug_assert!(markers.iter().all(|m| !m.is_empty() && !m.contains('\n')));
        Self {
            finders: markers.iter().map(|m| Finder::new(m.as_bytes())).collect(),
            string_key: None,
            longest: markers.iter().map(|m| m.len()).max().unwrap_or(1),
        }
    }

    /// Also ends at `key` (quoted) with a string value: one search, where
    /// each spacing of `"key":"` as a marker of its own was another.
    fn with_string_key(mut self, key: &'static str) -> Self {
        debug_assert!(key.starts_with('"') && key.ends_with('"') && !key.contains('\n'));
        self.longest = self.longest.max(key.len() + KEY_VALUE_SLACK);
        self.string_key = Some(Finder::new(key.as_bytes()));
        self
    }

    /// Whether one of the markers is in `bytes`.
    #[must_use]
    pub fn found_in(&self, bytes: &[u8]) -> bool {
        self.finders.iter().any(|f| f.find(bytes).is_some())
            || self.string_key.as_ref().is_some_and(|key| {
                key.find_iter(bytes)
                    .any(|at| string_value_follows(&bytes[at + key.needle().len()..]))
            })
    }

    /// The longest marker's length.
    #[must_use]
    pub fn longest(&self) -> usize {
        self.longest
    }
}

/// Whether `rest` starts with a colon and a string's opening quote, with at
/// most one space between (the spellings upstreams send; a bounded length
/// keeps a marker split across chunks findable).
fn string_value_follows(rest: &[u8]) -> bool {
    rest.starts_with(b":\"") || rest.starts_with(b": \"")
}

impl std::fmt::Debug for EndMarkers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let needles: Vec<_> = self
            .finders
            .iter()
            .chain(&self.string_key)
            .map(|f| String::from_utf8_lossy(f.needle()))
            .collect();
        f.debug_list().entries(needles).finish()
    }
}

/// An error object found inside a stream, as a universal event.
pub(crate) fn stream_error(error: &Value) -> StreamEvent {
    StreamEvent::Error {
        kind: error
            .get("type")
            .or_else(|| error.get("status"))
            .or_else(|| error.get("code"))
            .map(|k| match k {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_else(|| "api_error".into()),
        message: error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("upstream error")
            .to_owned(),
    }
}

/// A short excerpt of upstream output for logs: at most 120 characters,
/// with anything that looks like a key masked.
#[must_use]
pub fn excerpt(text: &str) -> String {
    let short: String = text.chars().take(120).collect();
    short
        .split_inclusive(|c: char| c.is_whitespace() || c == '"' || c == '\'')
        .map(|word| {
            let trimmed =
                word.trim_end_matches(|c: char| c.is_whitespace() || c == '"' || c == '\'');
            let looks_like_key = trimmed.len() >= 20
                && trimmed
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if looks_like_key {
                word.replacen(trimmed, &domain::mask_secret(trimmed), 1)
            } else {
                word.to_owned()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_markers_hold_no_line_feed_and_are_found_where_they_are() {
        for format in [
            ClientFormat::Openai,
            ClientFormat::OpenaiResponses,
            ClientFormat::Anthropic,
            ClientFormat::Gemini,
        ] {
            let markers = stream_end_markers(format);
            for finder in &markers.finders {
                let marker = finder.needle();
                assert!(!marker.contains(&b'\n'), "{markers:?}");
                assert!(marker.len() <= markers.longest());
                let mut event = b"data: {\"x\":".to_vec();
                event.extend_from_slice(marker);
                event.extend_from_slice(b"}\n\n");
                assert!(markers.found_in(&event), "{markers:?}");
            }
            assert!(!markers.found_in(b"data: {\"choices\":[]}\n\n"));
        }
        let openai = stream_end_markers(ClientFormat::Openai);
        for ended in [
            r#"{"finish_reason":"stop"}"#,
            r#"{"finish_reason": "length"}"#,
            r#"{"finish_reason":null}{"finish_reason":"stop"}"#,
        ] {
            assert!(openai.found_in(ended.as_bytes()), "{ended}");
        }
        for going_on in [
            r#"{"finish_reason":null}"#,
            r#"{"finish_reason":"#,
            r#"{"finish_reason" : "stop"}"#,
            "{\"finish_reason\":\n\"stop\"}",
            r#"{"text":"finish_reason"}"#,
        ] {
            assert!(!openai.found_in(going_on.as_bytes()), "{going_on}");
        }
        assert_eq!(openai.longest(), r#""finish_reason": ""#.len());
    }

    #[test]
    fn each_format_error_is_read() {
        assert_eq!(
            read_error(br#"{"error":{"message":"bad","type":"invalid_request_error"}}"#),
            Some(("invalid_request_error".into(), "bad".into()))
        );
        assert_eq!(
            read_error(br#"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#),
            Some(("overloaded_error".into(), "busy".into()))
        );
        assert_eq!(
            read_error(br#"[{"error":{"code":400,"message":"nope","status":"INVALID_ARGUMENT"}}]"#),
            Some(("INVALID_ARGUMENT".into(), "nope".into()))
        );
        assert_eq!(read_error(b"<html>"), None);
    }

    #[test]
    fn upstream_message_is_kept_in_the_client_shape() {
        let body = br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long"}}"#;
        let openai = convert_error(Handler(ClientFormat::Openai), 400, body);
        assert_eq!(openai["error"]["message"], "prompt is too long");
        let gemini = convert_error(Handler(ClientFormat::Gemini), 400, body);
        assert_eq!(gemini["error"]["message"], "prompt is too long");
        assert_eq!(gemini["error"]["status"], "INVALID_ARGUMENT");
        let anthropic = convert_error(Handler(ClientFormat::Anthropic), 502, b"<html>oops</html>");
        assert!(anthropic["error"]["message"]
            .as_str()
            .unwrap()
            .contains("<html>oops"));
    }

    #[test]
    fn excerpts_mask_key_like_words() {
        let e = excerpt("invalid key sk-abcdefghijklmnopqrstuvwxyz0123 given");
        assert!(!e.contains("sk-abcdefghijklmnopqrstuvwxyz0123"), "{e}");
        assert!(e.contains("invalid key"), "{e}");
    }
}

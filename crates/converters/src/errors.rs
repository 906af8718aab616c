//! Upstream errors, whatever their format, in the client's format with the
//! upstream's message kept.

use crate::Handler;
use domain::chat::StreamEvent;
use domain::llm::{ClientFormat, FormatHandler};
use serde_json::Value;

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
pub fn stream_end_markers(format: ClientFormat) -> &'static [&'static str] {
    match format {
        ClientFormat::Openai => &[
            "[DONE]",
            "\"finish_reason\":\"",
            "\"finish_reason\": \"",
            "{\"error\"",
        ],
        ClientFormat::OpenaiResponses => &[
            "response.completed",
            "response.incomplete",
            "response.failed",
            "event: error",
        ],
        ClientFormat::Anthropic => &["message_stop", "event: error"],
        ClientFormat::Gemini => &["finishReason", "{\"error\""],
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

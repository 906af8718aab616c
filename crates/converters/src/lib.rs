//! [`FormatHandler`] for each client format. Error rendering comes first, so
//! every SDK receives the gateway's own errors in the shape it raises as its
//! normal exception; request, response and stream conversion build on it.

use domain::llm::{ClientFormat, FormatHandler};
use serde_json::{json, Value};

/// The handler of one client format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handler(pub ClientFormat);

/// The handler for `format`.
#[must_use]
pub fn handler_for(format: ClientFormat) -> Handler {
    Handler(format)
}

impl FormatHandler for Handler {
    fn format(&self) -> ClientFormat {
        self.0
    }

    fn render_error(&self, status: u16, code: &str, message: &str) -> Value {
        match self.0 {
            ClientFormat::Openai | ClientFormat::OpenaiResponses => json!({
                "error": {"message": message, "type": openai_type(status), "param": null, "code": code}
            }),
            ClientFormat::Anthropic => json!({
                "type": "error",
                "error": {"type": anthropic_type(status), "message": message}
            }),
            ClientFormat::Gemini => json!({
                "error": {"code": status, "message": message, "status": gemini_status(status)}
            }),
        }
    }
}

fn openai_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

fn anthropic_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

fn gemini_status(status: u16) -> &'static str {
    match status {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        400..=499 => "INVALID_ARGUMENT",
        _ => "INTERNAL",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_gets_its_own_error_shape() {
        let openai =
            handler_for(ClientFormat::Openai).render_error(401, "invalid_client_key", "bad key");
        assert_eq!(openai["error"]["type"], "authentication_error");
        assert_eq!(openai["error"]["code"], "invalid_client_key");
        let anthropic =
            handler_for(ClientFormat::Anthropic).render_error(429, "rate_limited", "slow down");
        assert_eq!(
            anthropic,
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
        );
        let gemini =
            handler_for(ClientFormat::Gemini).render_error(503, "no_available_key", "none");
        assert_eq!(
            gemini,
            json!({"error": {"code": 503, "message": "none", "status": "UNAVAILABLE"}})
        );
        let responses = handler_for(ClientFormat::OpenaiResponses).render_error(400, "bad", "x");
        assert_eq!(responses["error"]["type"], "invalid_request_error");
    }
}

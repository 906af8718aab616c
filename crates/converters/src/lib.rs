//! Conversion between the LLM API formats through the universal model of
//! `domain::chat` (SPEC §5.4): one module per format with its request,
//! response and stream (decoder and encoder) mapping, and the facade the
//! proxy uses. Errors come first: every SDK receives the gateway's own errors
//! in the shape it raises as its normal exception.

pub mod anthropic;
mod error;
pub mod errors;
pub mod gemini;
mod json;
pub mod json_keys;
pub mod json_members;
pub mod models;
pub mod openai_chat;
pub mod responses;
pub mod sse;
pub mod stream;
pub mod usage;
pub mod usage_counts;
mod usage_model;

pub use error::ConvertError;
pub use stream::StreamConverter;

use domain::chat::{ChatRequest, ChatResponse, Part, StopReason};
use domain::llm::{ClientFormat, FormatHandler};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

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

pub(crate) fn gemini_status(status: u16) -> &'static str {
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

/// Seconds since the epoch.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fresh id for a response the upstream gave none (`<prefix>_<time><counter>`).
pub(crate) fn gen_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{prefix}_{nanos:x}{:04x}",
        COUNTER.fetch_add(1, Ordering::Relaxed) & 0xffff
    )
}

/// The stop reason, as `tool_use` when the answer calls tools (formats
/// disagree whether a tool call "stops"; OpenAI and Anthropic clients expect it).
pub(crate) fn stop_or_tool_use(response: &ChatResponse) -> StopReason {
    let calls = response
        .parts
        .iter()
        .any(|p| matches!(p, Part::ToolCall(_)));
    match response.stop_reason {
        StopReason::EndTurn if calls => StopReason::ToolUse,
        other => other,
    }
}

/// What a client request asks for, by its format and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// A chat turn; Gemini carries the model and streaming in the path.
    Chat {
        /// Gemini: the model named in the path.
        model: Option<String>,
        /// Gemini: `:streamGenerateContent`.
        stream: bool,
    },
    /// The model listing.
    Models,
    /// Anything else (token counting, embeddings, files…): convertible only
    /// when client and upstream speak the same format.
    Other(String),
}

/// Classifies a client request path (the part after `/llm/{slug}/`).
#[must_use]
pub fn operation(client: ClientFormat, is_get: bool, path: &str) -> Operation {
    let path = path.trim_start_matches('/');
    let (_, rest) = path.split_once('/').unwrap_or(("", path));
    let rest = rest.trim_end_matches('/');
    match client {
        ClientFormat::Openai if rest == "chat/completions" && !is_get => Operation::Chat {
            model: None,
            stream: false,
        },
        ClientFormat::OpenaiResponses if rest == "responses" && !is_get => Operation::Chat {
            model: None,
            stream: false,
        },
        ClientFormat::Anthropic if rest == "messages" && !is_get => Operation::Chat {
            model: None,
            stream: false,
        },
        ClientFormat::Gemini => match rest
            .strip_prefix("models/")
            .and_then(|m| m.rsplit_once(':'))
        {
            Some((model, "generateContent")) if !is_get => Operation::Chat {
                model: Some(model.to_owned()),
                stream: false,
            },
            Some((model, "streamGenerateContent")) if !is_get => Operation::Chat {
                model: Some(model.to_owned()),
                stream: true,
            },
            _ if rest == "models" && is_get => Operation::Models,
            _ => Operation::Other(rest.to_owned()),
        },
        _ if rest == "models" && is_get => Operation::Models,
        _ => Operation::Other(rest.to_owned()),
    }
}

/// Conversion settings of a service.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// `model_map` of the service: client model name → upstream model name.
    pub model_map: &'a BTreeMap<String, String>,
    /// `DEFAULT_MAX_TOKENS`, for upstreams that require a limit.
    pub default_max_tokens: u64,
}

/// A chat request converted for the upstream, and what is needed to convert the answer back.
#[derive(Debug, Clone)]
pub struct PreparedChat {
    /// Upstream path, e.g. `v1/messages` or `v1beta/models/gemini-2.0-flash:streamGenerateContent`.
    pub path: String,
    /// Extra upstream query (`alt=sse` for Gemini streams).
    pub query: Option<&'static str>,
    /// Upstream JSON body.
    pub body: Vec<u8>,
    /// The answer is streamed.
    pub stream: bool,
    client: ClientFormat,
    upstream: ClientFormat,
    client_model: String,
    renamed: bool,
    include_usage: bool,
}

fn parse_json(body: &[u8]) -> Result<serde_json::Value, ConvertError> {
    serde_json::from_slice(body)
        .map_err(|e| ConvertError::BadRequest(format!("the request body is not valid JSON: {e}")))
}

/// Reads a client chat request in its format.
///
/// # Errors
/// [`ConvertError`] for a malformed request.
pub fn parse_request(
    client: ClientFormat,
    operation: &Operation,
    body: &[u8],
) -> Result<ChatRequest, ConvertError> {
    parse_request_value(client, operation, &parse_json(body)?)
}

fn parse_request_value(
    client: ClientFormat,
    operation: &Operation,
    value: &serde_json::Value,
) -> Result<ChatRequest, ConvertError> {
    match (client, operation) {
        (ClientFormat::Openai, _) => openai_chat::parse_request(value),
        (ClientFormat::OpenaiResponses, _) => responses::parse_request(value),
        (ClientFormat::Anthropic, _) => anthropic::parse_request(value),
        (
            ClientFormat::Gemini,
            Operation::Chat {
                model: Some(model),
                stream,
            },
        ) => gemini::parse_request(value, model, *stream),
        (ClientFormat::Gemini, _) => Err(ConvertError::BadRequest(
            "the Gemini path names no model".into(),
        )),
    }
}

/// Writes a universal request in the upstream's format.
#[must_use]
pub fn render_request(
    upstream: ClientFormat,
    request: &ChatRequest,
    default_max_tokens: u64,
) -> serde_json::Value {
    match upstream {
        ClientFormat::Openai => openai_chat::render_request(request),
        ClientFormat::OpenaiResponses => responses::render_request(request),
        ClientFormat::Anthropic => anthropic::render_request(request, default_max_tokens),
        ClientFormat::Gemini => gemini::render_request(request),
    }
}

/// Reads a response in `format`.
///
/// # Errors
/// [`ConvertError::BadUpstream`] when the body is not such a response.
pub fn parse_response(format: ClientFormat, body: &[u8]) -> Result<ChatResponse, ConvertError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ConvertError::BadUpstream(format!("the response is not JSON: {e}")))?;
    match format {
        ClientFormat::Openai => openai_chat::parse_response(&value),
        ClientFormat::OpenaiResponses => responses::parse_response(&value),
        ClientFormat::Anthropic => anthropic::parse_response(&value),
        ClientFormat::Gemini => gemini::parse_response(&value),
    }
}

/// Writes a universal response in `format`.
#[must_use]
pub fn render_response(format: ClientFormat, response: &ChatResponse) -> serde_json::Value {
    match format {
        ClientFormat::Openai => openai_chat::render_response(response),
        ClientFormat::OpenaiResponses => responses::render_response(response),
        ClientFormat::Anthropic => anthropic::render_response(response),
        ClientFormat::Gemini => gemini::render_response(response),
    }
}

/// Converts a client chat request for the upstream.
///
/// # Errors
/// [`ConvertError`] for a malformed request or one the upstream format cannot serve.
pub fn prepare_chat(
    client: ClientFormat,
    upstream: ClientFormat,
    operation: &Operation,
    body: &[u8],
    options: Options<'_>,
) -> Result<PreparedChat, ConvertError> {
    let value = parse_json(body)?;
    let mut request = parse_request_value(client, operation, &value)?;
    let include_usage = match client {
        ClientFormat::Openai => value["stream_options"]["include_usage"].as_bool() == Some(true),
        _ => true,
    };
    let client_model = request.model.clone();
    let renamed = match options.model_map.get(&request.model) {
        Some(mapped) => {
            request.model.clone_from(mapped);
            true
        }
        None => false,
    };
    let (path, query) = match upstream {
        ClientFormat::Openai => ("v1/chat/completions".to_owned(), None),
        ClientFormat::OpenaiResponses => ("v1/responses".to_owned(), None),
        ClientFormat::Anthropic => ("v1/messages".to_owned(), None),
        ClientFormat::Gemini if request.stream => (
            format!("v1beta/models/{}:streamGenerateContent", request.model),
            Some("alt=sse"),
        ),
        ClientFormat::Gemini => (
            format!("v1beta/models/{}:generateContent", request.model),
            None,
        ),
    };
    let rendered = render_request(upstream, &request, options.default_max_tokens);
    let body = serde_json::to_vec(&rendered).map_err(|e| {
        ConvertError::BadRequest(format!("cannot write the converted request: {e}"))
    })?;
    Ok(PreparedChat {
        path,
        query,
        body,
        stream: request.stream,
        client,
        upstream,
        client_model,
        renamed,
        include_usage,
    })
}

impl PreparedChat {
    /// The model the client asked for.
    #[must_use]
    pub fn client_model(&self) -> &str {
        &self.client_model
    }

    /// Converts a complete upstream response for the client.
    ///
    /// # Errors
    /// [`ConvertError::BadUpstream`] when the upstream's answer is not its format.
    pub fn convert_response(&self, body: &[u8]) -> Result<Vec<u8>, ConvertError> {
        let mut response = parse_response(self.upstream, body)?;
        if self.renamed || response.model.is_empty() {
            response.model.clone_from(&self.client_model);
        }
        serde_json::to_vec(&render_response(self.client, &response))
            .map_err(|e| ConvertError::BadUpstream(e.to_string()))
    }

    /// A converter for the upstream's stream.
    #[must_use]
    pub fn stream_converter(&self) -> StreamConverter {
        stream_converter(
            self.upstream,
            self.client,
            &self.client_model,
            self.renamed,
            self.include_usage,
        )
    }
}

/// A converter from an `upstream` stream to a `client` one. `client_model`
/// names the answer when the upstream does not (or always, when `renamed`
/// by model_map); `include_usage`: an OpenAI Chat client asked for the usage chunk.
#[must_use]
pub fn stream_converter(
    upstream: ClientFormat,
    client: ClientFormat,
    client_model: &str,
    renamed: bool,
    include_usage: bool,
) -> StreamConverter {
    let decoder: Box<dyn stream::Decoder> = match upstream {
        ClientFormat::Openai => Box::<openai_chat::ChatDecoder>::default(),
        ClientFormat::OpenaiResponses => Box::<responses::ResponsesDecoder>::default(),
        ClientFormat::Anthropic => Box::<anthropic::MessagesDecoder>::default(),
        ClientFormat::Gemini => Box::<gemini::GeminiDecoder>::default(),
    };
    let encoder: Box<dyn stream::Encoder> = match client {
        ClientFormat::Openai => {
            Box::new(openai_chat::ChatEncoder::new(client_model, include_usage))
        }
        ClientFormat::OpenaiResponses => Box::new(responses::ResponsesEncoder::new(client_model)),
        ClientFormat::Anthropic => Box::new(anthropic::MessagesEncoder::new(client_model)),
        ClientFormat::Gemini => Box::new(gemini::GeminiEncoder::new(client_model)),
    };
    StreamConverter::new(
        decoder,
        encoder,
        renamed.then(|| client_model.to_owned()),
        client_model.to_owned(),
    )
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

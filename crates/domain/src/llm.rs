//! LLM formats and the two LLM ports. The ports are sketched here and
//! completed with the proxy (issue 3) and conversion (issue 5) work.

use crate::values::{ApiFormat, KeyLocation};

/// The API format a client speaks, detected from its request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientFormat {
    /// OpenAI Chat Completions.
    Openai,
    /// OpenAI Responses.
    OpenaiResponses,
    /// Anthropic Messages.
    Anthropic,
    /// Gemini generateContent.
    Gemini,
}

impl ApiFormat {
    /// The client format that needs no conversion for this upstream.
    #[must_use]
    pub fn native_client_format(self) -> ClientFormat {
        match self {
            ApiFormat::OpenaiCompatible => ClientFormat::Openai,
            ApiFormat::OpenaiResponses => ClientFormat::OpenaiResponses,
            ApiFormat::AnthropicNative => ClientFormat::Anthropic,
            ApiFormat::GeminiNative => ClientFormat::Gemini,
        }
    }
}

/// Where and how the upstream key is placed in an upstream request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPlacement {
    /// Header, query parameter or bearer token.
    pub location: KeyLocation,
    /// Header or query parameter name.
    pub name: String,
}

/// Per-`api_format` upstream knowledge: URL joining, key placement.
pub trait LlmAdapter: Send + Sync {
    /// The format this adapter serves.
    fn api_format(&self) -> ApiFormat;
    /// Where the key goes unless the service overrides it.
    fn default_key_placement(&self) -> KeyPlacement;
    /// Joins the base URL and the upstream path without doubling `/v1`.
    fn upstream_url(&self, base_url: &str, path: &str) -> String;
}

/// Per-client-format rendering. Completed by the conversion work; errors are
/// needed from the start so every SDK gets errors in its own shape.
pub trait FormatHandler: Send + Sync {
    /// The format handled.
    fn format(&self) -> ClientFormat;
    /// An error body in this format (`code` is the gateway's snake_case code).
    fn render_error(&self, status: u16, code: &str, message: &str) -> serde_json::Value;
}

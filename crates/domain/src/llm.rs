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

impl ClientFormat {
    /// The format's name, as used in logs and `output_format`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ClientFormat::Openai => "openai",
            ClientFormat::OpenaiResponses => "openai_responses",
            ClientFormat::Anthropic => "anthropic",
            ClientFormat::Gemini => "gemini",
        }
    }
}

/// What, besides the path, tells SDKs apart on ambiguous paths (`v1/models`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FormatHints {
    /// The request carries `anthropic-version` (Anthropic SDKs always send it).
    pub anthropic_version: bool,
    /// The client key came as `x-goog-api-key` or `?key=` (Google SDKs).
    pub google_key: bool,
}

/// Detects the client's API format from an LLM request path (the part after
/// `/llm/{slug}/`, e.g. `v1/chat/completions`), per SPEC §5.1. `None` for
/// paths no format claims; those are passed through in the upstream's format.
#[must_use]
pub fn detect_client_format(path: &str, hints: FormatHints) -> Option<ClientFormat> {
    let path = path.trim_start_matches('/');
    let (version, rest) = path.split_once('/').unwrap_or((path, ""));
    let google_version = matches!(version, "v1beta" | "v1alpha");
    if !(version == "v1" || google_version) {
        return None;
    }
    let first = rest.split('/').next().unwrap_or_default();
    match first {
        "chat" | "embeddings" | "completions" if !google_version => Some(ClientFormat::Openai),
        "responses" if !google_version => Some(ClientFormat::OpenaiResponses),
        "messages" if !google_version => Some(ClientFormat::Anthropic),
        "models" => {
            // `models/{model}:generateContent` and friends are Gemini's.
            if google_version || rest.contains(':') || hints.google_key {
                Some(ClientFormat::Gemini)
            } else if hints.anthropic_version {
                Some(ClientFormat::Anthropic)
            } else {
                Some(ClientFormat::Openai)
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect(path: &str) -> Option<ClientFormat> {
        detect_client_format(path, FormatHints::default())
    }

    #[test]
    fn paths_of_each_sdk() {
        assert_eq!(detect("v1/chat/completions"), Some(ClientFormat::Openai));
        assert_eq!(detect("v1/embeddings"), Some(ClientFormat::Openai));
        assert_eq!(detect("v1/models"), Some(ClientFormat::Openai));
        assert_eq!(detect("v1/responses"), Some(ClientFormat::OpenaiResponses));
        assert_eq!(
            detect("v1/responses/resp_1/input_items"),
            Some(ClientFormat::OpenaiResponses)
        );
        assert_eq!(detect("v1/messages"), Some(ClientFormat::Anthropic));
        assert_eq!(
            detect("v1/messages/count_tokens"),
            Some(ClientFormat::Anthropic)
        );
        assert_eq!(
            detect("v1beta/models/gemini-2.0-flash:generateContent"),
            Some(ClientFormat::Gemini)
        );
        assert_eq!(
            detect("v1beta/models/gemini-2.0-flash:streamGenerateContent"),
            Some(ClientFormat::Gemini)
        );
        assert_eq!(
            detect("v1/models/gemini-2.0-flash:countTokens"),
            Some(ClientFormat::Gemini)
        );
        assert_eq!(detect("v1beta/models"), Some(ClientFormat::Gemini));
    }

    #[test]
    fn ambiguous_models_listing_uses_hints() {
        let anthropic = FormatHints {
            anthropic_version: true,
            google_key: false,
        };
        assert_eq!(
            detect_client_format("v1/models", anthropic),
            Some(ClientFormat::Anthropic)
        );
        let google = FormatHints {
            anthropic_version: false,
            google_key: true,
        };
        assert_eq!(
            detect_client_format("v1/models", google),
            Some(ClientFormat::Gemini)
        );
    }

    #[test]
    fn unknown_paths_claim_no_format() {
        assert_eq!(detect("v1/audio/speech"), None);
        assert_eq!(detect("v2/chat/completions"), None);
        assert_eq!(detect("health"), None);
        assert_eq!(detect(""), None);
        assert_eq!(detect("v1beta/chat/completions"), None);
    }
}

//! How another Rust service embeds the gateway's `domain` and `converters`
//! crates, without actix, a database or a runtime:
//!
//! - [`anthropic_to_gemini`]: an Anthropic Messages request rewritten as a
//!   Gemini `generateContent` request (through the universal chat model);
//! - [`key_schedule`]: which key of a weighted pool serves each request,
//!   with the same rotation policy the gateway uses, and the failover order.
//!
//! `cargo run -p embedding-example` runs both on a sample (or on an
//! Anthropic request read from standard input).
//!
//! The guides in `docs/extending/` are compiled here as doctests, so their
//! code cannot drift from the crates it extends.

use converters::{ConvertError, Operation};
use domain::llm::ClientFormat;
use domain::rotation::Rotation;
use domain::RotationStrategy;
use serde_json::Value;

/// `max_tokens` for upstreams that require one, when the request has none.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// A Gemini request: the model goes in the URL path, the rest in the body.
#[derive(Debug, Clone, PartialEq)]
pub struct GeminiRequest {
    /// Upstream path, e.g. `v1beta/models/gemini-2.0-flash:generateContent`.
    pub path: String,
    /// The `generateContent` body.
    pub body: Value,
}

/// Rewrites an Anthropic Messages request (JSON) as a Gemini request.
///
/// # Errors
/// [`ConvertError`] when the body is not a valid Anthropic request.
pub fn anthropic_to_gemini(anthropic_body: &[u8]) -> Result<GeminiRequest, ConvertError> {
    let chat = Operation::Chat {
        model: None,
        stream: false,
    };
    let request = converters::parse_request(ClientFormat::Anthropic, &chat, anthropic_body)?;
    let method = if request.stream {
        "streamGenerateContent"
    } else {
        "generateContent"
    };
    Ok(GeminiRequest {
        path: format!("v1beta/models/{}:{method}", request.model),
        body: converters::render_request(ClientFormat::Gemini, &request, DEFAULT_MAX_TOKENS),
    })
}

/// For requests `0..requests`, the index of the key that serves each one
/// and the order the others would be tried in if it failed.
#[must_use]
pub fn key_schedule(weights: &[u32], requests: u64) -> Vec<(usize, Vec<usize>)> {
    let rotation = Rotation::new(RotationStrategy::Weighted, weights);
    (0..requests)
        .filter_map(|counter| {
            let first = rotation.pick(counter, 0)?;
            let fallbacks = rotation.candidates(counter, 0).skip(1).collect();
            Some((first, fallbacks))
        })
        .collect()
}

/// The guides, compiled and run as doctests (`cargo test -p embedding-example --doc`).
#[cfg(doctest)]
mod guides {
    #[doc = include_str!("../../../docs/extending/database.md")]
    struct NewDatabase;
    #[doc = include_str!("../../../docs/extending/llm-adapter.md")]
    struct NewLlmAdapter;
    #[doc = include_str!("../../../docs/extending/format-handler.md")]
    struct NewFormatHandler;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_anthropic_request_becomes_a_gemini_request() {
        let body = br#"{"model":"gemini-2.0-flash","max_tokens":300,"system":"Be brief.",
            "messages":[{"role":"user","content":"Hello"}]}"#;
        let gemini = anthropic_to_gemini(body).unwrap();
        assert_eq!(
            gemini.path,
            "v1beta/models/gemini-2.0-flash:generateContent"
        );
        assert_eq!(gemini.body["contents"][0]["role"], "user");
        assert_eq!(gemini.body["contents"][0]["parts"][0]["text"], "Hello");
        assert_eq!(
            gemini.body["systemInstruction"]["parts"][0]["text"],
            "Be brief."
        );
        assert_eq!(gemini.body["generationConfig"]["maxOutputTokens"], 300);
    }

    #[test]
    fn a_bad_request_is_an_error_not_a_panic() {
        assert!(anthropic_to_gemini(b"{\"messages\": 3}").is_err());
        assert!(anthropic_to_gemini(b"not json").is_err());
    }

    #[test]
    fn weights_3_1_serve_the_first_key_three_times_in_four() {
        let schedule = key_schedule(&[3, 1], 8);
        let firsts: Vec<usize> = schedule.iter().map(|(first, _)| *first).collect();
        assert_eq!(firsts.iter().filter(|i| **i == 0).count(), 6);
        assert_eq!(schedule[0].1.len(), 1, "the other key is the fallback");
        assert!(key_schedule(&[], 3).is_empty());
    }
}

//! [`LlmAdapter`] for each `api_format`: where the upstream key goes and how
//! the upstream URL is joined. The set of formats is closed, so one adapter
//! type matches on the format.

use domain::llm::{KeyPlacement, LlmAdapter};
use domain::{ApiFormat, KeyLocation};

/// The adapter of one upstream format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatAdapter(pub ApiFormat);

/// The adapter for `format`.
#[must_use]
pub fn adapter_for(format: ApiFormat) -> FormatAdapter {
    FormatAdapter(format)
}

impl LlmAdapter for FormatAdapter {
    fn api_format(&self) -> ApiFormat {
        self.0
    }

    fn default_key_placement(&self) -> KeyPlacement {
        let (location, name) = match self.0 {
            ApiFormat::OpenaiCompatible | ApiFormat::OpenaiResponses => {
                (KeyLocation::Bearer, "Authorization")
            }
            ApiFormat::AnthropicNative => (KeyLocation::Header, "x-api-key"),
            ApiFormat::GeminiNative => (KeyLocation::Header, "x-goog-api-key"),
        };
        KeyPlacement {
            location,
            name: name.to_owned(),
        }
    }

    fn upstream_url(&self, base_url: &str, path: &str) -> String {
        join_url(base_url, path)
    }
}

/// Joins a base URL and a client path with one slash, without doubling the
/// API version: when the base already ends in a version segment (`/v1`,
/// `/v1beta`, `/v4` …), the path's leading version segment is dropped, so
/// `https://x/v1` + `v1/chat/completions` → `https://x/v1/chat/completions`
/// and `https://x/api/paas/v4` + `v1/chat/completions` → `https://x/api/paas/v4/chat/completions`.
#[must_use]
pub fn join_url(base_url: &str, path: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let path = path.trim_start_matches('/');
    let base_has_version = base.rsplit('/').next().is_some_and(is_version_segment);
    let path = match path.split_once('/') {
        Some((first, rest)) if base_has_version && is_version_segment(first) => rest,
        None if base_has_version && is_version_segment(path) => "",
        _ => path,
    };
    with_segment(base, path)
}

/// `base`, then `/` and `path` when there is a path. Built by hand: this runs
/// on every proxied request, and `format!` took several times as long.
#[must_use]
pub fn with_segment(base: &str, path: &str) -> String {
    let mut url = String::with_capacity(base.len() + 1 + path.len());
    url.push_str(base);
    if !path.is_empty() {
        url.push('/');
        url.push_str(path);
    }
    url
}

/// `v` followed by a digit, then letters and digits: `v1`, `v1beta`, `v2alpha`.
fn is_version_segment(segment: &str) -> bool {
    let mut chars = segment.chars();
    chars.next() == Some('v')
        && chars.next().is_some_and(|c| c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_not_doubled() {
        for (base, path, expected) in [
            ("https://api.openai.com/v1", "v1/chat/completions", "https://api.openai.com/v1/chat/completions"),
            ("https://api.openai.com/v1/", "/v1/models", "https://api.openai.com/v1/models"),
            ("https://api.anthropic.com", "v1/messages", "https://api.anthropic.com/v1/messages"),
            ("https://openrouter.ai/api/v1", "v1/chat/completions", "https://openrouter.ai/api/v1/chat/completions"),
            ("https://open.bigmodel.cn/api/paas/v4", "v1/chat/completions", "https://open.bigmodel.cn/api/paas/v4/chat/completions"),
            (
                "https://generativelanguage.googleapis.com/v1beta",
                "v1beta/models/gemini-2.0-flash:generateContent",
                "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent",
            ),
            ("https://x/v1", "v1", "https://x/v1"),
            ("https://x/api", "vision/v1/x", "https://x/api/vision/v1/x"),
            ("https://x/v1", "video/list", "https://x/v1/video/list"),
        ] {
            assert_eq!(join_url(base, path), expected, "{base} + {path}");
        }
    }

    #[test]
    fn key_placement_follows_each_provider() {
        let placement = |f| adapter_for(f).default_key_placement();
        assert_eq!(
            placement(ApiFormat::OpenaiCompatible).location,
            KeyLocation::Bearer
        );
        assert_eq!(placement(ApiFormat::AnthropicNative).name, "x-api-key");
        assert_eq!(placement(ApiFormat::GeminiNative).name, "x-goog-api-key");
        assert_eq!(
            adapter_for(ApiFormat::OpenaiResponses).api_format(),
            ApiFormat::OpenaiResponses
        );
    }
}

//! Error rules: how an upstream answer affects the key that served it.

use crate::values::ApiFormat;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What happens to a key (and the request) when a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorAction {
    /// Cool the key down and retry the request on the next key.
    FailoverCooldown,
    /// Mark the key invalid and retry the request on the next key.
    FailoverInvalid,
    /// Retry on the next key without penalising this one.
    Failover,
    /// Hand the answer to the client; the key is not penalised.
    Pass,
}

/// Which upstream statuses a rule applies to: one code (`429`) or a class (`"5xx"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusMatcher {
    /// Exactly this status.
    Exact(u16),
    /// Any status of this hundred (`5` for 5xx).
    Class(u8),
}

impl StatusMatcher {
    /// Whether `status` is matched.
    #[must_use]
    pub fn matches(self, status: u16) -> bool {
        match self {
            StatusMatcher::Exact(code) => code == status,
            StatusMatcher::Class(class) => status / 100 == u16::from(class),
        }
    }

    fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = || format!("`{text}` is not a status code (100-599) or class (\"4xx\", \"5xx\")");
        if let Some(class) = text.strip_suffix("xx").or_else(|| text.strip_suffix("XX")) {
            let class: u8 = class.parse().map_err(|_| bad())?;
            return if (1..=5).contains(&class) {
                Ok(StatusMatcher::Class(class))
            } else {
                Err(bad())
            };
        }
        let code: u16 = text.parse().map_err(|_| bad())?;
        Self::exact(code).ok_or_else(bad)
    }

    fn exact(code: u16) -> Option<Self> {
        (100..=599)
            .contains(&code)
            .then_some(StatusMatcher::Exact(code))
    }
}

impl Serialize for StatusMatcher {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            StatusMatcher::Exact(code) => s.serialize_u16(*code),
            StatusMatcher::Class(class) => s.serialize_str(&format!("{class}xx")),
        }
    }
}

impl<'de> Deserialize<'de> for StatusMatcher {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Code(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Code(code) => u16::try_from(code)
                .ok()
                .and_then(StatusMatcher::exact)
                .ok_or_else(|| {
                    serde::de::Error::custom(format!("{code} is not a status code (100-599)"))
                }),
            Raw::Text(text) => StatusMatcher::parse(&text).map_err(serde::de::Error::custom),
        }
    }
}

/// One rule: when the upstream answers `status` (and its body contains
/// `body_contains`, if given), apply `action`. Rules are tried in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ErrorRule {
    /// A status code (`429`) or class (`"5xx"`).
    #[cfg_attr(feature = "openapi", schema(value_type = serde_json::Value, example = 429))]
    pub status: StatusMatcher,
    /// Case-sensitive text the response body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// What to do.
    pub action: ErrorAction,
}

impl ErrorRule {
    fn new(status: StatusMatcher, body_contains: Option<&str>, action: ErrorAction) -> Self {
        Self {
            status,
            body_contains: body_contains.map(str::to_owned),
            action,
        }
    }
}

/// The built-in rules (SPEC §5.5): 429, 401, 403 and 5xx cool the key down
/// and fail over; everything else is passed to the client.
#[must_use]
pub fn builtin_rules() -> Vec<ErrorRule> {
    use ErrorAction::FailoverCooldown;
    vec![
        ErrorRule::new(StatusMatcher::Exact(429), None, FailoverCooldown),
        ErrorRule::new(StatusMatcher::Exact(401), None, FailoverCooldown),
        ErrorRule::new(StatusMatcher::Exact(403), None, FailoverCooldown),
        ErrorRule::new(StatusMatcher::Class(5), None, FailoverCooldown),
    ]
}

/// The provider preset for an LLM upstream: provider-specific rules first,
/// then the built-in ones.
#[must_use]
pub fn preset_rules(format: ApiFormat) -> Vec<ErrorRule> {
    let specific = match format {
        ApiFormat::OpenaiCompatible | ApiFormat::OpenaiResponses => vec![ErrorRule::new(
            StatusMatcher::Exact(429),
            Some("insufficient_quota"),
            ErrorAction::FailoverInvalid,
        )],
        ApiFormat::AnthropicNative => vec![
            // Overloaded is the provider's state, not the key's.
            ErrorRule::new(StatusMatcher::Exact(529), None, ErrorAction::Failover),
            ErrorRule::new(
                StatusMatcher::Exact(400),
                Some("credit balance is too low"),
                ErrorAction::FailoverInvalid,
            ),
        ],
        // Gemini reports a bad key as a 400, not a 401.
        ApiFormat::GeminiNative => vec![ErrorRule::new(
            StatusMatcher::Exact(400),
            Some("API_KEY_INVALID"),
            ErrorAction::FailoverInvalid,
        )],
    };
    specific.into_iter().chain(builtin_rules()).collect()
}

/// The action of the first rule matching `status` and `body`, if any.
#[must_use]
pub fn evaluate(rules: &[ErrorRule], status: u16, body: &[u8]) -> Option<ErrorAction> {
    rules
        .iter()
        .find(|rule| {
            rule.status.matches(status)
                && rule
                    .body_contains
                    .as_deref()
                    .is_none_or(|needle| contains(body, needle.as_bytes()))
        })
        .map(|rule| rule.action)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_parses_codes_and_classes() {
        let rule: ErrorRule =
            serde_json::from_value(json!({"status": "5xx", "action": "failover"})).unwrap();
        assert_eq!(rule.status, StatusMatcher::Class(5));
        let rule: ErrorRule =
            serde_json::from_value(json!({"status": 429, "action": "pass"})).unwrap();
        assert_eq!(rule.status, StatusMatcher::Exact(429));
        assert!(
            serde_json::from_value::<ErrorRule>(json!({"status": 700, "action": "pass"})).is_err()
        );
        assert!(
            serde_json::from_value::<ErrorRule>(json!({"status": "9xx", "action": "pass"}))
                .is_err()
        );
    }

    #[test]
    fn openai_preset_tells_quota_from_rate_limit() {
        let rules = preset_rules(ApiFormat::OpenaiCompatible);
        let quota = br#"{"error":{"code":"insufficient_quota"}}"#;
        assert_eq!(
            evaluate(&rules, 429, quota),
            Some(ErrorAction::FailoverInvalid)
        );
        assert_eq!(
            evaluate(&rules, 429, b"slow down"),
            Some(ErrorAction::FailoverCooldown)
        );
        assert_eq!(evaluate(&rules, 400, b"context_length_exceeded"), None);
        assert_eq!(
            evaluate(&rules, 503, b""),
            Some(ErrorAction::FailoverCooldown)
        );
    }

    #[test]
    fn serialises_back_to_the_input_shape() {
        let rules = builtin_rules();
        let json = serde_json::to_value(&rules).unwrap();
        assert_eq!(
            json[3],
            json!({"status": "5xx", "action": "failover_cooldown"})
        );
    }
}

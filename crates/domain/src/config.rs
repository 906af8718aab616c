//! Proxy configurations ("services") and the validation of their input.

use crate::error_rules::{builtin_rules, preset_rules, ErrorRule};
use crate::fields::{FieldError, Fields};
use crate::time_fmt;
use crate::values::{
    ApiFormat, ConfigType, HttpMethod, KeyLocation, OutputFormat, RotationStrategy, Slug,
};
use crate::{ConfigId, Timestamp};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Default number of attempts for transient upstream failures.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
const MAX_ATTEMPTS_LIMIT: u32 = 20;
const TIMEOUT_LIMIT_S: u32 = 3600;
const NAME_MAX_CHARS: usize = 100;

/// A service: a pool of upstream keys behind one slug.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProxyConfig {
    /// Database id.
    pub id: ConfigId,
    /// Unique display name.
    pub name: String,
    /// Unique URL segment: `/proxy/{slug}` or `/llm/{slug}`.
    pub slug: Slug,
    /// Inactive services answer 404.
    pub is_active: bool,
    /// Generic or LLM target, tagged by `config_type`.
    #[serde(flatten)]
    pub target: ProxyTarget,
    /// How keys are picked.
    pub rotation_strategy: RotationStrategy,
    /// Attempts for transient failures (5xx, connect errors, timeouts).
    pub max_attempts: u32,
    /// Whole-request timeout in seconds; null means the global `PROXY_TIMEOUT`.
    pub timeout_s: Option<u32>,
    /// Ordered rules mapping upstream answers to key health actions.
    pub error_rules: Vec<ErrorRule>,
    /// Creation time.
    #[serde(with = "time_fmt::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// Last change.
    #[serde(with = "time_fmt::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

impl ProxyConfig {
    /// The service's kind.
    #[must_use]
    pub fn config_type(&self) -> ConfigType {
        self.target.config_type()
    }
}

/// Where a service sends requests.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "config_type", rename_all = "snake_case")]
pub enum ProxyTarget {
    /// Generic REST proxy.
    Generic(GenericTarget),
    /// LLM proxy.
    Llm(LlmTarget),
}

impl ProxyTarget {
    /// The kind of target.
    #[must_use]
    pub fn config_type(&self) -> ConfigType {
        match self {
            ProxyTarget::Generic(_) => ConfigType::Generic,
            ProxyTarget::Llm(_) => ConfigType::Llm,
        }
    }
}

/// A generic REST upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GenericTarget {
    /// Accepted method (`ANY` accepts all).
    pub method: HttpMethod,
    /// Base URL the request path is appended to.
    pub target_url: String,
    /// Where the key goes.
    pub api_key_location: KeyLocation,
    /// Header or query parameter name (`Authorization` for bearer).
    pub api_key_name: String,
}

/// An LLM upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LlmTarget {
    /// Upstream base URL, e.g. `https://api.openai.com/v1`.
    pub target_base_url: String,
    /// What the upstream speaks.
    pub api_format: ApiFormat,
    /// What clients get back.
    pub output_format: OutputFormat,
    /// Overrides where the upstream key goes.
    pub api_key_location: Option<KeyLocation>,
    /// Overrides the header or query parameter name.
    pub api_key_name: Option<String>,
    /// Client model name → upstream model name.
    pub model_map: BTreeMap<String, String>,
}

/// A validated create or full-update request for a service.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyConfigDraft {
    /// Unique display name.
    pub name: String,
    /// Unique slug.
    pub slug: Slug,
    /// Whether it serves requests.
    pub is_active: bool,
    /// Target.
    pub target: ProxyTarget,
    /// Key picking.
    pub rotation_strategy: RotationStrategy,
    /// Transient attempts.
    pub max_attempts: u32,
    /// Timeout override.
    pub timeout_s: Option<u32>,
    /// Error rules.
    pub error_rules: Vec<ErrorRule>,
}

const GENERIC_FIELDS: &[&str] = &["method", "target_url"];
const LLM_FIELDS: &[&str] = &[
    "target_base_url",
    "api_format",
    "output_format",
    "model_map",
];
const COMMON_FIELDS: &[&str] = &[
    "name",
    "slug",
    "config_type",
    "is_active",
    "api_key_location",
    "api_key_name",
    "rotation_strategy",
    "max_attempts",
    "timeout_s",
    "error_rules",
];
/// Read-only fields a client may echo back in a PUT; they are ignored.
pub const READ_ONLY_FIELDS: &[&str] = &[
    "id",
    "created_at",
    "updated_at",
    "key_count",
    "active_key_count",
];

impl ProxyConfigDraft {
    /// Validates a JSON body. Omitted optional fields take their defaults
    /// (a PUT is a full update).
    ///
    /// # Errors
    /// A [`FieldError`] naming the first offending field.
    pub fn from_json(body: Value) -> Result<Self, FieldError> {
        let allowed: Vec<&str> = COMMON_FIELDS
            .iter()
            .chain(GENERIC_FIELDS)
            .chain(LLM_FIELDS)
            .copied()
            .collect();
        let mut f = Fields::from_object(body, &allowed, READ_ONLY_FIELDS)?;

        let name: String = f.required("name")?;
        let name = name.trim().to_owned();
        if name.is_empty() || name.chars().count() > NAME_MAX_CHARS {
            return Err(FieldError::new(
                "name",
                format!("must be 1 to {NAME_MAX_CHARS} characters"),
            ));
        }
        let slug_text: String = f.required("slug")?;
        let slug = Slug::new(&slug_text).map_err(|e| FieldError::new("slug", e.to_string()))?;
        let config_type: ConfigType = f.required("config_type")?;
        let is_active = f.optional("is_active")?.unwrap_or(true);
        let rotation_strategy = f
            .optional("rotation_strategy")?
            .unwrap_or(RotationStrategy::RoundRobin);
        let max_attempts = f.optional("max_attempts")?.unwrap_or(DEFAULT_MAX_ATTEMPTS);
        if !(1..=MAX_ATTEMPTS_LIMIT).contains(&max_attempts) {
            return Err(FieldError::new(
                "max_attempts",
                format!("must be between 1 and {MAX_ATTEMPTS_LIMIT}"),
            ));
        }
        let timeout_s: Option<u32> = f.optional("timeout_s")?;
        if timeout_s.is_some_and(|t| !(1..=TIMEOUT_LIMIT_S).contains(&t)) {
            return Err(FieldError::new(
                "timeout_s",
                format!("must be between 1 and {TIMEOUT_LIMIT_S}"),
            ));
        }
        let rules: Option<Vec<ErrorRule>> = f.optional("error_rules")?;
        let location: Option<KeyLocation> = f.optional("api_key_location")?;
        let key_name: Option<String> = f.optional("api_key_name")?;

        let target = match config_type {
            ConfigType::Generic => {
                reject_present(&f, LLM_FIELDS, "generic")?;
                generic_target(&mut f, location, key_name)?
            }
            ConfigType::Llm => {
                reject_present(&f, GENERIC_FIELDS, "llm")?;
                llm_target(&mut f, location, key_name)?
            }
        };
        let error_rules = rules.unwrap_or_else(|| match &target {
            ProxyTarget::Generic(_) => builtin_rules(),
            ProxyTarget::Llm(llm) => preset_rules(llm.api_format),
        });
        Ok(Self {
            name,
            slug,
            is_active,
            target,
            rotation_strategy,
            max_attempts,
            timeout_s,
            error_rules,
        })
    }
}

fn reject_present(f: &Fields, names: &[&str], config_type: &str) -> Result<(), FieldError> {
    match names.iter().find(|n| f.contains(n)) {
        Some(name) => Err(FieldError::new(
            *name,
            format!("is not a field of config_type {config_type}"),
        )),
        None => Ok(()),
    }
}

fn generic_target(
    f: &mut Fields,
    location: Option<KeyLocation>,
    key_name: Option<String>,
) -> Result<ProxyTarget, FieldError> {
    let target_url: String = f.required("target_url")?;
    validate_http_url(&target_url).map_err(|m| FieldError::new("target_url", m))?;
    let method = f.optional("method")?.unwrap_or(HttpMethod::Any);
    let api_key_location = location.unwrap_or(KeyLocation::Header);
    let api_key_name = match (api_key_location, key_name) {
        (KeyLocation::Bearer, _) => "Authorization".to_owned(),
        (_, Some(name)) => name,
        (_, None) => {
            return Err(FieldError::new(
                "api_key_name",
                "is required for header and query locations",
            ))
        }
    };
    validate_key_name(api_key_location, &api_key_name)?;
    Ok(ProxyTarget::Generic(GenericTarget {
        method,
        target_url: target_url.trim_end_matches('/').to_owned(),
        api_key_location,
        api_key_name,
    }))
}

fn llm_target(
    f: &mut Fields,
    api_key_location: Option<KeyLocation>,
    api_key_name: Option<String>,
) -> Result<ProxyTarget, FieldError> {
    let target_base_url: String = f.required("target_base_url")?;
    validate_http_url(&target_base_url).map_err(|m| FieldError::new("target_base_url", m))?;
    let api_format = f.required("api_format")?;
    let output_format = f.optional("output_format")?.unwrap_or(OutputFormat::Auto);
    let model_map: BTreeMap<String, String> = f.optional("model_map")?.unwrap_or_default();
    if model_map
        .iter()
        .any(|(k, v)| k.trim().is_empty() || v.trim().is_empty())
    {
        return Err(FieldError::new(
            "model_map",
            "model names must not be empty",
        ));
    }
    if matches!(
        api_key_location,
        Some(KeyLocation::Header | KeyLocation::Query)
    ) && api_key_name.is_none()
    {
        return Err(FieldError::new(
            "api_key_name",
            "is required when api_key_location is header or query",
        ));
    }
    if let (Some(location), Some(name)) = (api_key_location, api_key_name.as_deref()) {
        validate_key_name(location, name)?;
    }
    Ok(ProxyTarget::Llm(LlmTarget {
        target_base_url: target_base_url.trim_end_matches('/').to_owned(),
        api_format,
        output_format,
        api_key_location,
        api_key_name,
        model_map,
    }))
}

fn validate_key_name(location: KeyLocation, name: &str) -> Result<(), FieldError> {
    let valid = match location {
        // RFC 9110 token characters.
        KeyLocation::Header | KeyLocation::Bearer => {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        }
        KeyLocation::Query => {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"&=#?+%".contains(&b))
        }
    };
    if valid {
        Ok(())
    } else {
        Err(FieldError::new(
            "api_key_name",
            format!("`{name}` is not a valid {location} name"),
        ))
    }
}

/// Checks that `url` is an absolute `http://` or `https://` URL with a host.
///
/// # Errors
/// A message saying what is wrong.
pub fn validate_http_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| "must start with http:// or https://".to_owned())?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() {
        return Err("must name a host".to_owned());
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".to_owned());
    }
    if url.contains(['?', '#']) {
        return Err("must not contain a query string or fragment".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_rules::ErrorAction;
    use serde_json::json;

    fn llm_body() -> Value {
        json!({"name": "OpenAI", "slug": "openai", "config_type": "llm",
               "target_base_url": "https://api.openai.com/v1/", "api_format": "openai_compatible"})
    }

    #[test]
    fn llm_defaults_are_filled_in() {
        let draft = ProxyConfigDraft::from_json(llm_body()).unwrap();
        assert!(draft.is_active);
        assert_eq!(draft.max_attempts, 3);
        assert_eq!(draft.rotation_strategy, RotationStrategy::RoundRobin);
        assert_eq!(draft.error_rules[0].action, ErrorAction::FailoverInvalid);
        let ProxyTarget::Llm(llm) = draft.target else {
            panic!("llm")
        };
        assert_eq!(llm.target_base_url, "https://api.openai.com/v1");
        assert_eq!(llm.output_format, OutputFormat::Auto);
    }

    #[test]
    fn generic_requires_key_name_unless_bearer() {
        let body =
            json!({"name": "G", "slug": "g", "config_type": "generic", "target_url": "http://x"});
        assert_eq!(
            ProxyConfigDraft::from_json(body).unwrap_err().field,
            "api_key_name"
        );
        let body = json!({"name": "G", "slug": "g", "config_type": "generic", "target_url": "http://x",
                          "api_key_location": "bearer"});
        let draft = ProxyConfigDraft::from_json(body).unwrap();
        let ProxyTarget::Generic(g) = draft.target else {
            panic!("generic")
        };
        assert_eq!(g.api_key_name, "Authorization");
        assert_eq!(g.method, HttpMethod::Any);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (json!({"slug": "Bad Slug"}), "slug"),
            (json!({"max_attempts": "three"}), "max_attempts"),
            (json!({"max_attempts": 0}), "max_attempts"),
            (json!({"api_format": "cohere"}), "api_format"),
            (json!({"target_base_url": "ftp://x"}), "target_base_url"),
            (json!({"method": "GET"}), "method"),
            (json!({"colour": "red"}), "colour"),
            (json!({"model_map": {"a": 1}}), "model_map"),
            (json!({"error_rules": [{"status": 429}]}), "error_rules"),
        ];
        for (patch, field) in cases {
            let mut body = llm_body();
            for (k, v) in patch.as_object().unwrap() {
                body[k] = v.clone();
            }
            let err = ProxyConfigDraft::from_json(body).unwrap_err();
            assert_eq!(err.field, field, "{err}");
        }
    }

    #[test]
    fn read_only_fields_are_ignored() {
        let mut body = llm_body();
        body["id"] = json!(9);
        body["key_count"] = json!(3);
        assert!(ProxyConfigDraft::from_json(body).is_ok());
    }

    #[test]
    fn url_validation() {
        assert!(validate_http_url("https://api.openai.com/v1").is_ok());
        assert!(validate_http_url("http://127.0.0.1:8080").is_ok());
        assert!(validate_http_url("https://").is_err());
        assert!(validate_http_url("https://a b").is_err());
        assert!(validate_http_url("https://x/?key=1").is_err());
    }
}

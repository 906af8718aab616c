//! The data of the original Go project (github.com/lrbmike/APIKeyRotator),
//! as read from its database by `gateway import-legacy`: services in one
//! `proxy_configs` table, keys in plain text in `api_keys`.

use crate::masking::mask_secret;
use serde_json::{Map, Value};
use std::fmt;

/// One row of the legacy `proxy_configs` table with its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyService {
    /// `id` in the legacy database (for reports only).
    pub legacy_id: i64,
    /// `name`.
    pub name: String,
    /// `slug`.
    pub slug: String,
    /// `config_type`: `generic` or `llm`.
    pub config_type: String,
    /// `is_active`.
    pub is_active: bool,
    /// `api_key_location` (generic: `header` or `query`).
    pub api_key_location: Option<String>,
    /// `api_key_name`.
    pub api_key_name: Option<String>,
    /// `method` (generic).
    pub method: Option<String>,
    /// `target_url` (generic).
    pub target_url: Option<String>,
    /// `target_base_url` (llm).
    pub target_base_url: Option<String>,
    /// `api_format` (llm; NULL meant `openai_compatible`).
    pub api_format: Option<String>,
    /// Its rows of `api_keys`.
    pub keys: Vec<LegacyKey>,
}

/// One row of the legacy `api_keys` table. Its `Debug` shows the key masked.
#[derive(Clone, PartialEq, Eq)]
pub struct LegacyKey {
    /// `key_value`, in plain text as the legacy project stored it.
    pub value: String,
    /// `is_active`.
    pub is_active: bool,
}

impl fmt::Debug for LegacyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacyKey")
            .field("value", &mask_secret(&self.value))
            .field("is_active", &self.is_active)
            .finish()
    }
}

impl LegacyService {
    /// The service as a body of `POST /api/admin/proxy-configs`, so it is
    /// validated exactly as one created through the API.
    ///
    /// The legacy LLM adapters placed keys the native way of their format
    /// and ignored `api_key_location`/`api_key_name`, so those are kept for
    /// generic services only.
    #[must_use]
    pub fn to_config_body(&self) -> Value {
        let mut body = Map::new();
        body.insert("name".into(), self.name.clone().into());
        body.insert("slug".into(), self.slug.clone().into());
        body.insert("config_type".into(), self.config_type.clone().into());
        body.insert("is_active".into(), self.is_active.into());
        let mut put = |field: &str, value: Option<&str>| {
            if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
                body.insert(field.into(), value.into());
            }
        };
        if self.config_type == "llm" {
            put("target_base_url", self.target_base_url.as_deref());
            let format = self.api_format.as_deref().unwrap_or("openai_compatible");
            put("api_format", Some(format));
        } else {
            put("method", self.method.as_deref());
            put("target_url", self.target_url.as_deref());
            put("api_key_location", self.api_key_location.as_deref());
            put("api_key_name", self.api_key_name.as_deref());
        }
        Value::Object(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProxyConfigDraft;

    fn service(config_type: &str) -> LegacyService {
        LegacyService {
            legacy_id: 1,
            name: "Weather".into(),
            slug: "weather".into(),
            config_type: config_type.into(),
            is_active: false,
            api_key_location: Some("query".into()),
            api_key_name: Some("appid".into()),
            method: Some("GET".into()),
            target_url: Some("https://api.example.com/data".into()),
            target_base_url: Some("https://api.openai.com/v1".into()),
            api_format: None,
            keys: vec![LegacyKey {
                value: "sk-legacy-0123456789".into(),
                is_active: true,
            }],
        }
    }

    #[test]
    fn a_generic_service_keeps_its_key_placement() {
        let body = service("generic").to_config_body();
        let draft = ProxyConfigDraft::from_json(body.clone()).unwrap();
        assert!(!draft.is_active);
        assert_eq!(body["api_key_location"], "query");
        assert_eq!(body["api_key_name"], "appid");
        assert!(body.get("target_base_url").is_none());
    }

    #[test]
    fn an_llm_service_without_a_format_is_openai_compatible_and_places_keys_natively() {
        let body = service("llm").to_config_body();
        ProxyConfigDraft::from_json(body.clone()).unwrap();
        assert_eq!(body["api_format"], "openai_compatible");
        assert!(body.get("api_key_location").is_none());
        assert!(body.get("method").is_none());
    }

    #[test]
    fn debug_never_shows_a_key() {
        let shown = format!("{:?}", service("llm"));
        assert!(!shown.contains("sk-legacy-0123456789"), "{shown}");
        assert!(shown.contains(&mask_secret("sk-legacy-0123456789")));
    }
}

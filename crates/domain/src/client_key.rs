//! Client keys: who may call the proxies.

use crate::fields::{FieldError, Fields};
use crate::time_fmt;
use crate::values::Slug;
use crate::{ClientKeyId, Timestamp};
use serde::Serialize;
use serde_json::Value;

const NAME_MAX_CHARS: usize = 100;

/// A client key as listed: masked, with usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientKey {
    /// Database id.
    pub id: ClientKeyId,
    /// Who it is for.
    pub name: String,
    /// Masked hint of the key.
    pub key_masked: String,
    /// Slugs it may call; null means all.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<String>>))]
    pub allowed_slugs: Option<Vec<Slug>>,
    /// After this time the key is refused.
    #[serde(with = "time_fmt::rfc3339_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<Timestamp>,
    /// Optional requests-per-minute cap.
    pub rpm_limit: Option<u32>,
    /// Revoked keys are refused.
    pub is_active: bool,
    /// Requests made with it.
    pub requests: u64,
    /// Prompt tokens used.
    pub input_tokens: u64,
    /// Completion tokens used.
    pub output_tokens: u64,
    /// Last use.
    #[serde(with = "time_fmt::rfc3339_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub last_used_at: Option<Timestamp>,
    /// Creation time.
    #[serde(with = "time_fmt::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
}

impl ClientKey {
    /// Whether the key may call `slug` at `now`.
    #[must_use]
    pub fn permits(&self, slug: &Slug, now: Timestamp) -> ClientKeyVerdict {
        if !self.is_active {
            return ClientKeyVerdict::Revoked;
        }
        if self.expires_at.is_some_and(|at| at <= now) {
            return ClientKeyVerdict::Expired;
        }
        match &self.allowed_slugs {
            Some(slugs) if !slugs.contains(slug) => ClientKeyVerdict::NotAllowed,
            _ => ClientKeyVerdict::Allowed,
        }
    }
}

/// The answer of [`ClientKey::permits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKeyVerdict {
    /// Go ahead.
    Allowed,
    /// Not active (401).
    Revoked,
    /// Past `expires_at` (401).
    Expired,
    /// Valid, but not for this service (403).
    NotAllowed,
}

/// A client key as stored: the row plus the SHA-256 of the full key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredClientKey {
    /// The public row.
    pub key: ClientKey,
    /// Hex SHA-256 of the full key.
    pub key_hash: String,
}

/// A validated `POST /client-keys` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKeyRequest {
    /// Who it is for.
    pub name: String,
    /// Slugs it may call (None = all).
    pub allowed_slugs: Option<Vec<Slug>>,
    /// Expiry.
    pub expires_at: Option<Timestamp>,
    /// rpm cap.
    pub rpm_limit: Option<u32>,
}

/// A client key ready to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClientKey {
    /// Validated request.
    pub request: ClientKeyRequest,
    /// Masked hint.
    pub key_masked: String,
    /// Hex SHA-256 of the full key.
    pub key_hash: String,
}

/// A partial update of a client key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientKeyPatch {
    /// New name.
    pub name: Option<String>,
    /// Revoke or restore.
    pub is_active: Option<bool>,
    /// `Some(None)` allows every slug.
    pub allowed_slugs: Option<Option<Vec<Slug>>>,
    /// `Some(None)` removes the cap.
    pub rpm_limit: Option<Option<u32>>,
    /// `Some(None)` removes the expiry.
    pub expires_at: Option<Option<Timestamp>>,
}

impl ClientKeyRequest {
    /// Validates `{"name", "allowed_slugs"?, "expires_at"?, "rpm_limit"?}`;
    /// `expires_at` must be after `now`.
    ///
    /// # Errors
    /// A [`FieldError`] naming the offending field.
    pub fn from_json(body: Value, now: Timestamp) -> Result<Self, FieldError> {
        let mut f = Fields::from_object(
            body,
            &["name", "allowed_slugs", "expires_at", "rpm_limit"],
            &[],
        )?;
        let name = validate_name(f.required("name")?)?;
        let allowed_slugs = f.optional("allowed_slugs")?;
        let expires_at = validate_expiry(f.optional("expires_at")?, now)?;
        let rpm_limit = validate_rpm(f.optional("rpm_limit")?)?;
        Ok(Self {
            name,
            allowed_slugs,
            expires_at,
            rpm_limit,
        })
    }
}

impl ClientKeyPatch {
    /// Validates a PATCH body; absent fields stay as they are, null clears.
    ///
    /// # Errors
    /// A [`FieldError`] naming the offending field.
    pub fn from_json(body: Value, now: Timestamp) -> Result<Self, FieldError> {
        let mut f = Fields::from_object(
            body,
            &[
                "name",
                "is_active",
                "allowed_slugs",
                "rpm_limit",
                "expires_at",
            ],
            &[],
        )?;
        let name = match f.optional::<String>("name")? {
            Some(n) => Some(validate_name(n)?),
            None => None,
        };
        let is_active = f.optional("is_active")?;
        let allowed_slugs = f.nullable("allowed_slugs")?;
        let rpm_limit = match f.nullable("rpm_limit")? {
            Some(limit) => Some(validate_rpm(limit)?),
            None => None,
        };
        let expires_at = match f.nullable("expires_at")? {
            Some(at) => Some(validate_expiry(at, now)?),
            None => None,
        };
        Ok(Self {
            name,
            is_active,
            allowed_slugs,
            rpm_limit,
            expires_at,
        })
    }
}

fn validate_name(name: String) -> Result<String, FieldError> {
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > NAME_MAX_CHARS {
        return Err(FieldError::new(
            "name",
            format!("must be 1 to {NAME_MAX_CHARS} characters"),
        ));
    }
    Ok(name)
}

fn validate_expiry(text: Option<String>, now: Timestamp) -> Result<Option<Timestamp>, FieldError> {
    let Some(text) = text else { return Ok(None) };
    let at = time_fmt::parse_rfc3339(&text).map_err(|m| FieldError::new("expires_at", m))?;
    if at <= now {
        return Err(FieldError::new("expires_at", "must be in the future"));
    }
    Ok(Some(at))
}

fn validate_rpm(limit: Option<u32>) -> Result<Option<u32>, FieldError> {
    match limit {
        Some(0) => Err(FieldError::new(
            "rpm_limit",
            "must be at least 1 (omit it for no limit)",
        )),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time_fmt::from_unix_millis;
    use serde_json::json;

    fn now() -> Timestamp {
        from_unix_millis(1_800_000_000_000)
    }

    #[test]
    fn request_validation_names_fields() {
        let ok =
            ClientKeyRequest::from_json(json!({"name": "ci", "allowed_slugs": ["a", "b"]}), now())
                .unwrap();
        assert_eq!(ok.allowed_slugs.unwrap().len(), 2);
        let cases = [
            (json!({"name": ""}), "name"),
            (
                json!({"name": "x", "allowed_slugs": ["Bad"]}),
                "allowed_slugs",
            ),
            (
                json!({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}),
                "expires_at",
            ),
            (json!({"name": "x", "expires_at": "soon"}), "expires_at"),
            (json!({"name": "x", "rpm_limit": -1}), "rpm_limit"),
            (json!({"name": "x", "key": "mine"}), "key"),
        ];
        for (body, field) in cases {
            assert_eq!(
                ClientKeyRequest::from_json(body, now()).unwrap_err().field,
                field
            );
        }
    }

    #[test]
    fn patch_null_clears() {
        let p =
            ClientKeyPatch::from_json(json!({"allowed_slugs": null, "expires_at": null}), now())
                .unwrap();
        assert_eq!(p.allowed_slugs, Some(None));
        assert_eq!(p.expires_at, Some(None));
        assert_eq!(p.rpm_limit, None);
    }

    #[test]
    fn permits_checks_state_expiry_and_slugs() {
        let slug = Slug::new("a").unwrap();
        let mut key = ClientKey {
            id: 1,
            name: "k".into(),
            key_masked: "*****".into(),
            allowed_slugs: Some(vec![Slug::new("b").unwrap()]),
            expires_at: None,
            rpm_limit: None,
            is_active: true,
            requests: 0,
            input_tokens: 0,
            output_tokens: 0,
            last_used_at: None,
            created_at: now(),
        };
        assert_eq!(key.permits(&slug, now()), ClientKeyVerdict::NotAllowed);
        key.allowed_slugs = None;
        assert_eq!(key.permits(&slug, now()), ClientKeyVerdict::Allowed);
        key.expires_at = Some(now());
        assert_eq!(key.permits(&slug, now()), ClientKeyVerdict::Expired);
        key.is_active = false;
        assert_eq!(key.permits(&slug, now()), ClientKeyVerdict::Revoked);
    }
}

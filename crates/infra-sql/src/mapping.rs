//! Rows ⇄ domain values. Rows that do not map back are reported as corrupt.

use crate::entities::{client_key, proxy_config, upstream_key};
use crate::errors::corrupt;
use domain::client_key::StoredClientKey;
use domain::ports::RepoError;
use domain::time_fmt::from_unix_millis;
use domain::{
    ApiFormat, ClientKey, GenericTarget, HttpMethod, KeyLocation, KeyUsage, LlmTarget,
    OutputFormat, ProxyConfig, ProxyConfigDraft, ProxyTarget, RotationStrategy, Slug, StoredKey,
    UpstreamKey,
};
use sea_orm::ActiveValue::Set;

fn parse<T>(what: &str, text: &str, parse: fn(&str) -> Result<T, String>) -> Result<T, RepoError> {
    parse(text).map_err(|e| corrupt(what, e))
}

fn required<'a>(what: &str, value: Option<&'a String>) -> Result<&'a str, RepoError> {
    value
        .map(String::as_str)
        .ok_or_else(|| corrupt(what, "missing"))
}

fn unsigned(what: &str, value: i64) -> Result<u64, RepoError> {
    u64::try_from(value).map_err(|e| corrupt(what, e))
}

fn small(what: &str, value: i32) -> Result<u32, RepoError> {
    u32::try_from(value).map_err(|e| corrupt(what, e))
}

fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn config_from_row(row: proxy_config::Model) -> Result<ProxyConfig, RepoError> {
    let target = match row.config_type.as_str() {
        "generic" => ProxyTarget::Generic(GenericTarget {
            method: parse(
                "method",
                required("method", row.method.as_ref())?,
                HttpMethod::parse,
            )?,
            target_url: required("target_url", row.target_url.as_ref())?.to_owned(),
            api_key_location: parse(
                "api_key_location",
                required("api_key_location", row.api_key_location.as_ref())?,
                KeyLocation::parse,
            )?,
            api_key_name: required("api_key_name", row.api_key_name.as_ref())?.to_owned(),
        }),
        "llm" => ProxyTarget::Llm(LlmTarget {
            target_base_url: required("target_base_url", row.target_base_url.as_ref())?.to_owned(),
            api_format: parse(
                "api_format",
                required("api_format", row.api_format.as_ref())?,
                ApiFormat::parse,
            )?,
            output_format: parse(
                "output_format",
                required("output_format", row.output_format.as_ref())?,
                OutputFormat::parse,
            )?,
            api_key_location: row
                .api_key_location
                .as_deref()
                .map(|l| parse("api_key_location", l, KeyLocation::parse))
                .transpose()?,
            api_key_name: row.api_key_name.clone(),
            model_map: match row.model_map.as_deref() {
                Some(json) => serde_json::from_str(json).map_err(|e| corrupt("model_map", e))?,
                None => Default::default(),
            },
        }),
        other => return Err(corrupt("config_type", other)),
    };
    Ok(ProxyConfig {
        id: row.id,
        name: row.name,
        slug: Slug::new(&row.slug).map_err(|e| corrupt("slug", e))?,
        is_active: row.is_active,
        target,
        rotation_strategy: parse(
            "rotation_strategy",
            &row.rotation_strategy,
            RotationStrategy::parse,
        )?,
        max_attempts: small("max_attempts", row.max_attempts)?,
        timeout_s: row.timeout_s.map(|t| small("timeout_s", t)).transpose()?,
        error_rules: serde_json::from_str(&row.error_rules)
            .map_err(|e| corrupt("error_rules", e))?,
        created_at: from_unix_millis(row.created_at),
        updated_at: from_unix_millis(row.updated_at),
    })
}

/// Writes every draft field into an active model (for insert and full update).
pub(crate) fn fill_config(
    model: &mut proxy_config::ActiveModel,
    draft: &ProxyConfigDraft,
) -> Result<(), RepoError> {
    model.name = Set(draft.name.clone());
    model.slug = Set(draft.slug.as_str().to_owned());
    model.config_type = Set(draft.target.config_type().as_str().to_owned());
    model.is_active = Set(draft.is_active);
    model.rotation_strategy = Set(draft.rotation_strategy.as_str().to_owned());
    model.max_attempts = Set(to_i32(draft.max_attempts));
    model.timeout_s = Set(draft.timeout_s.map(to_i32));
    model.error_rules =
        Set(serde_json::to_string(&draft.error_rules).map_err(|e| corrupt("error_rules", e))?);
    match &draft.target {
        ProxyTarget::Generic(g) => {
            model.method = Set(Some(g.method.as_str().to_owned()));
            model.target_url = Set(Some(g.target_url.clone()));
            model.api_key_location = Set(Some(g.api_key_location.as_str().to_owned()));
            model.api_key_name = Set(Some(g.api_key_name.clone()));
            model.target_base_url = Set(None);
            model.api_format = Set(None);
            model.output_format = Set(None);
            model.model_map = Set(None);
        }
        ProxyTarget::Llm(l) => {
            model.method = Set(None);
            model.target_url = Set(None);
            model.api_key_location = Set(l.api_key_location.map(|k| k.as_str().to_owned()));
            model.api_key_name = Set(l.api_key_name.clone());
            model.target_base_url = Set(Some(l.target_base_url.clone()));
            model.api_format = Set(Some(l.api_format.as_str().to_owned()));
            model.output_format = Set(Some(l.output_format.as_str().to_owned()));
            model.model_map = Set(Some(
                serde_json::to_string(&l.model_map).map_err(|e| corrupt("model_map", e))?,
            ));
        }
    }
    Ok(())
}

pub(crate) fn key_from_row(row: upstream_key::Model) -> Result<StoredKey, RepoError> {
    Ok(StoredKey {
        key: UpstreamKey {
            id: row.id,
            config_id: row.config_id,
            key_masked: row.key_masked,
            is_active: row.is_active,
            weight: small("weight", row.weight)?,
            rpm_limit: row.rpm_limit.map(|r| small("rpm_limit", r)).transpose()?,
            usage: KeyUsage {
                requests: unsigned("requests", row.requests)?,
                failures: unsigned("failures", row.failures)?,
                input_tokens: unsigned("input_tokens", row.input_tokens)?,
                output_tokens: unsigned("output_tokens", row.output_tokens)?,
            },
            created_at: from_unix_millis(row.created_at),
        },
        ciphertext: row.ciphertext,
    })
}

pub(crate) fn to_opt_i32(value: Option<u32>) -> Option<i32> {
    value.map(to_i32)
}

pub(crate) fn client_key_from_row(row: client_key::Model) -> Result<StoredClientKey, RepoError> {
    let allowed_slugs = match row.allowed_slugs.as_deref() {
        Some(json) => {
            Some(serde_json::from_str::<Vec<Slug>>(json).map_err(|e| corrupt("allowed_slugs", e))?)
        }
        None => None,
    };
    Ok(StoredClientKey {
        key: ClientKey {
            id: row.id,
            name: row.name,
            key_masked: row.key_masked,
            allowed_slugs,
            expires_at: row.expires_at.map(from_unix_millis),
            rpm_limit: row.rpm_limit.map(|r| small("rpm_limit", r)).transpose()?,
            is_active: row.is_active,
            requests: unsigned("requests", row.requests)?,
            input_tokens: unsigned("input_tokens", row.input_tokens)?,
            output_tokens: unsigned("output_tokens", row.output_tokens)?,
            last_used_at: row.last_used_at.map(from_unix_millis),
            created_at: from_unix_millis(row.created_at),
        },
        key_hash: row.key_hash,
    })
}

pub(crate) fn slugs_json(slugs: Option<&Vec<Slug>>) -> Result<Option<String>, RepoError> {
    slugs
        .map(|s| serde_json::to_string(s).map_err(|e| corrupt("allowed_slugs", e)))
        .transpose()
}

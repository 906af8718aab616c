//! Model listings in each format.

use crate::ConvertError;
use domain::llm::ClientFormat;
use serde_json::{json, Value};

/// One listed model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// Id as used in requests (Gemini's without `models/`).
    pub id: String,
    /// Display name, when the upstream gives one.
    pub display_name: Option<String>,
}

/// The upstream's listing path.
#[must_use]
pub fn path(upstream: ClientFormat) -> &'static str {
    match upstream {
        ClientFormat::Gemini => "v1beta/models",
        _ => "v1/models",
    }
}

/// Reads a listing in `format`.
///
/// # Errors
/// [`ConvertError::BadUpstream`] when it is not a listing.
pub fn parse(format: ClientFormat, body: &[u8]) -> Result<Vec<ModelInfo>, ConvertError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ConvertError::BadUpstream(format!("the model listing is not JSON: {e}")))?;
    let (items, key) = match format {
        ClientFormat::Gemini => (&value["models"], "name"),
        _ => (&value["data"], "id"),
    };
    let items = items
        .as_array()
        .ok_or_else(|| ConvertError::BadUpstream("the model listing has no list".into()))?;
    Ok(items
        .iter()
        .filter_map(|m| {
            let id = m[key].as_str()?;
            Some(ModelInfo {
                id: id.strip_prefix("models/").unwrap_or(id).to_owned(),
                display_name: m["display_name"]
                    .as_str()
                    .or_else(|| m["displayName"].as_str())
                    .map(str::to_owned),
            })
        })
        .collect())
}

/// Writes a listing in `format`.
#[must_use]
pub fn render(format: ClientFormat, models: &[ModelInfo]) -> Value {
    match format {
        ClientFormat::Openai | ClientFormat::OpenaiResponses => json!({"object": "list",
            "data": models.iter().map(|m| json!({"id": m.id, "object": "model", "created": 0, "owned_by": "upstream"})).collect::<Vec<_>>()}),
        ClientFormat::Anthropic => json!({
            "data": models.iter().map(|m| json!({"type": "model", "id": m.id,
                "display_name": m.display_name.as_deref().unwrap_or(&m.id), "created_at": "1970-01-01T00:00:00Z"})).collect::<Vec<_>>(),
            "has_more": false,
            "first_id": models.first().map(|m| m.id.clone()),
            "last_id": models.last().map(|m| m.id.clone()),
        }),
        ClientFormat::Gemini => {
            json!({"models": models.iter().map(|m| json!({"name": format!("models/{}", m.id),
            "displayName": m.display_name.as_deref().unwrap_or(&m.id),
            "supportedGenerationMethods": ["generateContent", "streamGenerateContent"]})).collect::<Vec<_>>()})
        }
    }
}

/// Converts an upstream listing for the client.
///
/// # Errors
/// [`ConvertError::BadUpstream`] when the upstream's body is not a listing.
pub fn convert(
    upstream: ClientFormat,
    client: ClientFormat,
    body: &[u8],
) -> Result<Vec<u8>, ConvertError> {
    let models = parse(upstream, body)?;
    serde_json::to_vec(&render(client, &models))
        .map_err(|e| ConvertError::BadUpstream(e.to_string()))
}

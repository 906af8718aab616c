//! Reading JSON values field by field, with errors that name the field.

use crate::ConvertError;
use serde_json::{Map, Value};

/// Which side produced the JSON being read, so errors blame the right party.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Upstream,
}

impl Side {
    pub(crate) fn error(self, message: String) -> ConvertError {
        match self {
            Side::Client => ConvertError::BadRequest(message),
            Side::Upstream => ConvertError::BadUpstream(message),
        }
    }
}

pub(crate) fn object<'a>(
    v: &'a Value,
    field: &str,
    side: Side,
) -> Result<&'a Map<String, Value>, ConvertError> {
    v.as_object()
        .ok_or_else(|| side.error(format!("`{field}` must be a JSON object")))
}

pub(crate) fn array<'a>(
    v: &'a Value,
    field: &str,
    side: Side,
) -> Result<&'a [Value], ConvertError> {
    match v {
        Value::Array(items) => Ok(items),
        Value::Null => Ok(&[]),
        _ => Err(side.error(format!("`{field}` must be an array"))),
    }
}

/// An optional string field (`null` counts as absent).
pub(crate) fn opt_str<'a>(
    v: &'a Value,
    field: &str,
    side: Side,
) -> Result<Option<&'a str>, ConvertError> {
    match &v[field] {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(side.error(format!("`{field}` must be a string"))),
    }
}

pub(crate) fn req_str<'a>(v: &'a Value, field: &str, side: Side) -> Result<&'a str, ConvertError> {
    opt_str(v, field, side)?.ok_or_else(|| side.error(format!("`{field}` is required")))
}

pub(crate) fn opt_f64(v: &Value, field: &str, side: Side) -> Result<Option<f64>, ConvertError> {
    match &v[field] {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n.as_f64()),
        _ => Err(side.error(format!("`{field}` must be a number"))),
    }
}

pub(crate) fn opt_u64(v: &Value, field: &str, side: Side) -> Result<Option<u64>, ConvertError> {
    match &v[field] {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| side.error(format!("`{field}` must be a non-negative integer"))),
        _ => Err(side.error(format!("`{field}` must be a non-negative integer"))),
    }
}

pub(crate) fn opt_bool(v: &Value, field: &str, side: Side) -> Result<Option<bool>, ConvertError> {
    match &v[field] {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        _ => Err(side.error(format!("`{field}` must be true or false"))),
    }
}

/// `stop` as OpenAI allows it: a string or a list of strings.
pub(crate) fn string_or_list(
    v: &Value,
    field: &str,
    side: Side,
) -> Result<Vec<String>, ConvertError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| side.error(format!("`{field}` must hold strings")))
            })
            .collect(),
        _ => Err(side.error(format!("`{field}` must be a string or a list of strings"))),
    }
}

/// Tool-call arguments as JSON text; providers send objects or text.
pub(crate) fn arguments_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "{}".to_owned(),
        other => other.to_string(),
    }
}

/// Tool-call arguments as a JSON object for formats that want one; text that
/// is not an object is wrapped so nothing is lost.
pub(crate) fn arguments_object(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Value::Object(map),
        Ok(Value::Null) | Err(_) if text.trim().is_empty() => Value::Object(Map::new()),
        Ok(other) => serde_json::json!({ "value": other }),
        Err(_) => serde_json::json!({ "raw": text }),
    }
}

/// A `data:` URL split into media type and base64 data.
pub(crate) fn parse_data_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    Some((media_type.to_owned(), data.to_owned()))
}

/// Standard base64 from standard or URL-safe base64 (Gemini may send either).
pub(crate) fn standard_base64(data: &str) -> String {
    data.replace('-', "+").replace('_', "/")
}

/// JSON-schema `type` names lower-cased (OpenAI, Anthropic) or upper-cased
/// (Gemini), recursively.
pub(crate) fn schema_with_type_case(schema: &Value, upper: bool) -> Value {
    match schema {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("type", Value::String(t)) => Value::String(if upper {
                            t.to_ascii_uppercase()
                        } else {
                            t.to_ascii_lowercase()
                        }),
                        ("type", Value::Array(types)) => Value::Array(
                            types
                                .iter()
                                .map(|t| match t {
                                    Value::String(t) => Value::String(if upper {
                                        t.to_ascii_uppercase()
                                    } else {
                                        t.to_ascii_lowercase()
                                    }),
                                    other => other.clone(),
                                })
                                .collect(),
                        ),
                        // Property names are data, not schema: keep their case, recurse into values.
                        ("properties", Value::Object(props)) => Value::Object(
                            props
                                .iter()
                                .map(|(name, s)| (name.clone(), schema_with_type_case(s, upper)))
                                .collect(),
                        ),
                        (_, v) => schema_with_type_case(v, upper),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| schema_with_type_case(i, upper))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether `text` is one complete JSON value (used to tell a finished tool
/// call's arguments from a partial one).
pub(crate) fn is_complete_json(text: &str) -> bool {
    serde_json::from_str::<Value>(text).is_ok()
}

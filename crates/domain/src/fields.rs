//! Field-by-field reading of a JSON object, so every validation error names
//! the field it is about (serde's own errors only give a line and column).

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A validation error about one field of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field's name (`body` when the whole body is wrong).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// Builds an error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The fields of a JSON object, taken one at a time.
#[derive(Debug)]
pub struct Fields {
    map: Map<String, Value>,
}

impl Fields {
    /// Accepts a JSON object whose keys are all in `allowed` or `ignored`;
    /// the `ignored` ones (read-only fields echoed back by clients) are dropped.
    ///
    /// # Errors
    /// When `value` is not an object, or holds a key in neither list.
    pub fn from_object(
        value: Value,
        allowed: &[&str],
        ignored: &[&str],
    ) -> Result<Self, FieldError> {
        let Value::Object(mut map) = value else {
            return Err(FieldError::new("body", "must be a JSON object"));
        };
        map.retain(|k, _| !ignored.contains(&k.as_str()));
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(FieldError::new(unknown.clone(), "unknown field"));
        }
        Ok(Self { map })
    }

    /// Whether the field was sent at all (null included).
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// The field's value; absent and null both give `None`.
    ///
    /// # Errors
    /// When the value has the wrong type.
    pub fn optional<T: DeserializeOwned>(&mut self, name: &str) -> Result<Option<T>, FieldError> {
        match self.map.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v)
                .map(Some)
                .map_err(|e| FieldError::new(name, e.to_string())),
        }
    }

    /// The field's value, which must be present and not null.
    ///
    /// # Errors
    /// When absent, null, or of the wrong type.
    pub fn required<T: DeserializeOwned>(&mut self, name: &str) -> Result<T, FieldError> {
        self.optional(name)?
            .ok_or_else(|| FieldError::new(name, "is required"))
    }

    /// For partial updates: absent → `None`, null → `Some(None)`, a value → `Some(Some(v))`.
    ///
    /// # Errors
    /// When the value has the wrong type.
    pub fn nullable<T: DeserializeOwned>(
        &mut self,
        name: &str,
    ) -> Result<Option<Option<T>>, FieldError> {
        match self.map.remove(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(v) => serde_json::from_value(v)
                .map(|t| Some(Some(t)))
                .map_err(|e| FieldError::new(name, e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_field_is_named() {
        let err = Fields::from_object(json!({"a": 1, "zzz": 2}), &["a"], &[]).unwrap_err();
        assert_eq!(err.field, "zzz");
    }

    #[test]
    fn ignored_fields_are_dropped() {
        let f = Fields::from_object(json!({"a": 1, "id": 2}), &["a"], &["id"]).unwrap();
        assert!(!f.contains("id"));
    }

    #[test]
    fn wrong_type_names_the_field() {
        let mut f = Fields::from_object(json!({"n": "x"}), &["n"], &[]).unwrap();
        let err = f.required::<u32>("n").unwrap_err();
        assert_eq!(err.field, "n");
        assert!(err.message.contains("invalid type"), "{}", err.message);
    }

    #[test]
    fn nullable_distinguishes_absent_and_null() {
        let mut f = Fields::from_object(json!({"a": null, "b": 3}), &["a", "b", "c"], &[]).unwrap();
        assert_eq!(f.nullable::<u32>("a").unwrap(), Some(None));
        assert_eq!(f.nullable::<u32>("b").unwrap(), Some(Some(3)));
        assert_eq!(f.nullable::<u32>("c").unwrap(), None);
    }

    #[test]
    fn non_object_is_rejected() {
        assert_eq!(
            Fields::from_object(json!([1]), &[], &[]).unwrap_err().field,
            "body"
        );
    }
}

//! Validated value types. Each one can only be built from valid input, so an
//! invalid value never reaches the core.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// Declares a closed set of string values with serde, `as_str`, `parse` and
/// an error that lists the allowed values.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[doc = concat!("\n\nOn the wire: `", $text, "`.")]
                #[serde(rename = $text)]
                $variant
            ),+
        }

        impl $name {
            /// Every allowed value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name of this value.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the wire name.
            ///
            /// # Errors
            /// A message listing the allowed values when `text` is not one of them.
            pub fn parse(text: &str) -> Result<Self, String> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "`{other}` is not one of: {}",
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                $name::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_enum!(
    /// Whether a service is a generic REST proxy or an LLM proxy.
    ConfigType { Generic => "generic", Llm => "llm" }
);

string_enum!(
    /// The API format an LLM upstream speaks.
    ApiFormat {
        OpenaiCompatible => "openai_compatible",
        AnthropicNative => "anthropic_native",
        GeminiNative => "gemini_native",
        OpenaiResponses => "openai_responses",
    }
);

string_enum!(
    /// The format answered to clients of an LLM service.
    OutputFormat {
        /// Detect from the request path (default).
        Auto => "auto",
        /// Always pass through in the upstream's format.
        None => "none",
        Openai => "openai",
        OpenaiResponses => "openai_responses",
        Anthropic => "anthropic",
        Gemini => "gemini",
    }
);

string_enum!(
    /// How the next upstream key is chosen.
    RotationStrategy { RoundRobin => "round_robin", Weighted => "weighted", Random => "random" }
);

string_enum!(
    /// Where the upstream key is placed in the upstream request.
    KeyLocation { Header => "header", Query => "query", Bearer => "bearer" }
);

string_enum!(
    /// The HTTP method a generic service accepts.
    HttpMethod {
        Get => "GET",
        Post => "POST",
        Put => "PUT",
        Patch => "PATCH",
        Delete => "DELETE",
        Any => "ANY",
    }
);

impl HttpMethod {
    /// Whether a request with `method` (upper-case HTTP method) is accepted.
    #[must_use]
    pub fn allows(self, method: &str) -> bool {
        self == HttpMethod::Any || self.as_str().eq_ignore_ascii_case(method)
    }
}

/// The URL-safe address of a service: `^[a-z0-9][a-z0-9_-]{0,62}$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, example = "openai-main"))]
#[serde(transparent)]
pub struct Slug(String);

/// Why a text is not a valid slug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must match ^[a-z0-9][a-z0-9_-]{{0,62}}$ (lower-case letters, digits, '-' and '_', 1 to 63 characters, not starting with '-' or '_')")]
pub struct SlugError;

impl Slug {
    /// Validates and wraps a slug.
    ///
    /// # Errors
    /// [`SlugError`] when `text` does not match `^[a-z0-9][a-z0-9_-]{0,62}$`.
    pub fn new(text: &str) -> Result<Self, SlugError> {
        let bytes = text.as_bytes();
        let first_ok = bytes
            .first()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let rest_ok = bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_');
        if first_ok && rest_ok && bytes.len() <= 63 {
            Ok(Slug(text.to_owned()))
        } else {
            Err(SlugError)
        }
    }

    /// The slug text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Slug {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Slug {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Slug::new(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_accepts_the_documented_shape() {
        for ok in ["a", "0", "openai-main", "a_b-c", &"a".repeat(63)] {
            assert!(Slug::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn slug_rejects_everything_else() {
        for bad in [
            "",
            "-a",
            "_a",
            "A",
            "a b",
            "a/b",
            "a.b",
            &"a".repeat(64),
            "é",
        ] {
            assert!(Slug::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn enums_round_trip_and_list_choices() {
        for f in ApiFormat::ALL {
            assert_eq!(ApiFormat::parse(f.as_str()), Ok(*f));
        }
        let err = KeyLocation::parse("cookie").unwrap_err();
        assert!(err.contains("header, query, bearer"), "{err}");
        let json = serde_json::to_string(&HttpMethod::Patch).unwrap();
        assert_eq!(json, "\"PATCH\"");
    }

    #[test]
    fn method_any_allows_all() {
        assert!(HttpMethod::Any.allows("DELETE"));
        assert!(HttpMethod::Post.allows("POST"));
        assert!(!HttpMethod::Post.allows("GET"));
    }
}

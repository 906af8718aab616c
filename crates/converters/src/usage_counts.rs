//! A usage object's token counts, read straight into fields in every
//! format's names. The proxy reads one from each answer that passes: parsed
//! into a `Value` it cost a map entry and a string per field, and the
//! converters read theirs through the same mapping.
//!
//! Reading is lenient, as `Value::as_u64` was: a count that is not an
//! unsigned integer, or a details field that is not an object, reads as
//! absent instead of failing the whole object.

use domain::chat::Usage;
use domain::ApiFormat;
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::marker::PhantomData;

mod scan;

/// Every count a usage object of any format carries.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UsageCounts {
    // OpenAI Chat.
    prompt_tokens: Count,
    completion_tokens: Count,
    prompt_tokens_details: Lenient<Details>,
    completion_tokens_details: Lenient<Details>,
    // OpenAI Responses and Anthropic.
    input_tokens: Count,
    output_tokens: Count,
    input_tokens_details: Lenient<Details>,
    output_tokens_details: Lenient<Details>,
    cache_read_input_tokens: Count,
    cache_creation_input_tokens: Count,
    // Gemini.
    #[serde(rename = "promptTokenCount")]
    prompt_token_count: Count,
    #[serde(rename = "candidatesTokenCount")]
    candidates_token_count: Count,
    #[serde(rename = "thoughtsTokenCount")]
    thoughts_token_count: Count,
    #[serde(rename = "cachedContentTokenCount")]
    cached_content_token_count: Count,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Details {
    cached_tokens: Count,
    reasoning_tokens: Count,
}

impl UsageCounts {
    /// The counts of a usage object already parsed (zero when it is none).
    #[must_use]
    pub fn of_value(value: &serde_json::Value, format: ApiFormat) -> Usage {
        // A derived struct would also take an array, by position.
        if !value.is_object() {
            return Usage::default();
        }
        Self::deserialize(value).unwrap_or_default().usage(format)
    }

    /// The counts of the usage object `bytes` start with (zero when they do
    /// not start with a whole one); what follows the object is not read.
    #[must_use]
    pub fn of_leading(bytes: &[u8], format: ApiFormat) -> Usage {
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            return Usage::default();
        }
        Self::scan(bytes)
            .or_else(|| Self::parse(bytes))
            .unwrap_or_default()
            .usage(format)
    }

    /// The object `bytes` start with, read by serde (what follows is not read).
    fn parse(bytes: &[u8]) -> Option<Self> {
        Self::deserialize(&mut serde_json::Deserializer::from_slice(bytes)).ok()
    }

    /// What these counts mean in `format`: Anthropic counts cached input
    /// apart from `input_tokens`, Gemini counts thoughts apart from the
    /// candidates' tokens.
    #[must_use]
    pub fn usage(&self, format: ApiFormat) -> Usage {
        match format {
            ApiFormat::OpenaiCompatible => Usage {
                input_tokens: self.prompt_tokens.or_zero(),
                output_tokens: self.completion_tokens.or_zero(),
                cached_tokens: self.prompt_tokens_details.0.cached_tokens.0,
                reasoning_tokens: self.completion_tokens_details.0.reasoning_tokens.0,
            },
            ApiFormat::OpenaiResponses => Usage {
                input_tokens: self.input_tokens.or_zero(),
                output_tokens: self.output_tokens.or_zero(),
                cached_tokens: self.input_tokens_details.0.cached_tokens.0,
                reasoning_tokens: self.output_tokens_details.0.reasoning_tokens.0,
            },
            ApiFormat::AnthropicNative => Usage {
                // Upstream numbers: a huge one must not overflow the sum.
                input_tokens: self
                    .input_tokens
                    .or_zero()
                    .saturating_add(self.cache_read_input_tokens.or_zero())
                    .saturating_add(self.cache_creation_input_tokens.or_zero()),
                output_tokens: self.output_tokens.or_zero(),
                cached_tokens: self.cache_read_input_tokens.0,
                reasoning_tokens: None,
            },
            ApiFormat::GeminiNative => Usage {
                input_tokens: self.prompt_token_count.or_zero(),
                output_tokens: self
                    .candidates_token_count
                    .or_zero()
                    .saturating_add(self.thoughts_token_count.or_zero()),
                cached_tokens: self.cached_content_token_count.0,
                reasoning_tokens: self.thoughts_token_count.0,
            },
        }
    }
}

/// A token count: an unsigned integer, or absent when the field holds
/// anything else.
#[derive(Debug, Default, Clone, Copy)]
struct Count(Option<u64>);

impl Count {
    fn or_zero(self) -> u64 {
        self.0.unwrap_or(0)
    }
}

/// An object read as `T`, or `T::default()` when the field is not an object.
#[derive(Debug, Default)]
struct Lenient<T>(T);

/// A field that takes whatever JSON value it finds: what it keeps of an
/// unsigned integer and of an object, and what anything else reads as.
trait Tolerant<'de>: Sized {
    fn integer(value: u64) -> Self;
    fn object<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
    fn absent() -> Self;
}

impl<'de> Tolerant<'de> for Count {
    fn integer(value: u64) -> Self {
        Count(Some(value))
    }

    fn object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Count(None))
    }

    fn absent() -> Self {
        Count(None)
    }
}

impl<'de, T: Deserialize<'de> + Default> Tolerant<'de> for Lenient<T> {
    fn integer(_: u64) -> Self {
        Lenient(T::default())
    }

    fn object<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Lenient)
    }

    fn absent() -> Self {
        Lenient(T::default())
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AnyValue(PhantomData))
    }
}

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AnyValue(PhantomData))
    }
}

/// Visits any JSON value for a [`Tolerant`] field.
struct AnyValue<W>(PhantomData<W>);

impl<'de, W: Tolerant<'de>> Visitor<'de> for AnyValue<W> {
    type Value = W;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_u64<E>(self, v: u64) -> Result<W, E> {
        Ok(W::integer(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<W, E> {
        Ok(u64::try_from(v).map_or_else(|_| W::absent(), W::integer))
    }

    fn visit_f64<E>(self, _: f64) -> Result<W, E> {
        Ok(W::absent())
    }

    fn visit_bool<E>(self, _: bool) -> Result<W, E> {
        Ok(W::absent())
    }

    fn visit_str<E>(self, _: &str) -> Result<W, E> {
        Ok(W::absent())
    }

    fn visit_unit<E>(self) -> Result<W, E> {
        Ok(W::absent())
    }

    fn visit_none<E>(self) -> Result<W, E> {
        Ok(W::absent())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<W, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<W, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(W::absent())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<W, A::Error> {
        W::object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const FORMATS: [ApiFormat; 4] = [
        ApiFormat::OpenaiCompatible,
        ApiFormat::OpenaiResponses,
        ApiFormat::AnthropicNative,
        ApiFormat::GeminiNative,
    ];

    fn both_ways(object: &Value, format: ApiFormat) -> Usage {
        let from_value = UsageCounts::of_value(object, format);
        let from_bytes = UsageCounts::of_leading(object.to_string().as_bytes(), format);
        assert_eq!(from_value, from_bytes, "{object} as {format:?}");
        from_value
    }

    #[test]
    fn every_format_reads_its_own_names() {
        let openai = json!({"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17,
            "prompt_tokens_details": {"cached_tokens": 3, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 2}});
        let responses = json!({"input_tokens": 8, "output_tokens": 9,
            "input_tokens_details": {"cached_tokens": 1}, "output_tokens_details": {"reasoning_tokens": 4}});
        let anthropic = json!({"input_tokens": 7, "output_tokens": 3, "cache_read_input_tokens": 2,
            "cache_creation_input_tokens": 5, "cache_creation": {"ephemeral_5m_input_tokens": 5},
            "server_tool_use": null, "service_tier": "standard"});
        let gemini = json!({"promptTokenCount": 4, "candidatesTokenCount": 6, "thoughtsTokenCount": 2,
            "cachedContentTokenCount": 1, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 4}]});
        let usage = |input, output, cached, reasoning| Usage {
            input_tokens: input,
            output_tokens: output,
            cached_tokens: cached,
            reasoning_tokens: reasoning,
        };
        assert_eq!(
            both_ways(&openai, ApiFormat::OpenaiCompatible),
            usage(12, 5, Some(3), Some(2))
        );
        assert_eq!(
            both_ways(&responses, ApiFormat::OpenaiResponses),
            usage(8, 9, Some(1), Some(4))
        );
        assert_eq!(
            both_ways(&anthropic, ApiFormat::AnthropicNative),
            usage(14, 3, Some(2), None),
            "cached and cache-creation input count as input"
        );
        assert_eq!(
            both_ways(&gemini, ApiFormat::GeminiNative),
            usage(4, 8, Some(1), Some(2)),
            "thoughts count as output"
        );
    }

    #[test]
    fn odd_values_read_as_absent_not_as_a_failure() {
        let odd = json!({"prompt_tokens": 1.5, "completion_tokens": -3, "input_tokens": "7",
            "output_tokens": [1], "prompt_tokens_details": 4, "completion_tokens_details": {"reasoning_tokens": {"n": 1}},
            "input_tokens_details": null, "promptTokenCount": null, "candidatesTokenCount": true,
            "thoughtsTokenCount": 6});
        for format in FORMATS {
            let usage = both_ways(&odd, format);
            assert_eq!(usage.input_tokens, 0, "{format:?}");
            assert_eq!(usage.cached_tokens, None, "{format:?}");
        }
        assert_eq!(both_ways(&odd, ApiFormat::GeminiNative).output_tokens, 6);
        for not_an_object in [json!(null), json!(3), json!("usage"), json!([1, 2])] {
            for format in FORMATS {
                assert_eq!(both_ways(&not_an_object, format), Usage::default());
            }
        }
        assert_eq!(
            UsageCounts::of_leading(b"{\"prompt_tokens\": 1", ApiFormat::OpenaiCompatible),
            Usage::default(),
            "a cut object reads as nothing"
        );
        assert_eq!(
            UsageCounts::of_leading(
                b"{\"prompt_tokens\": 1, \"x\": {}}, \"model\": \"m\"}",
                ApiFormat::OpenaiCompatible
            )
            .input_tokens,
            1,
            "what follows the object is not read"
        );
    }
}

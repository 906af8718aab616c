//! The usage object read by a byte scan, for the common shape: keys without
//! escapes, counts that are plain unsigned integers or null, details that
//! are objects or null. Anything else (a float, a string, a repeated key, a
//! cut object) gives `None`, and serde reads the object instead, so on valid
//! JSON the two readings never differ (a property test holds them to that).
//! Values the scan steps over are not validated: JSON broken inside them
//! still gives counts, where serde would give none.

use super::{Count, Details, Lenient, UsageCounts};
use crate::json_keys::{object_end, string_end};

/// A position in the bytes being scanned.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&mut self) -> Option<u8> {
        loop {
            let byte = *self.bytes.get(self.at)?;
            // Every byte above the space is no whitespace: one comparison
            // for what the scan meets almost always.
            if byte > b' ' || !matches!(byte, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(byte);
            }
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        // Compact JSON, as upstreams send it, has the byte right here.
        if self.bytes.get(self.at) == Some(&byte) {
            self.at += 1;
            return Some(());
        }
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Steps over a key the caller does not know: its name runs to the
    /// next quote (a backslash gives `None`: serde reads escaped names).
    fn other_key(&mut self) -> Option<()> {
        let rest = self.bytes.get(self.at..)?;
        // `rest` runs to the end of the object, so memchr's first 32-byte
        // compare holds the key's end: fewer instructions than eight bytes
        // a step over a 12–27-byte key.
        let len = memchr::memchr2(b'"', b'\\', rest)?;
        if rest[len] != b'"' {
            return None;
        }
        self.at += len + 1;
        Some(())
    }

    fn null(&mut self) -> Option<()> {
        let rest = self.bytes.get(self.at..)?;
        rest.starts_with(b"null").then(|| self.at += 4)
    }

    fn count(&mut self) -> Option<Count> {
        match self.peek()? {
            b'n' => self.null().map(|()| Count(None)),
            b'0'..=b'9' => {
                let mut value: u64 = 0;
                while let Some(digit @ b'0'..=b'9') = self.bytes.get(self.at) {
                    value = value
                        .checked_mul(10)?
                        .checked_add(u64::from(digit - b'0'))?;
                    self.at += 1;
                }
                // A fraction or an exponent makes it a float: serde's to read.
                match self.bytes.get(self.at) {
                    Some(b'.' | b'e' | b'E') => None,
                    _ => Some(Count(Some(value))),
                }
            }
            _ => None,
        }
    }

    /// Steps over any value.
    fn skip(&mut self) -> Option<()> {
        let start = self.at;
        match self.peek()? {
            b'"' => self.at = string_end(self.bytes, self.at)? + 1,
            b'{' | b'[' => self.at = object_end(self.bytes, self.at)? + 1,
            _ => {
                while let Some(b) = self.bytes.get(self.at) {
                    if matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                        break;
                    }
                    self.at += 1;
                }
            }
        }
        (self.at > start).then_some(())
    }

    /// Walks an object. `known` names the key the bytes after its opening
    /// quote start with, when the caller knows it ([`Name`]); `field` gets
    /// the cursor on the value of each field numbered so, up to 64 (repeats
    /// give `None`: serde refuses them). Every other value is stepped over.
    fn object(
        &mut self,
        known: impl Fn(&[u8]) -> Option<Name>,
        mut field: impl FnMut(&mut Self, u32) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        let mut seen = 0u64;
        loop {
            self.eat(b'"')?;
            let index = match known(self.bytes.get(self.at..)?) {
                Some(name) => {
                    self.at += name.len;
                    name.field
                }
                None => {
                    self.other_key()?;
                    None
                }
            };
            self.eat(b':')?;
            match index {
                Some(index) => {
                    let bit = 1u64 << index;
                    if seen & bit != 0 {
                        return None;
                    }
                    seen |= bit;
                    field(self, index)?;
                }
                None => self.skip()?,
            }
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn details(&mut self) -> Option<Lenient<Details>> {
        if self.peek()? == b'n' {
            return self.null().map(|()| Lenient(Details::default()));
        }
        let mut details = Details::default();
        self.object(details_name, |cursor, index| {
            let count = if index == 0 {
                &mut details.cached_tokens
            } else {
                &mut details.reasoning_tokens
            };
            *count = cursor.count()?;
            Some(())
        })?;
        Some(Lenient(details))
    }
}

/// A key name the bytes after its opening quote start with: how many bytes
/// it takes with its closing quote, and which field it is (`None`: one
/// known to be stepped over).
struct Name {
    len: usize,
    field: Option<u32>,
}

/// The first of `$name => $field` whose name (closing quote included) the
/// bytes start with. Each name is a constant, so each test compiles to a
/// few word compares: the names are told apart without finding the key's
/// end first (memchr) and matching it against every name.
macro_rules! first_name {
    ($rest:expr; $($name:literal => $field:expr),* $(,)?) => {{
        let rest: &[u8] = $rest;
        $(
            if rest.starts_with($name) {
                return Some(Name { len: $name.len(), field: $field });
            }
        )*
        None
    }};
}

/// The usage object's names, by their first byte; the fields as numbered
/// in [`UsageCounts::scan`].
fn usage_name(rest: &[u8]) -> Option<Name> {
    match rest.first()? {
        b'p' => first_name!(rest;
            b"prompt_tokens\"" => Some(0),
            b"prompt_tokens_details\"" => Some(10),
            b"promptTokenCount\"" => Some(6),
        ),
        b'c' => first_name!(rest;
            b"completion_tokens\"" => Some(1),
            b"completion_tokens_details\"" => Some(11),
            b"cache_read_input_tokens\"" => Some(4),
            b"cache_creation_input_tokens\"" => Some(5),
            b"candidatesTokenCount\"" => Some(7),
            b"cachedContentTokenCount\"" => Some(9),
        ),
        b'i' => first_name!(rest;
            b"input_tokens\"" => Some(2),
            b"input_tokens_details\"" => Some(12),
        ),
        b'o' => first_name!(rest;
            b"output_tokens\"" => Some(3),
            b"output_tokens_details\"" => Some(13),
        ),
        b't' => first_name!(rest;
            b"total_tokens\"" => None,
            b"thoughtsTokenCount\"" => Some(8),
            b"totalTokenCount\"" => None,
        ),
        _ => None,
    }
}

/// A details object's names: 0 cached, 1 reasoning.
fn details_name(rest: &[u8]) -> Option<Name> {
    match rest.first()? {
        b'c' => first_name!(rest; b"cached_tokens\"" => Some(0)),
        b'r' => first_name!(rest; b"reasoning_tokens\"" => Some(1)),
        b'a' => first_name!(rest; b"audio_tokens\"" => None),
        _ => None,
    }
}

impl UsageCounts {
    /// The usage object `bytes` start with, when it has the common shape.
    pub(super) fn scan(bytes: &[u8]) -> Option<Self> {
        let mut counts = Self::default();
        let mut cursor = Cursor { bytes, at: 0 };
        cursor.object(usage_name, |cursor, index| {
            let count = match index {
                0 => &mut counts.prompt_tokens,
                1 => &mut counts.completion_tokens,
                2 => &mut counts.input_tokens,
                3 => &mut counts.output_tokens,
                4 => &mut counts.cache_read_input_tokens,
                5 => &mut counts.cache_creation_input_tokens,
                6 => &mut counts.prompt_token_count,
                7 => &mut counts.candidates_token_count,
                8 => &mut counts.thoughts_token_count,
                9 => &mut counts.cached_content_token_count,
                _ => {
                    let details = match index {
                        10 => &mut counts.prompt_tokens_details,
                        11 => &mut counts.completion_tokens_details,
                        12 => &mut counts.input_tokens_details,
                        _ => &mut counts.output_tokens_details,
                    };
                    *details = cursor.details()?;
                    return Some(());
                }
            };
            *count = cursor.count()?;
            Some(())
        })?;
        Some(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::super::UsageCounts;
    use domain::ApiFormat;
    use proptest::prelude::*;
    use serde_json::{json, Map, Value};

    const NAMES: [&str; 16] = [
        "prompt_tokens",
        "completion_tokens",
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "promptTokenCount",
        "candidatesTokenCount",
        "thoughtsTokenCount",
        "cachedContentTokenCount",
        "prompt_tokens_details",
        "completion_tokens_details",
        "input_tokens_details",
        "output_tokens_details",
        "total_tokens",
        "service_tier",
    ];

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            (0u64..100_000).prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            "[a-z\"\\\\ ]{0,6}".prop_map(Value::from),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("cached_tokens".to_owned()),
                        Just("reasoning_tokens".to_owned()),
                        "[a-z]{1,5}"
                    ],
                    inner,
                    0..3
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn usage_object() -> impl Strategy<Value = Value> {
        proptest::collection::vec((proptest::sample::select(NAMES.to_vec()), value()), 0..8)
            .prop_map(|fields| {
                let mut object = Map::new();
                for (name, value) in fields {
                    object.insert(name.to_owned(), value);
                }
                Value::Object(object)
            })
    }

    /// Objects of the common shape, with unknown fields of any kind.
    fn common_object() -> impl Strategy<Value = Value> {
        let count = prop_oneof![any::<u64>().prop_map(Value::from), Just(Value::Null)];
        let details = prop_oneof![
            Just(Value::Null),
            (count.clone(), count.clone(), value()).prop_map(
                |(c, r, other)| json!({"cached_tokens": c, "reasoning_tokens": r, "x": other})
            ),
        ];
        proptest::collection::vec((0..NAMES.len(), count, details, value()), 0..8).prop_map(
            |fields| {
                let mut object = Map::new();
                for (index, count, details, other) in fields {
                    let value = match index {
                        0..=9 => count,
                        10..=13 => details,
                        _ => other,
                    };
                    object.insert(NAMES[index].to_owned(), value);
                }
                Value::Object(object)
            },
        )
    }

    fn by_serde(bytes: &[u8]) -> UsageCounts {
        UsageCounts::parse(bytes).unwrap_or_default()
    }

    fn render(object: &Value, pretty: bool) -> String {
        if pretty {
            serde_json::to_string_pretty(object).unwrap()
        } else {
            object.to_string()
        }
    }

    const FORMATS: [ApiFormat; 4] = [
        ApiFormat::OpenaiCompatible,
        ApiFormat::OpenaiResponses,
        ApiFormat::AnthropicNative,
        ApiFormat::GeminiNative,
    ];

    proptest! {
        #[test]
        fn the_scan_reads_what_serde_reads(object in usage_object(), pretty in any::<bool>()) {
            let text = render(&object, pretty);
            if let Some(scanned) = UsageCounts::scan(text.as_bytes()) {
                let parsed = by_serde(text.as_bytes());
                for format in FORMATS {
                    prop_assert_eq!(scanned.usage(format), parsed.usage(format), "{} as {:?}", text, format);
                }
            }
        }
    }

    proptest! {
        #[test]
        fn common_shapes_are_scanned_alike(object in common_object(), pretty in any::<bool>()) {
            let text = render(&object, pretty);
            let scanned = UsageCounts::scan(text.as_bytes());
            prop_assert!(scanned.is_some(), "{}", text);
            let parsed = by_serde(text.as_bytes());
            for format in FORMATS {
                prop_assert_eq!(scanned.as_ref().map(|s| s.usage(format)), Some(parsed.usage(format)));
            }
        }
    }

    #[test]
    fn the_common_shapes_are_scanned_and_odd_ones_left_to_serde() {
        let common = [
            json!({"completion_tokens": 5, "prompt_tokens": 5, "total_tokens": 10,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": null}),
            json!({"input_tokens": 7, "output_tokens": 3, "cache_read_input_tokens": 2,
                "cache_creation_input_tokens": null, "cache_creation": {"ephemeral_5m_input_tokens": 5},
                "service_tier": "standard"}),
            json!({"promptTokenCount": 4, "candidatesTokenCount": 6,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 4}]}),
        ];
        for object in common {
            let text = object.to_string();
            let scanned = UsageCounts::scan(text.as_bytes());
            assert!(scanned.is_some(), "{text}");
        }
        for odd in [
            r#"{"prompt_tokens": 1.0}"#,
            r#"{"prompt_tokens": "1"}"#,
            r#"{"prompt_tokens": 1, "prompt_tokens": 2}"#,
            r#"{"prompt_tokens": 99999999999999999999}"#,
            r#"{"prompt_tokens": 1"#,
            r#"{"prompt\u005ftokens": 1}"#,
        ] {
            assert!(UsageCounts::scan(odd.as_bytes()).is_none(), "{odd}");
        }
    }
}

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

    fn key(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let rest = self.bytes.get(self.at..)?;
        // `rest` runs to the end of the object, so memchr's first 32-byte
        // compare holds the key's end: fewer instructions than eight bytes
        // a step over a 12–27-byte key.
        let len = memchr::memchr2(b'"', b'\\', rest)?;
        if rest[len] != b'"' {
            return None;
        }
        self.at += len + 1;
        Some(&rest[..len])
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

    /// Walks an object, handing each key to `field` with the cursor on its
    /// value; `field` answers which of up to 64 fields it was (repeats give
    /// `None`: serde refuses them).
    fn object(
        &mut self,
        mut field: impl FnMut(&mut Self, &[u8]) -> Option<Option<u32>>,
    ) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        let mut seen = 0u64;
        loop {
            let key = self.key()?;
            self.eat(b':')?;
            if let Some(index) = field(self, key)? {
                let bit = 1u64 << index;
                if seen & bit != 0 {
                    return None;
                }
                seen |= bit;
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
        self.object(|cursor, key| {
            let (index, count) = match key {
                b"cached_tokens" => (0, &mut details.cached_tokens),
                b"reasoning_tokens" => (1, &mut details.reasoning_tokens),
                _ => return cursor.skip().map(|()| None),
            };
            *count = cursor.count()?;
            Some(Some(index))
        })?;
        Some(Lenient(details))
    }
}

/// Where a known field's value goes.
enum Slot<'c> {
    Count(&'c mut Count),
    Details(&'c mut Lenient<Details>),
}

impl UsageCounts {
    /// The usage object `bytes` start with, when it has the common shape.
    pub(super) fn scan(bytes: &[u8]) -> Option<Self> {
        let mut counts = Self::default();
        let mut cursor = Cursor { bytes, at: 0 };
        cursor.object(|cursor, key| {
            let (index, slot) = match key {
                b"prompt_tokens" => (0, Slot::Count(&mut counts.prompt_tokens)),
                b"completion_tokens" => (1, Slot::Count(&mut counts.completion_tokens)),
                b"input_tokens" => (2, Slot::Count(&mut counts.input_tokens)),
                b"output_tokens" => (3, Slot::Count(&mut counts.output_tokens)),
                b"cache_read_input_tokens" => (4, Slot::Count(&mut counts.cache_read_input_tokens)),
                b"cache_creation_input_tokens" => {
                    (5, Slot::Count(&mut counts.cache_creation_input_tokens))
                }
                b"promptTokenCount" => (6, Slot::Count(&mut counts.prompt_token_count)),
                b"candidatesTokenCount" => (7, Slot::Count(&mut counts.candidates_token_count)),
                b"thoughtsTokenCount" => (8, Slot::Count(&mut counts.thoughts_token_count)),
                b"cachedContentTokenCount" => {
                    (9, Slot::Count(&mut counts.cached_content_token_count))
                }
                b"prompt_tokens_details" => (10, Slot::Details(&mut counts.prompt_tokens_details)),
                b"completion_tokens_details" => {
                    (11, Slot::Details(&mut counts.completion_tokens_details))
                }
                b"input_tokens_details" => (12, Slot::Details(&mut counts.input_tokens_details)),
                b"output_tokens_details" => (13, Slot::Details(&mut counts.output_tokens_details)),
                _ => return cursor.skip().map(|()| None),
            };
            match slot {
                Slot::Count(count) => *count = cursor.count()?,
                Slot::Details(details) => *details = cursor.details()?,
            }
            Some(Some(index))
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

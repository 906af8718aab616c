//! Finding a key's value in JSON bytes without parsing them: what the proxy
//! reads from every answer (usage, model) and some requests (`stream`).
//!
//! A key is its quoted name followed by a colon. Inside JSON strings quotes
//! are escaped, so text can never look like a key. The searcher for each
//! quoted name is built once, not per call.

use memchr::memmem::Finder;
use std::sync::LazyLock;

/// A key to look for, with its searcher.
pub struct JsonKey {
    name: &'static str,
    forward: Finder<'static>,
    /// The quoted name.
    quoted: Box<[u8]>,
    /// Where in `quoted` its rarest byte is, the one a search from the end
    /// looks for.
    anchor: usize,
}

/// Bytes from the most to the least common in JSON answers: punctuation,
/// digits, then lowercase letters as often as English has them. Any other
/// byte (capitals, say) is rarer than all of them.
const COMMON_FIRST: &[u8] = b"\" :,{}0123456789_etaoinsrhldcumfpgwybvkxjqz";

/// Index of the byte of `quoted` a search from the end stops at least often.
fn rarest_byte(quoted: &[u8]) -> usize {
    let rank = |b: &u8| {
        COMMON_FIRST
            .iter()
            .position(|c| c == b)
            .unwrap_or(usize::MAX)
    };
    (0..quoted.len())
        .max_by_key(|&i| rank(&quoted[i]))
        .unwrap_or(0)
}

impl JsonKey {
    /// A key named `name`.
    #[must_use]
    pub fn new(name: &'static str) -> Self {
        let quoted = format!("\"{name}\"").into_bytes().into_boxed_slice();
        Self {
            name,
            forward: Finder::new(&quoted).into_owned(),
            anchor: rarest_byte(&quoted),
            quoted,
        }
    }

    /// The key's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn quoted_len(&self) -> usize {
        self.quoted.len()
    }
}

macro_rules! keys {
    ($($(#[$doc:meta])* $static:ident = $name:literal;)*) => {
        $($(#[$doc])* pub static $static: LazyLock<JsonKey> = LazyLock::new(|| JsonKey::new($name));)*
    };
}

keys! {
    /// OpenAI's and Anthropic's usage object.
    USAGE = "usage";
    /// Gemini's usage object.
    USAGE_METADATA = "usageMetadata";
    /// The model most answers name.
    MODEL = "model";
    /// The model Gemini answers name.
    MODEL_VERSION = "modelVersion";
    /// A request's `stream` flag.
    STREAM = "stream";
    /// OpenAI Chat's choices.
    CHOICES = "choices";
}

/// [`MODEL`]'s name in quotes, as a constant: a compare with it at a known
/// place is a few word compares, where the key's own (built at start) takes
/// a `memcmp` call. A test holds the two equal.
pub(crate) const MODEL_QUOTED: &[u8] = b"\"model\"";

/// Where the value of the first `key` at or after `from` starts.
pub(crate) fn value_start(bytes: &[u8], key: &JsonKey, from: usize) -> Option<usize> {
    key_and_value_start(bytes, key, from).map(|(_, value)| value)
}

/// Where the first `key` at or after `from` is (its opening quote), and
/// where its value starts.
pub(crate) fn key_and_value_start(
    bytes: &[u8],
    key: &JsonKey,
    from: usize,
) -> Option<(usize, usize)> {
    let mut at = from;
    loop {
        let quote = at + key.forward.find(bytes.get(at..)?)?;
        let after = quote + key.quoted_len();
        if let Some(value) = value_after_colon(bytes, after) {
            return Some((quote, value));
        }
        at = quote + 1;
    }
}

/// Where the value starts of the key `quoted` (its name in quotes, a
/// constant: the compare is a few word compares) whose opening quote is at
/// `at`, when there is one there.
pub(crate) fn value_of_key_at(bytes: &[u8], quoted: &[u8], at: usize) -> Option<usize> {
    if !bytes.get(at..)?.starts_with(quoted) {
        return None;
    }
    value_after_colon(bytes, at + quoted.len())
}

/// Bytes at the end of an answer searched backwards, before the whole
/// answer is searched forwards.
const NEAR_THE_END: usize = 1024;

/// Where the object that is the value of the last `key` in `bytes` starts
/// (every format puts its usage last). The last [`NEAR_THE_END`] bytes are
/// searched from the end for the key's rarest byte, which stops at the key
/// after a few others at most (OpenAI's answers: the `g`s of
/// `system_fingerprint` and `reasoning_tokens`): a search forwards had to go
/// through the whole answer (and memchr's set-up of a vectorised search
/// costs more than the few bytes after the usage key take backwards). When
/// they hold none, the whole is searched forwards, which is vectorised and
/// keeps the last match (a match near the end would have been found: none
/// lies after). One difference from a search forwards alone, in bytes that
/// are no JSON: of two matches sharing a quote (`"usage"usage":{`) the
/// second counts here, where memmem's non-overlapping matches skip it.
pub(crate) fn last_object_start(bytes: &[u8], key: &JsonKey) -> Option<usize> {
    let near_the_end = bytes.len().saturating_sub(NEAR_THE_END);
    let rarest = key.quoted[key.anchor];
    let mut end = bytes.len();
    while let Some(found) = memchr::memrchr(rarest, &bytes[near_the_end..end]) {
        end = near_the_end + found;
        let Some(quote) = end.checked_sub(key.anchor) else {
            break;
        };
        if bytes[quote..].starts_with(&key.quoted) {
            let value = value_after_colon(bytes, quote + key.quoted_len());
            if let Some(at) = value.filter(|&at| bytes.get(at) == Some(&b'{')) {
                return Some(at);
            }
        }
    }
    if near_the_end == 0 {
        return None;
    }
    last_object_start_forwards(bytes, key)
}

/// [`last_object_start`] by a search forwards through the whole of `bytes`.
fn last_object_start_forwards(bytes: &[u8], key: &JsonKey) -> Option<usize> {
    key.forward
        .find_iter(bytes)
        .filter_map(|quote| value_after_colon(bytes, quote + key.quoted_len()))
        .filter(|&at| bytes.get(at) == Some(&b'{'))
        .last()
}

/// Whether every `key` in `bytes` has `null` for its value (also when there
/// is none). Anything else, even a key whose value cannot be told here, is
/// `false`: callers read those bytes the slow way.
///
/// A line break between the key and its value is `false` too: in a stream's
/// raw bytes it may end an SSE line, and the value the event's data holds
/// then comes from a later `data:` line.
pub(crate) fn only_null_values(bytes: &[u8], key: &JsonKey) -> bool {
    key.forward.find_iter(bytes).all(|quote| {
        let after = quote + key.quoted_len();
        value_after_colon(bytes, after).is_some_and(|at| {
            bytes[at..].starts_with(b"null")
                && memchr::memchr2(b'\n', b'\r', &bytes[after..at]).is_none()
        })
    })
}

/// After a quoted name ending before `at`: where the value starts, when a
/// colon follows (otherwise the name was a string value, not a key).
fn value_after_colon(bytes: &[u8], at: usize) -> Option<usize> {
    let mut i = at;
    while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    if bytes.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    Some(i)
}

/// Where the first `"` or `\\` in `bytes` is. Keys and names are short, so memchr's
/// set-up costs more than it saves; eight bytes a step (SWAR) take a third
/// of a byte-by-byte loop's instructions.
pub(crate) fn quote_or_escape(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    // High bit set in the lowest byte of `x` that is zero (bytes above it may
    // be marked falsely, from the borrow, which the lowest match ignores).
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let word = u64::from_le_bytes([
            word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
        ]);
        let found = zero_bytes(word ^ (ONES * u64::from(b'"')))
            | zero_bytes(word ^ (ONES * u64::from(b'\\')));
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let rest = words.remainder();
    rest.iter()
        .position(|&b| b == b'"' || b == b'\\')
        .map(|i| at + i)
}

/// The text of a JSON string's contents (between its quotes) when they need
/// no decoding: no escapes, no control characters, UTF-8 — model names, in
/// practice. `None` otherwise, for serde to read.
#[must_use]
pub fn unescaped(inside: &[u8]) -> Option<&str> {
    if inside.iter().any(|&b| b < 0x20 || b == b'\\') {
        return None;
    }
    std::str::from_utf8(inside).ok()
}

/// Index of the quote closing the string that opens at `start`.
pub(crate) fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate().skip(start + 1) {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return Some(i),
            _ => {}
        }
    }
    None
}

/// Index of the brace (or bracket) closing the object (or array) that opens at `start`.
pub(crate) fn object_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => i = string_end(bytes, i)?,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Whether a JSON object has `key: true` (a byte scan, no parse).
#[must_use]
pub fn field_is_true(bytes: &[u8], key: &JsonKey) -> bool {
    let mut from = 0;
    while let Some(at) = value_start(bytes, key, from) {
        if bytes[at..].starts_with(b"true") {
            return true;
        }
        from = at;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_key_spelled_as_a_constant_is_the_key() {
        assert_eq!(&*MODEL.quoted, MODEL_QUOTED);
    }

    proptest::proptest! {
        /// The eight-bytes-a-step search finds what a byte loop finds, at
        /// any offset, with quotes, backslashes and bytes that differ from
        /// them by one bit (or borrow into them) around.
        #[test]
        fn quote_or_escape_finds_the_first_as_a_byte_loop_does(
            bytes in proptest::collection::vec(
                proptest::sample::select(vec![b'"', b'\\', b'!', b'#', b'[', b']', b'a', 0u8, 0x80, 0xA2, 0xDC, 0x21, 0x23]),
                0..40,
            ),
        ) {
            let expected = bytes.iter().position(|&b| b == b'"' || b == b'\\');
            proptest::prop_assert_eq!(quote_or_escape(&bytes), expected);
        }
    }

    proptest::proptest! {
        /// The search from the end finds the object a search forwards for
        /// the last match finds, near the end of long answers or far from
        /// it, with the rarest byte of the key scattered around.
        #[test]
        fn the_last_object_is_found_from_the_end_as_forwards(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "\"usage\"", "\"usageMetadata\"", ":", " ", "{", "}", "null", "\"", "g", "M", "\\",
                    "\"text\":\"aggregating\"", &*LONG,
                ]),
                0..40,
            ),
        ) {
            let bytes = parts.concat().into_bytes();
            for key in [&*USAGE, &*USAGE_METADATA] {
                proptest::prop_assert_eq!(
                    last_object_start(&bytes, key),
                    last_object_start_forwards(&bytes, key),
                    "{}", String::from_utf8_lossy(&bytes)
                );
            }
        }
    }

    /// Filler that takes a key past the bytes searched from the end.
    static LONG: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| "x".repeat(700));

    #[test]
    fn the_search_from_the_end_looks_for_the_rarest_byte() {
        assert_eq!(USAGE.quoted[USAGE.anchor], b'g');
        assert_eq!(USAGE_METADATA.quoted[USAGE_METADATA.anchor], b'M');
    }

    #[test]
    fn keys_are_quoted_names_followed_by_a_colon() {
        let json = br#"{"xmodel":"a","note":"model","model" :  "m","model2":1}"#;
        let at = value_start(json, &MODEL, 0);
        assert_eq!(at.map(|i| &json[i..i + 3]), Some(&br#""m""#[..]));
        assert_eq!(
            value_start(br#"model":1"#, &MODEL, 0),
            None,
            "no opening quote"
        );
        assert_eq!(value_start(br#"{"model""#, &MODEL, 0), None, "no colon");
        assert_eq!(value_start(b"{}", &MODEL, 5), None, "start past the end");
    }

    #[test]
    fn the_last_usage_object_is_found_from_the_end() {
        let json = br#"{"usage":{"n":1},"text":"\"usage\":{\"n\":3}","more":{"usage" : {"n":{"m":2}}},"end":{"usage":null},"usage"}"#;
        let start = last_object_start(json, &USAGE).unwrap();
        assert!(json[start..].starts_with(br#"{"n":{"m":2}}"#));
        assert_eq!(last_object_start(br#"{"usage":7}"#, &USAGE), None);
        assert_eq!(
            last_object_start(br#""usage":{}"#, &USAGE),
            Some(8),
            "a key at the very start"
        );
        assert_eq!(
            last_object_start(br#""usage"usage":{}"#, &USAGE),
            Some(14),
            "of two matches sharing a quote, the second (no JSON has them)"
        );
        assert_eq!(last_object_start(b"", &USAGE), None);
        assert_eq!(last_object_start(b"g", &USAGE), None);
    }

    #[test]
    fn a_key_whose_rarest_byte_is_just_inside_or_outside_the_end_is_found() {
        // `g` is the key's fifth byte: the key starts four bytes before it.
        for g_from_the_end in [NEAR_THE_END - 1, NEAR_THE_END, NEAR_THE_END + 1] {
            // What follows the `g`: 20 bytes and the padding.
            let tail = format!(
                r#"e":{{"n":1}},"pad":"{}"}}"#,
                "x".repeat(g_from_the_end - 21)
            );
            let json = format!(
                r#"{{"text":"{}","usag{}"#,
                "x".repeat(2 * NEAR_THE_END),
                tail
            );
            let g = json.len() - g_from_the_end;
            assert_eq!(json.as_bytes()[g], b'g', "{g_from_the_end}");
            let start = last_object_start(json.as_bytes(), &USAGE);
            assert_eq!(start, Some(g + 4), "{g_from_the_end}");
        }
    }

    #[test]
    fn in_a_long_answer_the_last_usage_object_is_found_near_the_end_or_before_it() {
        let text = "x".repeat(3 * NEAR_THE_END);
        let answer = |before: &str, after: &str| format!(r#"{{{before}"text":"{text}"{after}}}"#);
        for (json, expected) in [
            // Near the end, with an earlier one.
            (
                answer(r#""usage":{"n":1},"#, r#","usage":{"n":2}"#),
                r#"{"n":2}"#,
            ),
            // Only far from the end, and near the end only a null one.
            (
                answer(r#""usage":{"n":1},"#, r#","usage":null"#),
                r#"{"n":1}"#,
            ),
            // Straddling where the search near the end starts.
            (
                format!(
                    r#"{{"text":"{}","usage":{{"n":3}},"pad":"{}"}}"#,
                    "x".repeat(4 * NEAR_THE_END),
                    "y".repeat(NEAR_THE_END - 24)
                ),
                r#"{"n":3}"#,
            ),
        ] {
            let start = last_object_start(json.as_bytes(), &USAGE).unwrap();
            assert!(json[start..].starts_with(expected), "{expected}");
        }
        assert_eq!(last_object_start(answer("", "").as_bytes(), &USAGE), None);
    }

    #[test]
    fn only_contents_needing_no_decoding_are_taken_as_they_are() {
        assert_eq!(unescaped("gpt-4o é".as_bytes()), Some("gpt-4o é"));
        assert_eq!(unescaped(b""), Some(""));
        for needs_decoding in [&b"a\\b"[..], b"\\u00e9", b"a\tb", b"\xff"] {
            assert_eq!(unescaped(needs_decoding), None, "{needs_decoding:?}");
        }
    }

    #[test]
    fn true_fields_are_found_without_parsing() {
        assert!(field_is_true(br#"{"model":"m","stream" : true}"#, &STREAM));
        assert!(!field_is_true(
            br#"{"model":"stream","stream":false}"#,
            &STREAM
        ));
        assert!(!field_is_true(
            br#"{"messages":[{"content":"\"stream\": true"}]}"#,
            &STREAM
        ));
    }
}

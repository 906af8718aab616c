//! The members at the top level of a JSON object, found by a walk that steps
//! over values without parsing them: what the proxy reads from a streamed
//! request (`model`, `stream`, `stream_options`). serde, even skipping the
//! messages, spends tens of instructions a byte, and requests carry whole
//! conversations; the walk spends most of its time in `memchr2` over string
//! contents.
//!
//! The walk checks structure — closed strings, balanced brackets, colons and
//! commas where the top level needs them — not everything JSON requires of
//! the values it steps over (number syntax, control characters, UTF-8).
//! Callers use what it finds only when it is plain and read anything else
//! with serde.

use crate::json_keys::quote_or_escape;

/// Bytes of a string searched eight at a time before `memchr2` takes over.
const SHORT: usize = 32;

/// A position in the bytes being walked.
struct Walk<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Walk<'_> {
    fn peek(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.at) {
            self.at += 1;
        }
        self.bytes.get(self.at).copied()
    }

    /// From an opening quote to past the closing one; whether the string
    /// held an escape.
    fn string(&mut self) -> Option<bool> {
        let mut escaped = false;
        let mut at = self.at + 1;
        loop {
            let rest = self.bytes.get(at..)?;
            // Keys and names end within a few words, where SWAR has no
            // set-up to pay; memchr2 for what is longer (message texts).
            let (head, tail) = rest.split_at(rest.len().min(SHORT));
            let offset = match quote_or_escape(head) {
                Some(offset) => offset,
                None => SHORT + memchr::memchr2(b'"', b'\\', tail)?,
            };
            let found = at + offset;
            if self.bytes[found] == b'"' {
                self.at = found + 1;
                return Some(escaped);
            }
            escaped = true;
            at = found + 2;
        }
    }

    /// Past one value of any kind.
    fn value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' | b'[' => self.nested(),
            _ => {
                let start = self.at;
                while let Some(b) = self.bytes.get(self.at) {
                    if matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                        break;
                    }
                    self.at += 1;
                }
                (self.at > start).then_some(())
            }
        }
    }

    /// Past an object or array, counting brackets outside strings.
    fn nested(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match *self.bytes.get(self.at)? {
                b'"' => {
                    self.string()?;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        self.at += 1;
                        return Some(());
                    }
                }
                _ => {}
            }
            self.at += 1;
        }
    }
}

/// The raw values (the value's bytes, without the whitespace around them) of
/// `names` at the top level of the object `bytes` holds. `None` when the
/// bytes are not one object as the walk reads it, when a key has an escape
/// (it might spell one of `names`), or when one of `names` is repeated
/// (serde refuses a repeated field; a caller falls back to it).
#[must_use]
pub fn top_level_values<'a, const N: usize>(
    bytes: &'a [u8],
    names: [&str; N],
) -> Option<[Option<&'a [u8]>; N]> {
    let mut found = [None; N];
    let mut walk = Walk { bytes, at: 0 };
    if walk.peek()? != b'{' {
        return None;
    }
    walk.at += 1;
    if walk.peek()? == b'}' {
        walk.at += 1;
    } else {
        loop {
            if walk.peek()? != b'"' {
                return None;
            }
            let key_start = walk.at + 1;
            if walk.string()? {
                return None;
            }
            let key = &bytes[key_start..walk.at - 1];
            if walk.peek()? != b':' {
                return None;
            }
            walk.at += 1;
            walk.peek()?;
            let value_start = walk.at;
            walk.value()?;
            if let Some(i) = names.iter().position(|name| name.as_bytes() == key) {
                if found[i].is_some() {
                    return None;
                }
                found[i] = Some(&bytes[value_start..walk.at]);
            }
            match walk.peek()? {
                b',' => walk.at += 1,
                b'}' => {
                    walk.at += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    walk.peek().is_none().then_some(found)
}

#[cfg(test)]
mod tests {
    use super::top_level_values;

    const NAMES: [&str; 3] = ["model", "stream", "stream_options"];

    fn values(json: &str) -> Option<[Option<&str>; 3]> {
        let found = top_level_values(json.as_bytes(), NAMES)?;
        Some(found.map(|v| v.map(|b| std::str::from_utf8(b).unwrap_or("<bytes>"))))
    }

    #[test]
    fn top_level_members_are_found_and_nested_ones_are_not() {
        let json = r#" { "messages" : [{"role":"user","content":"\"stream\": false, {[\\\"}", "stream": true}],
            "metadata": {"model": "nested"}, "model" : "gpt-4o" ,"n":1.5e3,"stream":true } "#;
        assert_eq!(
            values(json),
            Some([Some(r#""gpt-4o""#), Some("true"), None])
        );
        assert_eq!(values("{}"), Some([None, None, None]));
        assert_eq!(
            values(r#"{"stream_options":{"include_usage":true},"stream":null}"#),
            Some([None, Some("null"), Some(r#"{"include_usage":true}"#)])
        );
    }

    proptest::proptest! {
        /// Strings of any length, escapes anywhere (across the switch from
        /// eight bytes a step to memchr2 too), are stepped over whole.
        #[test]
        fn strings_are_stepped_over_whole(
            text in proptest::collection::vec(proptest::sample::select(vec!['a', '"', '\\', 'é', '\n', '}']), 0..90),
        ) {
            let text: String = text.into_iter().collect();
            let quoted = serde_json::to_string(&text).unwrap_or_default();
            let json = format!(r#"{{"a":{quoted},"model":[{quoted}],"stream":true}}"#);
            let found = top_level_values(json.as_bytes(), ["a", "stream"]);
            proptest::prop_assert_eq!(found, Some([Some(quoted.as_bytes()), Some(&b"true"[..])]));
        }
    }

    #[test]
    fn what_the_walk_cannot_vouch_for_is_none() {
        for json in [
            r#"{"stream":true,"stream":false}"#,
            r#"{"str\u0065am":true}"#,
            r#"{"stream":true"#,
            r#"{"stream":true}{}"#,
            r#"{"stream" true}"#,
            r#"{"a":[1,2}"#,
            r#"{"a":"open}"#,
            r#"{"a":}"#,
            r#"{"a":1,}"#,
            r#"["stream",true]"#,
            "",
            "stream",
        ] {
            assert_eq!(values(json), None, "{json}");
        }
    }
}

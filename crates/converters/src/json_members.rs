//! The members at the top level of a JSON object, found by a walk that steps
//! over values without parsing them: what the proxy reads from a streamed
//! request (`model`, `stream`, `stream_options`). serde, even skipping the
//! messages, spends tens of instructions a byte, and requests carry whole
//! conversations; the walk spends most of its time in `memchr2` over string
//! contents.
//!
//! The walk checks the structure — closed strings with JSON's escapes,
//! brackets closed by their kind, colons and commas, literals and numbers —
//! but not what is inside strings: a raw control character or bytes that
//! are not UTF-8 there pass, where serde would refuse the document. Callers
//! use what it finds only when it is plain and read anything else with
//! serde; the one difference left is such a document, which its upstream
//! refuses either way.

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
            // Only JSON's escapes (a `\u` is followed by its digits, which
            // the search steps over as text).
            if !matches!(
                self.bytes.get(found + 1)?,
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' | b'u'
            ) {
                return None;
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
            _ => self.scalar(),
        }
    }

    /// Past `true`, `false`, `null` or a number.
    fn scalar(&mut self) -> Option<()> {
        let start = self.at;
        while let Some(b) = self.bytes.get(self.at) {
            if matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                break;
            }
            self.at += 1;
        }
        let token = &self.bytes[start..self.at];
        (matches!(token, b"true" | b"false" | b"null") || is_number(token)).then_some(())
    }

    /// Past an object or array: strings stepped over, each closing bracket
    /// matched with its opening one (up to 64 levels deep, which requests
    /// do not reach; deeper is left to serde).
    fn nested(&mut self) -> Option<()> {
        // One bit a level: set for an object, clear for an array.
        let mut objects = 0u64;
        let mut depth = 0u32;
        loop {
            match *self.bytes.get(self.at)? {
                b'"' => {
                    self.string()?;
                    continue;
                }
                open @ (b'{' | b'[') => {
                    if depth == 64 {
                        return None;
                    }
                    objects = (objects << 1) | u64::from(open == b'{');
                    depth += 1;
                }
                close @ (b'}' | b']') => {
                    if depth == 0 || (objects & 1 == 1) != (close == b'}') {
                        return None;
                    }
                    objects >>= 1;
                    depth -= 1;
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

/// Whether `token` is a JSON number: `-`? int (`.` digits)? (`e` sign? digits)?
fn is_number(token: &[u8]) -> bool {
    let digits = |bytes: &[u8]| bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let mut at = usize::from(token.first() == Some(&b'-'));
    let int = digits(&token[at..]);
    if int == 0 || (int > 1 && token[at] == b'0') {
        return false;
    }
    at += int;
    if token.get(at) == Some(&b'.') {
        let fraction = digits(&token[at + 1..]);
        if fraction == 0 {
            return false;
        }
        at += 1 + fraction;
    }
    if matches!(token.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(token.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let exponent = digits(&token[at..]);
        if exponent == 0 {
            return false;
        }
        at += exponent;
    }
    at == token.len()
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
            values(r#"{"n":[-0,1.5,2E-3,-12e+7,true,false,null,{"a":[{}]}],"model":"\u00e9\/\b"}"#),
            Some([Some(r#""\u00e9\/\b""#), None, None]),
            "every literal, number and escape JSON has"
        );
        let deep = format!(
            r#"{{"a":{}{},"stream":true}}"#,
            "[".repeat(64),
            "]".repeat(64)
        );
        assert_eq!(values(&deep), Some([None, Some("true"), None]));
        let deeper = format!(r#"{{"a":{}{}}}"#, "[".repeat(65), "]".repeat(65));
        assert_eq!(values(&deeper), None, "left to serde");
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
            r#"{"stream":true,"messages":[}"#,
            r#"{"stream":true,"messages":{]}"#,
            r#"{"stream":true,"x":tru}"#,
            r#"{"stream":true,"x":01}"#,
            r#"{"stream":true,"x":1.}"#,
            r#"{"stream":true,"x":-}"#,
            r#"{"stream":true,"x":1e+}"#,
            r#"{"stream":true,"x":"\q"}"#,
            r#"["stream",true]"#,
            "",
            "stream",
        ] {
            assert_eq!(values(json), None, "{json}");
        }
    }
}

//! The model an upstream answer names, read from its bytes.
//!
//! One upstream writes its JSON answers alike: the model sits at the same
//! place in each (OpenAI's after an id, an object type and a timestamp of
//! fixed lengths; Anthropic's after an id and two fixed fields). So a JSON
//! answer is first looked at where the last one read on this thread named
//! its model, and only searched when that place holds no `"model"` key with
//! the same name: a compare of a few bytes instead of a search, a UTF-8
//! check, the name's decoding and an allocation — ≈ 500 instructions a
//! request (docs/benchmarks.md). The two readings differ only for an answer
//! that holds another `"model"` key before that place (the search takes the
//! first; the answers of the four formats name their model once).

use crate::json_keys::{
    key_and_value_start, string_end, unescaped, value_of_key_at, value_start, MODEL, MODEL_QUOTED,
    MODEL_VERSION,
};
use std::cell::RefCell;
use std::sync::Arc;

/// Where a JSON answer named its model: the `"model"` key's opening quote,
/// and the name, written plainly (no escapes) in the answer.
struct ModelPlace {
    key: usize,
    name: Arc<str>,
}

impl ModelPlace {
    /// The name, when `head` holds a `"model"` key at the same place whose
    /// value is the same plain string.
    fn again_in(&self, head: &[u8]) -> Option<Arc<str>> {
        let value = value_of_key_at(head, MODEL_QUOTED, self.key)?;
        let quoted = head.get(value..)?.strip_prefix(b"\"")?;
        let after = quoted.strip_prefix(self.name.as_bytes())?;
        (after.first() == Some(&b'"')).then(|| Arc::clone(&self.name))
    }
}

thread_local! {
    /// Where the last JSON answer read on this thread named its model.
    static LAST_PLACE: RefCell<Option<ModelPlace>> = const { RefCell::new(None) };
}

/// The model a JSON answer's first bytes name: the value of its first
/// `"model"` string field (Gemini's `"modelVersion"` when there is none),
/// looked for first where the answer before it had it.
pub(crate) fn model_of_answer(head: &[u8]) -> Option<Arc<str>> {
    if let Some(name) = LAST_PLACE.with_borrow(|place| place.as_ref()?.again_in(head)) {
        return Some(name);
    }
    let (name, key) = search(head)?;
    if let Some(key) = key {
        let place = ModelPlace {
            key,
            name: Arc::clone(&name),
        };
        LAST_PLACE.with_borrow_mut(|last| *last = Some(place));
    }
    Some(name)
}

/// The value of the first `"model"` (or Gemini's `"modelVersion"`) string
/// field, searched for.
pub(crate) fn model_in(bytes: &[u8]) -> Option<Arc<str>> {
    search(bytes).map(|(name, _)| name)
}

/// The model `bytes` name, searched for, and where its `"model"` key's
/// quote is when the name is written plainly (a place worth remembering).
fn search(bytes: &[u8]) -> Option<(Arc<str>, Option<usize>)> {
    if let Some((key, value)) = key_and_value_start(bytes, &MODEL, 0) {
        if let Some((name, plain)) = string_at(bytes, value) {
            return Some((name, plain.then_some(key)));
        }
    }
    string_at(bytes, value_start(bytes, &MODEL_VERSION, 0)?).map(|(name, _)| (name, None))
}

/// The JSON string that starts at `at`, and whether it was written plainly
/// (no escapes).
fn string_at(bytes: &[u8], at: usize) -> Option<(Arc<str>, bool)> {
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    // A name's closing quote comes before any backslash: memchr finds it in
    // one vector compare, where a byte loop tracked escapes.
    let first = at + 1 + memchr::memchr2(b'"', b'\\', &bytes[at + 1..])?;
    if bytes[first] == b'"' {
        if let Some(name) = unescaped(&bytes[at + 1..first]) {
            return Some((Arc::from(name), true));
        }
    }
    let end = string_end(bytes, at)?;
    serde_json::from_slice::<String>(&bytes[at..=end])
        .ok()
        .map(|name| (Arc::from(name), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_are_read_as_json_strings() {
        assert_eq!(
            model_in(br#"{"model": "gpt-4o"}"#).as_deref(),
            Some("gpt-4o")
        );
        assert_eq!(
            model_in(br#"{"model":"a\"b\u00e9","modelVersion":"x"}"#).as_deref(),
            Some("a\"bé"),
            "escapes are decoded"
        );
        assert_eq!(
            model_in(b"{\"model\":\"a\tb\"}"),
            None,
            "a raw control character is not JSON"
        );
        assert_eq!(
            model_in(br#"{"modelVersion":"gemini-2.5"}"#).as_deref(),
            Some("gemini-2.5")
        );
    }

    /// Each answer's model as a search alone reads it, whatever the answer
    /// before it on the same thread.
    fn read_in_turn(answers: &[&str]) {
        for answer in answers {
            assert_eq!(
                model_of_answer(answer.as_bytes()),
                model_in(answer.as_bytes()),
                "{answer}"
            );
        }
    }

    /// What this thread remembers (tests may share a thread).
    fn remembered() -> Option<(usize, String)> {
        LAST_PLACE.with_borrow(|place| place.as_ref().map(|p| (p.key, p.name.to_string())))
    }

    #[test]
    fn an_answer_is_read_where_the_one_before_named_its_model() {
        LAST_PLACE.with_borrow_mut(|place| *place = None);
        let first = r#"{"id":"a1","model":"gpt-4o","x":1}"#;
        model_of_answer(first.as_bytes());
        assert_eq!(remembered(), Some((11, "gpt-4o".to_owned())));
        read_in_turn(&[
            r#"{"id":"b2","model":"gpt-4o","x":2}"#,
            // The same place, another name: one that starts as the last does,
            // one that it starts with, one quite different.
            r#"{"id":"c3","model":"gpt-4o-mini"}"#,
            r#"{"id":"c3","model":"gpt-4"}"#,
            r#"{"id":"d4","model":"o3"}"#,
            // The name elsewhere, or nothing where it was.
            r#"{"id":"a-longer-id","model":"gpt-4o"}"#,
            r#"{"id":"a1","mode1":"gpt-4o","model":"x"}"#,
            r#"{"id":"a1"}"#,
            // The place (19) holding the key's name as a value, not a key.
            r#"{"id":"e5","a":"x","model":"gpt-4o"}"#,
            r#"{"id":"e5","alias":"model","model":"gpt-4o"}"#,
            // Spaces around the colon, an escaped name, Gemini's field.
            r#"{"id":"a1","model" : "gpt-4o"}"#,
            r#"{"id":"a1","model":"gpt\u002d4o"}"#,
            r#"{"candidates":[],"modelVersion":"gemini-2.5"}"#,
            r#"{"id":"a1","model":"gpt-4o"#,
        ]);
    }

    #[test]
    fn the_remembered_place_is_read_before_any_search() {
        LAST_PLACE.with_borrow_mut(|place| *place = None);
        model_of_answer(br#"{"ab":"cd","model":"gpt-4o"}"#);
        // A first `model` key that is no string, then the same name at the
        // remembered place (11): a search finds no model, the place does.
        let answer = br#"{"model":0,"model":"gpt-4o"}"#;
        assert_eq!(model_in(answer), None);
        assert_eq!(model_of_answer(answer).as_deref(), Some("gpt-4o"));
    }

    #[test]
    fn an_escaped_name_is_not_remembered() {
        LAST_PLACE.with_borrow_mut(|place| *place = None);
        model_of_answer(br#"{"id":"a1","model":"gpt\u002d4o"}"#);
        assert_eq!(remembered(), None);
        read_in_turn(&[r#"{"id":"a1","model":"gpt-4o"}"#]);
    }
}

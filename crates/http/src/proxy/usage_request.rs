//! Asking the upstream of a streamed OpenAI Chat request for the usage chunk
//! the client did not ask for (SPEC §5.4), so streamed tokens are counted
//! exactly; the chunk is removed again on the way back (`usage_chunk`).

use actix_web::web::Bytes;
use converters::json_keys::{field_is_true, unescaped, STREAM};
use converters::json_members::top_level_values;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// What the gateway adds, first in the request's object.
const ASK_FOR_USAGE: &[u8] = br#""stream_options":{"include_usage":true},"#;

/// The fields that decide the rewrite, read without building the request's
/// JSON tree (its messages are skipped, not kept).
#[derive(Deserialize)]
struct StreamFields {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    stream_options: Option<Value>,
}

/// `Some` whenever the field is there, `null` included (serde's `Option`
/// reads a `null` as absent, and a `null` is not an absent field here).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// For a streamed OpenAI Chat request: the body asking for the usage chunk
/// when the client did not (`None` when unchanged), the model, and whether
/// the chunk was added on the client's behalf (so it is removed again).
pub(super) fn request_usage(body: &[u8]) -> (Option<Bytes>, Option<String>, bool) {
    // Most requests are not streamed: those are left unparsed.
    if !field_is_true(body, &STREAM) {
        return (None, None, false);
    }
    plain_request(body).unwrap_or_else(|| typed(body))
}

/// The usual streamed request — `"stream": true` at the top, no
/// `stream_options`, a model name without escapes (or none) — read by a
/// walk over its bytes instead of serde; `None` for anything else. One
/// difference: a document serde refuses only for what is inside a string (a
/// raw control character, bytes that are not UTF-8) gets the usage asked
/// for here, where serde's path forwarded it unchanged; its upstream refuses
/// it either way.
fn plain_request(body: &[u8]) -> Option<(Option<Bytes>, Option<String>, bool)> {
    let [model, stream, options] = top_level_values(body, ["model", "stream", "stream_options"])?;
    if stream != Some(b"true") || options.is_some() {
        return None;
    }
    let model = match model {
        Some(raw) => {
            let inside = raw.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
            Some(unescaped(inside)?.to_owned())
        }
        None => None,
    };
    Some((Some(with_usage_asked(body)), model, true))
}

/// Any streamed request, through serde.
fn typed(body: &[u8]) -> (Option<Bytes>, Option<String>, bool) {
    // A request that is not one plain object (duplicate fields, a `stream`
    // that is no boolean) is read whole, as before.
    let Some(fields) = body
        .trim_ascii_start()
        .starts_with(b"{")
        .then(|| serde_json::from_slice::<StreamFields>(body).ok())
        .flatten()
    else {
        return rewritten_whole(body);
    };
    let streamed = fields.stream == Some(true);
    match fields.stream_options {
        // The usual case: the field goes in front, the client's bytes stay
        // as they were (no parse and print of the whole request).
        None if streamed => (Some(with_usage_asked(body)), fields.model, true),
        Some(options) if streamed && options.get("include_usage") != Some(&Value::Bool(true)) => {
            rewritten_whole(body)
        }
        _ => (None, fields.model, false),
    }
}

/// `body`, an object that has fields, with the usage asked for first.
fn with_usage_asked(body: &[u8]) -> Bytes {
    let brace = body.iter().position(|&b| b == b'{').map_or(0, |at| at + 1);
    let mut out = Vec::with_capacity(body.len() + ASK_FOR_USAGE.len());
    out.extend_from_slice(&body[..brace]);
    out.extend_from_slice(ASK_FOR_USAGE);
    out.extend_from_slice(&body[brace..]);
    Bytes::from(out)
}

/// The rare shapes, through a whole JSON tree: `stream_options` given
/// without `include_usage`, or an object the typed read refused.
fn rewritten_whole(body: &[u8]) -> (Option<Bytes>, Option<String>, bool) {
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(body) else {
        return (None, None, false);
    };
    let model = object
        .get("model")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let streamed = object.get("stream") == Some(&Value::Bool(true));
    let asked = object
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        == Some(&Value::Bool(true));
    if !streamed || asked {
        return (None, model, false);
    }
    let options = object
        .entry("stream_options")
        .or_insert_with(|| serde_json::json!({}));
    let Value::Object(options) = options else {
        // A malformed stream_options is the upstream's to refuse.
        return (None, model, false);
    };
    options.insert("include_usage".to_owned(), Value::Bool(true));
    match serde_json::to_vec(&object) {
        Ok(rewritten) => (Some(Bytes::from(rewritten)), model, true),
        Err(_) => (None, model, false),
    }
}

#[cfg(test)]
mod tests {
    use super::{request_usage, typed};
    use converters::json_keys::{field_is_true, STREAM};
    use serde_json::{json, Value};

    /// Members a request may have, keys with the values to draw for them.
    const MEMBERS: [(&str, &[&str]); 8] = [
        (
            "model",
            &[
                r#""gpt-4o""#,
                r#""gpt\u002d4o""#,
                r#""é-model""#,
                "7",
                "null",
            ],
        ),
        ("stream", &["true", "false", r#""true""#, "null"]),
        ("stream", &["true"]),
        (
            "stream_options",
            &[r#"{"include_usage":true}"#, r#"{"x":1}"#, "null", "{}"],
        ),
        (
            "messages",
            &[
                r#"[{"role":"user","content":"\"stream\": true"}]"#,
                "[]",
                r#"[{"content":"{[\\\"}"}]"#,
            ],
        ),
        ("temperature", &["0.5", "1e3", "-2"]),
        (
            "metadata",
            &[r#"{"stream":true,"model":"x","stream_options":{}}"#],
        ),
        (r"str\u0065am", &["true", "false"]),
    ];

    proptest::proptest! {
        /// The byte walk gives what serde gives, for every shape it takes
        /// and every shape it leaves to serde.
        #[test]
        fn the_plain_path_answers_as_serde_does(
            members in proptest::collection::vec((0..MEMBERS.len(), 0usize..8, proptest::bool::ANY), 0..7),
        ) {
            let body = format!(
                "{{{}}}",
                members
                    .iter()
                    .map(|&(m, v, spaced)| {
                        let (key, values) = MEMBERS[m];
                        let value = values[v % values.len()];
                        if spaced { format!(" \"{key}\" :\n {value} ") } else { format!("\"{key}\":{value}") }
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let by_serde = if field_is_true(body.as_bytes(), &STREAM) {
                typed(body.as_bytes())
            } else {
                (None, None, false)
            };
            proptest::prop_assert_eq!(request_usage(body.as_bytes()), by_serde, "{}", body);
        }
    }

    /// The rewritten body as JSON (the original when unchanged), the model
    /// and whether the chunk was added.
    fn read(body: &str) -> (Value, Option<String>, bool) {
        let (rewritten, model, added) = request_usage(body.as_bytes());
        let sent = rewritten.map_or_else(|| body.as_bytes().to_vec(), |b| b.to_vec());
        let value = serde_json::from_slice(&sent).unwrap_or(Value::Null);
        (value, model, added)
    }

    #[test]
    fn a_streamed_request_gets_the_usage_asked_for_and_keeps_its_bytes() {
        let body = r#" {"model":"gpt-4o","messages":[{"role":"user","content":"\"stream\": false"}],"stream":true}"#;
        let (rewritten, model, added) = request_usage(body.as_bytes());
        assert_eq!((model.as_deref(), added), (Some("gpt-4o"), true));
        let rewritten = String::from_utf8(rewritten.unwrap().to_vec()).unwrap();
        assert_eq!(
            rewritten,
            format!(
                r#" {{"stream_options":{{"include_usage":true}},{}"#,
                &body[2..]
            ),
            "the client's bytes follow as they were"
        );
    }

    #[test]
    fn requests_that_need_nothing_are_left_alone() {
        for body in [
            r#"{"model":"m","stream":false,"messages":[]}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"{\"stream\":true}"}]}"#,
            r#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#,
            r#"{"model":"m","stream":"true"}"#,
            r#"{"model":"m","metadata":{"stream":true}}"#,
            r#"[{"stream":true}]"#,
            "not json",
        ] {
            let (rewritten, _, added) = request_usage(body.as_bytes());
            assert!(rewritten.is_none() && !added, "{body}");
        }
    }

    #[test]
    fn the_rare_shapes_are_rewritten_through_a_whole_tree() {
        let (sent, model, added) = read(r#"{"model":"m","stream":true,"stream_options":{"x":1}}"#);
        assert_eq!(
            (sent["stream_options"].clone(), model.as_deref(), added),
            (json!({"x": 1, "include_usage": true}), Some("m"), true)
        );
        let (sent, _, added) = read(r#"{"stream":false,"stream":true,"model":"m"}"#);
        assert_eq!(
            (sent["stream_options"]["include_usage"].clone(), added),
            (json!(true), true),
            "duplicate fields: the last counts, as serde_json's tree keeps it"
        );
        let (sent, _, added) = read(r#"{"stream":true,"stream_options":null}"#);
        assert_eq!(
            (sent["stream_options"].clone(), added),
            (Value::Null, false),
            "a null is malformed, not absent: the upstream's to refuse"
        );
    }
}

//! Golden tests: every (client, upstream) pair of the four formats, for
//! requests, responses, streams and errors, against reviewed files in
//! `tests/golden/`. Run with `UPDATE_GOLDEN=1` to rewrite them after an
//! intended change, then review the diff.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use converters::{Operation, Options};
use domain::llm::ClientFormat;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

const FORMATS: [(ClientFormat, &str); 4] = [
    (ClientFormat::Openai, "openai"),
    (ClientFormat::OpenaiResponses, "openai_responses"),
    (ClientFormat::Anthropic, "anthropic"),
    (ClientFormat::Gemini, "gemini"),
];

fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(name)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(dir("fixtures").join(name)).unwrap()
}

fn golden(name: &str, actual: &str) {
    let path = dir("golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} is missing; run with UPDATE_GOLDEN=1", path.display()));
    assert!(
        expected == actual,
        "{name} differs from its golden file (UPDATE_GOLDEN=1 rewrites it):\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

/// Timestamps the converters take from the clock are zeroed.
fn normalize(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if matches!(key.as_str(), "created" | "created_at") && v.is_number() {
                    *v = Value::from(0);
                } else {
                    normalize(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

fn pretty(mut value: Value) -> String {
    normalize(&mut value);
    serde_json::to_string_pretty(&value).unwrap() + "\n"
}

fn chat(format: ClientFormat, stream: bool) -> Operation {
    Operation::Chat {
        model: (format == ClientFormat::Gemini).then(|| "gemini-2.5-flash".to_owned()),
        stream,
    }
}

#[test]
fn requests_of_every_pair() {
    let model_map = BTreeMap::new();
    for (client, client_name) in FORMATS {
        let body = fixture(&format!("request_{client_name}.json"));
        for (upstream, upstream_name) in FORMATS {
            let prepared = converters::prepare_chat(
                client,
                upstream,
                &chat(client, false),
                &body,
                Options {
                    model_map: &model_map,
                    default_max_tokens: 4096,
                },
            )
            .unwrap_or_else(|e| panic!("{client_name} → {upstream_name}: {e}"));
            let sent: Value = serde_json::from_slice(&prepared.body).unwrap();
            golden(
                &format!("request_{client_name}__to__{upstream_name}.json"),
                &pretty(serde_json::json!({"path": prepared.path, "body": sent})),
            );
        }
    }
}

#[test]
fn responses_of_every_pair() {
    for (upstream, upstream_name) in FORMATS {
        let body = fixture(&format!("response_{upstream_name}.json"));
        let response = converters::parse_response(upstream, &body).unwrap();
        for (client, client_name) in FORMATS {
            golden(
                &format!("response_{upstream_name}__to__{client_name}.json"),
                &pretty(converters::render_response(client, &response)),
            );
        }
    }
}

/// Converts a whole upstream stream fed in chunks of `size` bytes (which
/// splits multi-byte characters and CRLF pairs), zeroing timestamps.
fn convert_stream(
    upstream: ClientFormat,
    client: ClientFormat,
    bytes: &[u8],
    size: usize,
) -> String {
    let mut converter = converters::stream_converter(upstream, client, "client-model", false, true);
    let mut out = String::new();
    for chunk in bytes.chunks(size) {
        out.push_str(&converter.feed(chunk));
    }
    out.push_str(&converter.finish());
    out.lines()
        .map(|line| match line.strip_prefix("data: ") {
            Some(data) => match serde_json::from_str::<Value>(data) {
                Ok(mut v) => {
                    normalize(&mut v);
                    format!("data: {v}")
                }
                Err(_) => line.to_owned(),
            },
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn streams_of_every_pair_whatever_the_network_chunking() {
    for (upstream, upstream_name) in FORMATS {
        let bytes = fixture(&format!("stream_{upstream_name}.sse"));
        for (client, client_name) in FORMATS {
            let whole = convert_stream(upstream, client, &bytes, bytes.len());
            for size in [1, 2, 3, 7, 64] {
                assert_eq!(
                    convert_stream(upstream, client, &bytes, size),
                    whole,
                    "{upstream_name} → {client_name} in chunks of {size} bytes"
                );
            }
            assert!(!whole.contains('\u{fffd}'), "no broken characters: {whole}");
            assert!(
                whole.contains("✓ 😀"),
                "{upstream_name} → {client_name}: {whole}"
            );
            golden(
                &format!("stream_{upstream_name}__to__{client_name}.sse"),
                &whole,
            );
        }
    }
}

#[test]
fn an_error_event_mid_stream_ends_every_client_stream_with_an_error_not_a_clean_end() {
    let bytes = fixture("stream_anthropic_error.sse");
    for (client, client_name) in FORMATS {
        let out = convert_stream(ClientFormat::Anthropic, client, &bytes, 5);
        assert!(out.contains("Partial"), "{out}");
        assert!(out.contains("Overloaded"), "{client_name}: {out}");
        let clean_end = match client {
            ClientFormat::Openai => "[DONE]",
            ClientFormat::OpenaiResponses => "response.completed",
            ClientFormat::Anthropic => "message_stop",
            ClientFormat::Gemini => "finishReason",
        };
        assert!(!out.contains(clean_end), "{client_name}: {out}");
        golden(
            &format!("stream_anthropic_error__to__{client_name}.sse"),
            &out,
        );
    }
}

#[test]
fn a_stream_cut_before_its_end_gets_an_error_event() {
    let bytes = fixture("stream_anthropic.sse");
    let cut = &bytes[..bytes.len() / 2];
    for (client, client_name) in FORMATS {
        let out = convert_stream(ClientFormat::Anthropic, client, cut, 9);
        assert!(
            out.contains("ended before the response was complete"),
            "{client_name}: {out}"
        );
    }
}

#[test]
fn an_openai_stream_without_done_but_with_a_finish_reason_ends_cleanly() {
    let bytes = fixture("stream_openai.sse");
    assert!(!String::from_utf8_lossy(&bytes).contains("[DONE]"));
    let out = convert_stream(ClientFormat::Openai, ClientFormat::Anthropic, &bytes, 11);
    assert!(out.contains("message_stop"), "{out}");
    assert!(!out.contains("event: error"), "{out}");
}

/// Anthropic content blocks must not interleave: every delta belongs to the
/// block opened last and not yet stopped, even when the upstream interleaved
/// two parallel tool calls' arguments.
#[test]
fn interleaved_parallel_tool_calls_become_sequential_complete_anthropic_blocks() {
    let bytes = fixture("stream_openai.sse");
    let out = convert_stream(ClientFormat::Openai, ClientFormat::Anthropic, &bytes, 13);
    let mut open: Option<u64> = None;
    let mut arguments: BTreeMap<u64, String> = BTreeMap::new();
    for data in out.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let event: Value = serde_json::from_str(data).unwrap();
        let index = event["index"].as_u64();
        match event["type"].as_str().unwrap() {
            "content_block_start" => {
                assert_eq!(open, None, "a block started while another is open: {out}");
                open = index;
            }
            "content_block_delta" => {
                assert_eq!(open, index, "a delta outside the open block: {out}");
                if let Some(fragment) = event["delta"]["partial_json"].as_str() {
                    arguments
                        .entry(index.unwrap())
                        .or_default()
                        .push_str(fragment);
                }
            }
            "content_block_stop" => {
                assert_eq!(open, index);
                open = None;
            }
            _ => {}
        }
    }
    let parsed: Vec<Value> = arguments
        .values()
        .map(|a| serde_json::from_str(a).unwrap())
        .collect();
    assert_eq!(
        parsed,
        vec![
            serde_json::json!({"city": "Paris"}),
            serde_json::json!({"city": "Rome"})
        ]
    );
}

#[test]
fn errors_of_every_pair() {
    let mut all = serde_json::Map::new();
    for (upstream, upstream_name) in FORMATS {
        let body = fixture(&format!("error_{upstream_name}.json"));
        for (client, client_name) in FORMATS {
            let converted =
                converters::errors::convert_error(converters::handler_for(client), 429, &body);
            let message = converted["error"]["message"].as_str().unwrap();
            let original = converters::errors::read_error(&body).unwrap().1;
            assert_eq!(message, original, "the upstream message is kept");
            all.insert(format!("{upstream_name} → {client_name}"), converted);
        }
        let _ = upstream;
    }
    golden("errors.json", &pretty(Value::Object(all)));
}

#[test]
fn empty_content_converts_everywhere() {
    let empty_answers = [
        (
            ClientFormat::Openai,
            r#"{"id":"c","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"stop"}],"usage":{}}"#,
        ),
        (
            ClientFormat::OpenaiResponses,
            r#"{"id":"r","model":"m","status":"completed","output":[]}"#,
        ),
        (
            ClientFormat::Anthropic,
            r#"{"id":"a","type":"message","model":"m","content":[],"stop_reason":"end_turn","usage":{}}"#,
        ),
        (
            ClientFormat::Gemini,
            r#"{"candidates":[{"content":{"role":"model","parts":[]},"finishReason":"STOP"}]}"#,
        ),
    ];
    for (upstream, body) in empty_answers {
        let response = converters::parse_response(upstream, body.as_bytes()).unwrap();
        assert!(response.parts.is_empty(), "{upstream:?}");
        for (client, _) in FORMATS {
            let rendered = converters::render_response(client, &response);
            // Each format's own way to say "no content", as its SDK reads it.
            let (path, expected) = match client {
                ClientFormat::Openai => ("/choices/0/message/content", serde_json::json!("")),
                ClientFormat::OpenaiResponses => ("/output", serde_json::json!([])),
                ClientFormat::Anthropic => ("/content", serde_json::json!([])),
                ClientFormat::Gemini => (
                    "/candidates/0/content/parts",
                    serde_json::json!([{"text": ""}]),
                ),
            };
            assert_eq!(
                rendered.pointer(path),
                Some(&expected),
                "{upstream:?} → {client:?}: {rendered}"
            );
        }
    }
    let empty_request = br#"{"model":"m","messages":[{"role":"user","content":""}]}"#;
    for (upstream, name) in FORMATS {
        let prepared = converters::prepare_chat(
            ClientFormat::Openai,
            upstream,
            &chat(ClientFormat::Openai, false),
            empty_request,
            Options {
                model_map: &BTreeMap::new(),
                default_max_tokens: 4096,
            },
        );
        assert!(prepared.is_ok(), "{name}: {prepared:?}");
    }
}

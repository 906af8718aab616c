//! Property tests: any valid universal request, written in one format, read
//! back, written in another and read back again, keeps the text and tool
//! content both formats can express — and nothing panics on the way, nor on
//! arbitrary JSON thrown at the request parsers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use converters::Operation;
use domain::chat::{ChatRequest, Message, Part, Role, ToolCall, ToolDeclaration, ToolResult};
use domain::llm::ClientFormat;
use proptest::prelude::*;
use serde_json::{json, Value};

const FORMATS: [ClientFormat; 4] = [
    ClientFormat::Openai,
    ClientFormat::OpenaiResponses,
    ClientFormat::Anthropic,
    ClientFormat::Gemini,
];

fn text() -> impl Strategy<Value = String> {
    // Letters, digits, punctuation, JSON-significant and multi-byte characters.
    proptest::string::string_regex("[a-zA-Z0-9 .,!?\"\\\\{}\\[\\]é✓😀\n]{1,24}").unwrap()
}

fn name() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z][a-z_]{0,9}").unwrap()
}

fn arguments() -> impl Strategy<Value = String> {
    proptest::collection::btree_map(name(), text(), 0..3)
        .prop_map(|m| serde_json::to_string(&m).unwrap())
}

/// One exchange: the user speaks (maybe answering the previous tool calls),
/// the assistant answers with text and/or tool calls.
#[derive(Debug, Clone)]
struct Turn {
    user_text: String,
    assistant_text: Option<String>,
    calls: Vec<(String, String)>,
}

fn turn() -> impl Strategy<Value = Turn> {
    (
        text(),
        proptest::option::of(text()),
        proptest::collection::vec((name(), arguments()), 0..3),
    )
        .prop_map(|(user_text, assistant_text, calls)| Turn {
            user_text,
            assistant_text,
            calls,
        })
}

fn request() -> impl Strategy<Value = ChatRequest> {
    (
        proptest::collection::vec(text(), 0..2),
        proptest::collection::vec(turn(), 1..4),
        proptest::collection::vec(name(), 0..3),
        proptest::option::of(1u64..5000),
    )
        .prop_map(|(system, turns, tools, max_tokens)| {
            let mut messages = Vec::new();
            let mut pending: Vec<(String, String)> = Vec::new();
            let mut call_number = 0;
            for turn in turns {
                let mut user = Vec::new();
                for (id, name) in pending.drain(..) {
                    user.push(Part::ToolResult(ToolResult {
                        call_id: id,
                        name: Some(name.clone()),
                        content: Value::String(format!("result of {name}")),
                        is_error: false,
                    }));
                }
                user.push(Part::Text(turn.user_text));
                messages.push(Message {
                    role: Role::User,
                    parts: user,
                });
                let mut assistant = Vec::new();
                if let Some(text) = turn.assistant_text {
                    assistant.push(Part::Text(text));
                }
                for (name, arguments) in turn.calls {
                    let id = format!("call_{call_number}");
                    call_number += 1;
                    pending.push((id.clone(), name.clone()));
                    assistant.push(Part::ToolCall(ToolCall {
                        id,
                        name,
                        arguments,
                    }));
                }
                if assistant.is_empty() {
                    assistant.push(Part::Text("ok".into()));
                }
                messages.push(Message {
                    role: Role::Assistant,
                    parts: assistant,
                });
            }
            // The conversation ends with the user (answering any open calls).
            let mut last = Vec::new();
            for (id, name) in pending {
                last.push(Part::ToolResult(ToolResult {
                    call_id: id,
                    name: Some(name.clone()),
                    content: Value::String(format!("result of {name}")),
                    is_error: false,
                }));
            }
            last.push(Part::Text("go on".into()));
            messages.push(Message {
                role: Role::User,
                parts: last,
            });
            ChatRequest {
                model: "m".into(),
                system,
                messages,
                tools: tools
                    .into_iter()
                    .map(|name| ToolDeclaration {
                        name,
                        description: Some("d".into()),
                        parameters: json!({"type": "object", "properties": {}}),
                    })
                    .collect(),
                max_tokens,
                ..ChatRequest::default()
            }
        })
}

/// What every format can carry: all text in order, each tool call's name
/// and arguments, each tool result's text, the system prompt, the tools.
#[derive(Debug, PartialEq)]
struct Content {
    text: String,
    calls: Vec<(String, Value)>,
    results: Vec<String>,
    system: String,
    tools: Vec<String>,
}

fn content(request: &ChatRequest) -> Content {
    let mut text = String::new();
    let mut calls = Vec::new();
    let mut results = Vec::new();
    for message in &request.messages {
        for part in &message.parts {
            match part {
                Part::Text(t) => text.push_str(t),
                Part::ToolCall(call) => calls.push((
                    call.name.clone(),
                    serde_json::from_str(&call.arguments).unwrap(),
                )),
                Part::ToolResult(result) => results.push(match &result.content {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                }),
                _ => {}
            }
        }
    }
    Content {
        text,
        calls,
        results,
        // Formats join several system prompts differently; the words survive.
        system: request.system.concat().split_whitespace().collect(),
        tools: request.tools.iter().map(|t| t.name.clone()).collect(),
    }
}

/// Every tool result answers a tool call made earlier in the conversation.
fn results_answer_calls(request: &ChatRequest) -> bool {
    let mut seen = Vec::new();
    for message in &request.messages {
        for part in &message.parts {
            match part {
                Part::ToolCall(call) => seen.push(call.id.clone()),
                Part::ToolResult(result) if !seen.contains(&result.call_id) => return false,
                _ => {}
            }
        }
    }
    true
}

fn through(format: ClientFormat, request: &ChatRequest) -> ChatRequest {
    let body = converters::render_request(format, request, 4096);
    let bytes = serde_json::to_vec(&body).unwrap();
    let operation = Operation::Chat {
        model: Some(request.model.clone()),
        stream: false,
    };
    converters::parse_request(format, &operation, &bytes)
        .unwrap_or_else(|e| panic!("{format:?} cannot read its own request: {e}\n{body}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn every_pair_keeps_text_and_tool_content(request in request()) {
        let expected = content(&request);
        for first in FORMATS {
            let read = through(first, &request);
            prop_assert_eq!(&content(&read), &expected, "via {:?}", first);
            prop_assert!(results_answer_calls(&read), "via {:?}: {:?}", first, read);
            for second in FORMATS {
                let again = through(second, &read);
                prop_assert_eq!(&content(&again), &expected, "via {:?} then {:?}", first, second);
                prop_assert!(results_answer_calls(&again), "via {:?} then {:?}", first, second);
            }
        }
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        text().prop_map(Value::from),
        prop_oneof![
            Just("user"),
            Just("assistant"),
            Just("model"),
            Just("tool"),
            Just("text"),
            Just("image_url"),
            Just("tool_use"),
            Just("tool_result"),
            Just("function_call")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            Just("model"),
            Just("messages"),
            Just("role"),
            Just("content"),
            Just("type"),
            Just("text"),
            Just("tool_calls"),
            Just("function"),
            Just("name"),
            Just("arguments"),
            Just("input"),
            Just("contents"),
            Just("parts"),
            Just("functionCall"),
            Just("functionResponse"),
            Just("args"),
            Just("system"),
            Just("tools"),
            Just("tool_choice"),
            Just("image_url"),
            Just("url"),
            Just("source"),
            Just("data"),
            Just("inlineData"),
            Just("call_id"),
            Just("output"),
            Just("max_tokens"),
            Just("stop"),
            Just("response_format"),
            Just("id"),
            Just("tool_use_id"),
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(key.prop_map(str::to_owned), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_never_panics_a_request_parser(value in json_value()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        for format in FORMATS {
            let operation = Operation::Chat { model: Some("m".into()), stream: false };
            if let Ok(request) = converters::parse_request(format, &operation, &bytes) {
                for target in FORMATS {
                    let _ = converters::render_request(target, &request, 4096);
                }
            }
            let _ = converters::parse_response(format, &bytes);
        }
    }
}

//! A simulated LLM behind the mock upstream (paths under `/sim/`), speaking
//! each provider's native format by hand — independently of the gateway's
//! converters, so conversion is tested against real shapes, not against
//! itself. Its answers reveal what reached it:
//!
//! - tools declared and no tool result yet → a call of the first tool with
//!   `{"city": "Paris"}` (two calls, of the first two tools, when the last user
//!   text contains "both");
//! - a tool result in the conversation → `Tool said: <result text>`;
//! - otherwise → `Echo: <last user text> | system: <system> | turns: <n> | images: <k>`.
//!
//! Usage is always 11 input and 7 output tokens. Streams split text in three
//! pieces (one split inside a multi-byte character's neighbourhood is left to
//! the unit tests) and tool arguments in two fragments, as providers do.

use actix_web::web::Bytes;
use actix_web::HttpResponse;
use futures_util::stream;
use serde_json::{json, Value};

const INPUT_TOKENS: u64 = 11;
const OUTPUT_TOKENS: u64 = 7;

/// What the simulated model answers.
#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Text(String),
    Calls(Vec<(String, String, String)>),
}

/// What the simulated model read from a request.
#[derive(Debug, Default)]
struct Reading {
    system: String,
    turns: usize,
    images: usize,
    last_user_text: String,
    tools: Vec<String>,
    tool_result: Option<String>,
    stream: bool,
    model: String,
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn read_openai_chat(body: &Value) -> Reading {
    let mut r = Reading {
        stream: body["stream"].as_bool().unwrap_or(false),
        model: body["model"].as_str().unwrap_or_default().to_owned(),
        ..Reading::default()
    };
    for m in body["messages"].as_array().into_iter().flatten() {
        match m["role"].as_str() {
            Some("system" | "developer") => r.system.push_str(&text_of(&m["content"])),
            Some("tool") => {
                r.turns += 1;
                r.tool_result = Some(text_of(&m["content"]));
            }
            Some("user") => {
                r.turns += 1;
                if let Some(parts) = m["content"].as_array() {
                    r.images += parts.iter().filter(|p| p["type"] == "image_url").count();
                }
                r.last_user_text = text_of(&m["content"]);
            }
            _ => r.turns += 1,
        }
    }
    r.tools = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["function"]["name"].as_str().map(str::to_owned))
        .collect();
    r
}

fn read_responses(body: &Value) -> Reading {
    let mut r = Reading {
        stream: body["stream"].as_bool().unwrap_or(false),
        model: body["model"].as_str().unwrap_or_default().to_owned(),
        system: body["instructions"].as_str().unwrap_or_default().to_owned(),
        ..Reading::default()
    };
    match &body["input"] {
        Value::String(s) => {
            r.turns = 1;
            r.last_user_text.clone_from(s);
        }
        Value::Array(items) => {
            for item in items {
                match (item["type"].as_str(), item["role"].as_str()) {
                    (Some("function_call_output"), _) => {
                        r.turns += 1;
                        r.tool_result = Some(text_of(&item["output"]));
                    }
                    (_, Some("system" | "developer")) => {
                        r.system.push_str(&text_of(&item["content"]))
                    }
                    (_, Some("user")) => {
                        r.turns += 1;
                        if let Some(parts) = item["content"].as_array() {
                            r.images += parts.iter().filter(|p| p["type"] == "input_image").count();
                        }
                        r.last_user_text = text_of(&item["content"]);
                    }
                    _ => r.turns += 1,
                }
            }
        }
        _ => {}
    }
    r.tools = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect();
    r
}

fn read_anthropic(body: &Value) -> Reading {
    let mut r = Reading {
        stream: body["stream"].as_bool().unwrap_or(false),
        model: body["model"].as_str().unwrap_or_default().to_owned(),
        system: text_of(&body["system"]),
        ..Reading::default()
    };
    for m in body["messages"].as_array().into_iter().flatten() {
        r.turns += 1;
        if m["role"] != "user" {
            continue;
        }
        match &m["content"] {
            Value::String(s) => r.last_user_text.clone_from(s),
            Value::Array(blocks) => {
                let mut text = String::new();
                for b in blocks {
                    match b["type"].as_str() {
                        Some("text") => text.push_str(b["text"].as_str().unwrap_or_default()),
                        Some("image") => r.images += 1,
                        Some("tool_result") => r.tool_result = Some(text_of(&b["content"])),
                        _ => {}
                    }
                }
                if !text.is_empty() || r.tool_result.is_none() {
                    r.last_user_text = text;
                }
            }
            _ => {}
        }
    }
    r.tools = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect();
    r
}

fn read_gemini(body: &Value, model: &str, stream: bool) -> Reading {
    let mut r = Reading {
        stream,
        model: model.to_owned(),
        system: text_of(&body["systemInstruction"]["parts"]),
        ..Reading::default()
    };
    for c in body["contents"].as_array().into_iter().flatten() {
        r.turns += 1;
        if c["role"] == "model" {
            continue;
        }
        let mut text = String::new();
        for p in c["parts"].as_array().into_iter().flatten() {
            if let Some(t) = p["text"].as_str() {
                text.push_str(t);
            } else if p.get("inlineData").is_some() || p.get("fileData").is_some() {
                r.images += 1;
            } else if let Some(response) = p.get("functionResponse") {
                let result = &response["response"];
                r.tool_result = Some(match result.get("result") {
                    Some(inner) => text_of(inner),
                    None => result.to_string(),
                });
            }
        }
        if !text.is_empty() || r.tool_result.is_none() {
            r.last_user_text = text;
        }
    }
    r.tools = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| {
            t["functionDeclarations"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|d| d["name"].as_str().map(str::to_owned))
        .collect();
    r
}

fn decide(r: &Reading) -> Reply {
    if let Some(result) = &r.tool_result {
        return Reply::Text(format!("Tool said: {result}"));
    }
    if !r.tools.is_empty() {
        let count = if r.last_user_text.contains("both") {
            2.min(r.tools.len())
        } else {
            1
        };
        return Reply::Calls(
            r.tools[..count]
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    (
                        format!("call_sim_{i}"),
                        name.clone(),
                        r#"{"city": "Paris"}"#.to_owned(),
                    )
                })
                .collect(),
        );
    }
    Reply::Text(format!(
        "Echo: {} | system: {} | turns: {} | images: {}",
        r.last_user_text, r.system, r.turns, r.images
    ))
}

/// Splits text in three pieces on character boundaries.
fn thirds(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let (a, b) = (n / 3, 2 * n / 3);
    [&chars[..a], &chars[a..b], &chars[b..]]
        .iter()
        .map(|s| s.iter().collect::<String>())
        .filter(|s| !s.is_empty())
        .collect()
}

fn halves(text: &str) -> (String, String) {
    let mid = text.len() / 2;
    let mid = (mid..=text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    (text[..mid].to_owned(), text[mid..].to_owned())
}

fn sse(frames: Vec<(Option<&'static str>, String)>) -> HttpResponse {
    let body = stream::iter(frames.into_iter().map(|(event, data)| {
        let mut frame = String::new();
        if let Some(event) = event {
            frame.push_str(&format!("event: {event}\n"));
        }
        frame.push_str(&format!("data: {data}\n\n"));
        Ok::<_, std::io::Error>(Bytes::from(frame))
    }));
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(body)
}

/// Answers a request to `/sim/...` in the format its path names.
pub(crate) fn respond(path: &str, body: &Value) -> HttpResponse {
    if path.ends_with("/chat/completions") {
        let r = read_openai_chat(body);
        let include_usage = body["stream_options"]["include_usage"].as_bool() == Some(true);
        return openai_chat(&r, &decide(&r), include_usage);
    }
    if path.ends_with("/responses") {
        let r = read_responses(body);
        return responses(&r, &decide(&r));
    }
    if path.ends_with("/messages") {
        let r = read_anthropic(body);
        return anthropic(&r, &decide(&r));
    }
    if let Some((model, method)) = path
        .rsplit_once("/models/")
        .and_then(|(_, rest)| rest.rsplit_once(':'))
    {
        let r = read_gemini(body, model, method == "streamGenerateContent");
        return gemini(&r, &decide(&r));
    }
    if path.ends_with("/models") {
        return HttpResponse::Ok().json(if path.contains("v1beta") {
            json!({"models": [{"name": "models/sim-model", "displayName": "Sim Model"}]})
        } else {
            json!({"object": "list", "data": [{"id": "sim-model", "object": "model", "created": 0, "owned_by": "sim",
                "type": "model", "display_name": "Sim Model", "created_at": "2025-01-01T00:00:00Z"}],
                "has_more": false, "first_id": "sim-model", "last_id": "sim-model"})
        });
    }
    HttpResponse::NotFound().json(json!({"error": {"message": format!("sim has no route {path}")}}))
}

fn openai_chat(r: &Reading, reply: &Reply, include_usage: bool) -> HttpResponse {
    let id = "chatcmpl-sim";
    let usage = json!({"prompt_tokens": INPUT_TOKENS, "completion_tokens": OUTPUT_TOKENS,
        "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS});
    let finish = match reply {
        Reply::Text(_) => "stop",
        Reply::Calls(_) => "tool_calls",
    };
    if !r.stream {
        let message = match reply {
            Reply::Text(text) => json!({"role": "assistant", "content": text, "refusal": null}),
            Reply::Calls(calls) => json!({"role": "assistant", "content": null, "refusal": null,
                "tool_calls": calls.iter().map(|(id, name, args)| json!({"id": id, "type": "function",
                    "function": {"name": name, "arguments": args}})).collect::<Vec<_>>()}),
        };
        return HttpResponse::Ok().json(json!({"id": id, "object": "chat.completion", "created": 1_700_000_000,
            "model": r.model, "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
            "usage": usage}));
    }
    let chunk = |delta: Value, finish: Value| {
        json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000, "model": r.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
        .to_string()
    };
    let mut frames = vec![(
        None,
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
    )];
    match reply {
        Reply::Text(text) => {
            for piece in thirds(text) {
                frames.push((None, chunk(json!({"content": piece}), Value::Null)));
            }
        }
        Reply::Calls(calls) => {
            for (i, (id, name, args)) in calls.iter().enumerate() {
                frames.push((
                    None,
                    chunk(
                        json!({"tool_calls": [{"index": i, "id": id, "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                        Value::Null,
                    ),
                ));
                let (a, b) = halves(args);
                for fragment in [a, b] {
                    frames.push((None, chunk(json!({"tool_calls": [{"index": i, "function": {"arguments": fragment}}]}), Value::Null)));
                }
            }
        }
    }
    frames.push((None, chunk(json!({}), json!(finish))));
    if include_usage {
        frames.push((
            None,
            json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": r.model, "choices": [], "usage": usage})
            .to_string(),
        ));
    }
    frames.push((None, "[DONE]".to_owned()));
    sse(frames)
}

fn responses(r: &Reading, reply: &Reply) -> HttpResponse {
    let id = "resp_sim";
    let items: Vec<Value> = match reply {
        Reply::Text(text) => vec![
            json!({"type": "message", "id": "msg_sim", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}),
        ],
        Reply::Calls(calls) => calls
            .iter()
            .enumerate()
            .map(|(i, (call_id, name, args))| {
                json!({"type": "function_call", "id": format!("fc_sim_{i}"),
                "call_id": call_id, "name": name, "arguments": args, "status": "completed"})
            })
            .collect(),
    };
    let response = |status: &str, output: Vec<Value>, usage: Value| {
        json!({"id": id, "object": "response", "created_at": 1_700_000_000, "status": status, "model": r.model,
            "output": output, "usage": usage, "error": null, "incomplete_details": null, "instructions": null,
            "parallel_tool_calls": true, "tool_choice": "auto", "tools": [], "metadata": {}, "temperature": 1.0,
            "top_p": 1.0, "text": {"format": {"type": "text"}}})
    };
    let usage = json!({"input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS,
        "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0}});
    if !r.stream {
        return HttpResponse::Ok().json(response("completed", items, usage));
    }
    let mut seq = 0;
    let mut frames = Vec::new();
    let mut push = |kind: &'static str, mut data: Value| {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(seq);
        seq += 1;
        frames.push((Some(kind), data.to_string()));
    };
    push(
        "response.created",
        json!({"response": response("in_progress", vec![], Value::Null)}),
    );
    push(
        "response.in_progress",
        json!({"response": response("in_progress", vec![], Value::Null)}),
    );
    match reply {
        Reply::Text(text) => {
            push(
                "response.output_item.added",
                json!({"output_index": 0, "item": {"type": "message", "id": "msg_sim",
                "status": "in_progress", "role": "assistant", "content": []}}),
            );
            push(
                "response.content_part.added",
                json!({"item_id": "msg_sim", "output_index": 0, "content_index": 0,
                "part": {"type": "output_text", "text": "", "annotations": []}}),
            );
            for piece in thirds(text) {
                push(
                    "response.output_text.delta",
                    json!({"item_id": "msg_sim", "output_index": 0,
                    "content_index": 0, "delta": piece, "logprobs": []}),
                );
            }
            push(
                "response.output_text.done",
                json!({"item_id": "msg_sim", "output_index": 0, "content_index": 0,
                "text": text, "logprobs": []}),
            );
            push(
                "response.content_part.done",
                json!({"item_id": "msg_sim", "output_index": 0, "content_index": 0,
                "part": {"type": "output_text", "text": text, "annotations": []}}),
            );
            push(
                "response.output_item.done",
                json!({"output_index": 0, "item": items[0]}),
            );
        }
        Reply::Calls(calls) => {
            for (i, (call_id, name, args)) in calls.iter().enumerate() {
                let item_id = format!("fc_sim_{i}");
                push(
                    "response.output_item.added",
                    json!({"output_index": i, "item": {"type": "function_call",
                    "id": item_id, "call_id": call_id, "name": name, "arguments": "", "status": "in_progress"}}),
                );
                let (a, b) = halves(args);
                for fragment in [a, b] {
                    push(
                        "response.function_call_arguments.delta",
                        json!({"item_id": item_id, "output_index": i,
                        "delta": fragment}),
                    );
                }
                push(
                    "response.function_call_arguments.done",
                    json!({"item_id": item_id, "output_index": i,
                    "arguments": args}),
                );
                push(
                    "response.output_item.done",
                    json!({"output_index": i, "item": items[i]}),
                );
            }
        }
    }
    push(
        "response.completed",
        json!({"response": response("completed", items.clone(), usage)}),
    );
    sse(frames)
}

fn anthropic(r: &Reading, reply: &Reply) -> HttpResponse {
    let id = "msg_sim";
    let (content, stop): (Vec<Value>, &str) = match reply {
        Reply::Text(text) => (vec![json!({"type": "text", "text": text})], "end_turn"),
        Reply::Calls(calls) => (
            calls
                .iter()
                .map(|(call_id, name, args)| {
                    json!({"type": "tool_use", "id": call_id, "name": name,
                    "input": serde_json::from_str::<Value>(args).unwrap_or(Value::Null)})
                })
                .collect(),
            "tool_use",
        ),
    };
    if !r.stream {
        return HttpResponse::Ok().json(
            json!({"id": id, "type": "message", "role": "assistant", "model": r.model,
            "content": content, "stop_reason": stop, "stop_sequence": null,
            "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS}}),
        );
    }
    let mut frames = Vec::new();
    let mut push = |kind: &'static str, mut data: Value| {
        data["type"] = json!(kind);
        frames.push((Some(kind), data.to_string()));
    };
    push(
        "message_start",
        json!({"message": {"id": id, "type": "message", "role": "assistant", "model": r.model,
        "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": 1}}}),
    );
    push("ping", json!({}));
    match reply {
        Reply::Text(text) => {
            push(
                "content_block_start",
                json!({"index": 0, "content_block": {"type": "text", "text": ""}}),
            );
            for piece in thirds(text) {
                push(
                    "content_block_delta",
                    json!({"index": 0, "delta": {"type": "text_delta", "text": piece}}),
                );
            }
            push("content_block_stop", json!({"index": 0}));
        }
        Reply::Calls(calls) => {
            for (i, (call_id, name, args)) in calls.iter().enumerate() {
                push(
                    "content_block_start",
                    json!({"index": i, "content_block": {"type": "tool_use", "id": call_id,
                    "name": name, "input": {}}}),
                );
                let (a, b) = halves(args);
                for fragment in [a, b] {
                    push(
                        "content_block_delta",
                        json!({"index": i, "delta": {"type": "input_json_delta",
                        "partial_json": fragment}}),
                    );
                }
                push("content_block_stop", json!({"index": i}));
            }
        }
    }
    push(
        "message_delta",
        json!({"delta": {"stop_reason": stop, "stop_sequence": null},
        "usage": {"output_tokens": OUTPUT_TOKENS}}),
    );
    push("message_stop", json!({}));
    sse(frames)
}

fn gemini(r: &Reading, reply: &Reply) -> HttpResponse {
    let usage = json!({"promptTokenCount": INPUT_TOKENS, "candidatesTokenCount": OUTPUT_TOKENS,
        "totalTokenCount": INPUT_TOKENS + OUTPUT_TOKENS});
    let parts: Vec<Value> = match reply {
        Reply::Text(text) => vec![json!({"text": text})],
        Reply::Calls(calls) => calls
            .iter()
            .map(|(_, name, args)| {
                json!({"functionCall": {"name": name,
                "args": serde_json::from_str::<Value>(args).unwrap_or(Value::Null)}})
            })
            .collect(),
    };
    let chunk = |parts: Vec<Value>, finish: Option<&str>, usage: Option<&Value>| {
        let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        if let Some(finish) = finish {
            candidate["finishReason"] = json!(finish);
        }
        let mut data =
            json!({"candidates": [candidate], "modelVersion": r.model, "responseId": "gen_sim"});
        if let Some(usage) = usage {
            data["usageMetadata"] = usage.clone();
        }
        data
    };
    if !r.stream {
        return HttpResponse::Ok().json(chunk(parts, Some("STOP"), Some(&usage)));
    }
    let mut frames = Vec::new();
    match reply {
        Reply::Text(text) => {
            let pieces = thirds(text);
            let last = pieces.len().saturating_sub(1);
            for (i, piece) in pieces.into_iter().enumerate() {
                let data = if i == last {
                    chunk(vec![json!({"text": piece})], Some("STOP"), Some(&usage))
                } else {
                    chunk(vec![json!({"text": piece})], None, None)
                };
                frames.push((None, data.to_string()));
            }
        }
        Reply::Calls(_) => {
            frames.push((None, chunk(parts, Some("STOP"), Some(&usage)).to_string()))
        }
    }
    sse(frames)
}

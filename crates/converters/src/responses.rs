//! OpenAI Responses (`POST v1/responses`).

use crate::json::{self, Side};
use crate::openai_chat::{
    function_declaration, image_from_url, image_url, push_message, result_text, tool_choice,
};
use crate::sse::{write_event, SseEvent};
use crate::stream::{Decoder, Encoder, UsageAcc};
use crate::{gen_id, stop_or_tool_use, unix_now, ConvertError};
use domain::chat::{
    ChatRequest, ChatResponse, Part, ResponseFormat, Role, StopReason, StreamEvent, ToolCall,
    ToolChoice, ToolResult, Usage,
};
use serde_json::{json, Map, Value};

// ---------- requests ----------

/// Reads a Responses request.
///
/// # Errors
/// [`ConvertError::BadRequest`] naming the field at fault;
/// [`ConvertError::Unsupported`] for `previous_response_id`, which only the
/// Responses API itself can resolve.
pub fn parse_request(body: &Value) -> Result<ChatRequest, ConvertError> {
    let side = Side::Client;
    json::object(body, "body", side)?;
    if !body["previous_response_id"].is_null() {
        return Err(ConvertError::Unsupported(
            "`previous_response_id` needs an upstream that speaks the Responses API; send the whole conversation in `input` instead".into(),
        ));
    }
    let mut request = ChatRequest {
        model: json::req_str(body, "model", side)?.to_owned(),
        max_tokens: json::opt_u64(body, "max_output_tokens", side)?,
        temperature: json::opt_f64(body, "temperature", side)?,
        top_p: json::opt_f64(body, "top_p", side)?,
        stream: json::opt_bool(body, "stream", side)?.unwrap_or(false),
        parallel_tool_calls: json::opt_bool(body, "parallel_tool_calls", side)?,
        user: json::opt_str(body, "user", side)?.map(str::to_owned),
        ..ChatRequest::default()
    };
    if let Some(instructions) = json::opt_str(body, "instructions", side)? {
        request.system.push(instructions.to_owned());
    }
    match &body["input"] {
        Value::Null => return Err(side.error("`input` is required".into())),
        Value::String(text) => request.messages.push(domain::chat::Message {
            role: Role::User,
            parts: vec![Part::Text(text.clone())],
        }),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                read_item(item, i, &mut request)?;
            }
        }
        _ => return Err(side.error("`input` must be a string or a list of items".into())),
    }
    for (i, tool) in json::array(&body["tools"], "tools", side)?
        .iter()
        .enumerate()
    {
        if tool["type"] != "function" {
            tracing::debug!(index = i, "built-in tool dropped in conversion");
            continue;
        }
        request
            .tools
            .push(function_declaration(tool, &format!("tools[{i}]"))?);
    }
    request.tool_choice = tool_choice(&body["tool_choice"], &body["tool_choice"], "tool_choice")?;
    let format = &body["text"]["format"];
    request.response_format = match format["type"].as_str() {
        Some("json_object") => Some(ResponseFormat::JsonObject),
        Some("json_schema") => Some(ResponseFormat::JsonSchema {
            name: format["name"].as_str().unwrap_or("response").to_owned(),
            schema: format["schema"].clone(),
            strict: format["strict"].as_bool(),
        }),
        _ => None,
    };
    Ok(request)
}

fn read_item(item: &Value, i: usize, request: &mut ChatRequest) -> Result<(), ConvertError> {
    let side = Side::Client;
    let kind = item["type"].as_str().unwrap_or("message");
    match kind {
        "message" => {
            let role = json::req_str(item, "role", side)
                .map_err(|_| side.error(format!("`input[{i}].role` is required")))?;
            let parts = content_parts(&item["content"], i)?;
            match role {
                "system" | "developer" => request.system.push(
                    parts
                        .iter()
                        .filter_map(|p| match p {
                            Part::Text(t) => Some(t.as_str()),
                            _ => None,
                        })
                        .collect(),
                ),
                "user" => push_message(&mut request.messages, Role::User, parts),
                "assistant" => push_message(&mut request.messages, Role::Assistant, parts),
                other => {
                    return Err(side.error(format!("`input[{i}].role` `{other}` is not known")))
                }
            }
        }
        "function_call" => push_message(
            &mut request.messages,
            Role::Assistant,
            vec![Part::ToolCall(ToolCall {
                id: json::req_str(item, "call_id", side)
                    .map_err(|_| side.error(format!("`input[{i}].call_id` is required")))?
                    .to_owned(),
                name: json::req_str(item, "name", side)
                    .map_err(|_| side.error(format!("`input[{i}].name` is required")))?
                    .to_owned(),
                arguments: json::arguments_text(&item["arguments"]),
            })],
        ),
        "function_call_output" => push_message(
            &mut request.messages,
            Role::User,
            vec![Part::ToolResult(ToolResult {
                call_id: json::req_str(item, "call_id", side)
                    .map_err(|_| side.error(format!("`input[{i}].call_id` is required")))?
                    .to_owned(),
                name: None,
                content: match &item["output"] {
                    Value::Array(parts) => Value::String(
                        parts
                            .iter()
                            .filter_map(|p| p["text"].as_str())
                            .collect::<Vec<_>>()
                            .join(""),
                    ),
                    other => other.clone(),
                },
                is_error: false,
            })],
        ),
        "reasoning" => {
            let text: String = json::array(&item["summary"], "summary", side)?
                .iter()
                .filter_map(|s| s["text"].as_str())
                .collect();
            if !text.is_empty() {
                push_message(
                    &mut request.messages,
                    Role::Assistant,
                    vec![Part::Thinking {
                        text,
                        signature: None,
                    }],
                );
            }
        }
        other => tracing::debug!(item = other, "input item dropped in conversion"),
    }
    Ok(())
}

fn content_parts(content: &Value, i: usize) -> Result<Vec<Part>, ConvertError> {
    match content {
        Value::String(s) => Ok(vec![Part::Text(s.clone())]),
        Value::Array(items) => Ok(items
            .iter()
            .filter_map(|item| match item["type"].as_str() {
                Some("input_text" | "output_text" | "text") => Some(Part::Text(
                    item["text"].as_str().unwrap_or_default().to_owned(),
                )),
                Some("refusal") => Some(Part::Text(
                    item["refusal"].as_str().unwrap_or_default().to_owned(),
                )),
                Some("input_image") => item["image_url"]
                    .as_str()
                    .map(|url| Part::Image(image_from_url(url))),
                other => {
                    tracing::debug!(part = ?other, "content part dropped in conversion");
                    None
                }
            })
            .collect()),
        _ => Err(Side::Client.error(format!(
            "`input[{i}].content` must be a string or a list of parts"
        ))),
    }
}

/// Writes a Responses request.
#[must_use]
pub fn render_request(request: &ChatRequest) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    if !request.system.is_empty() {
        body.insert("instructions".into(), json!(request.system.join("\n\n")));
    }
    let mut input: Vec<Value> = Vec::new();
    for message in &request.messages {
        let mut content: Vec<Value> = Vec::new();
        let (role, text_type) = match message.role {
            Role::User => ("user", "input_text"),
            Role::Assistant => ("assistant", "output_text"),
        };
        let flush = |content: &mut Vec<Value>, input: &mut Vec<Value>| {
            if !content.is_empty() {
                input.push(
                    json!({"type": "message", "role": role, "content": std::mem::take(content)}),
                );
            }
        };
        for part in &message.parts {
            match part {
                Part::Text(text) => content.push(json!({"type": text_type, "text": text})),
                Part::Image(image) => content.push(
                    json!({"type": "input_image", "image_url": image_url(image), "detail": "auto"}),
                ),
                Part::ToolCall(call) => {
                    flush(&mut content, &mut input);
                    input.push(
                        json!({"type": "function_call", "call_id": call.id, "name": call.name,
                        "arguments": call.arguments}),
                    );
                }
                Part::ToolResult(result) => {
                    flush(&mut content, &mut input);
                    input.push(
                        json!({"type": "function_call_output", "call_id": result.call_id,
                        "output": result_text(&result.content)}),
                    );
                }
                Part::Thinking { .. } => {}
            }
        }
        flush(&mut content, &mut input);
    }
    body.insert("input".into(), Value::Array(input));
    if let Some(n) = request.max_tokens {
        body.insert("max_output_tokens".into(), json!(n));
    }
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if !request.stop.is_empty() {
        tracing::debug!("stop sequences have no Responses equivalent; dropped");
    }
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                let mut tool = json!({"type": "function", "name": t.name,
                    "parameters": json::schema_with_type_case(&t.parameters, false)});
                if let Some(d) = &t.description {
                    tool["description"] = json!(d);
                }
                tool
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        if let Some(parallel) = request.parallel_tool_calls {
            body.insert("parallel_tool_calls".into(), json!(parallel));
        }
    }
    if let Some(choice) = &request.tool_choice {
        body.insert(
            "tool_choice".into(),
            match choice {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Tool(name) => json!({"type": "function", "name": name}),
            },
        );
    }
    match &request.response_format {
        Some(ResponseFormat::JsonObject) => {
            body.insert("text".into(), json!({"format": {"type": "json_object"}}));
        }
        Some(ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        }) => {
            let mut format = json!({"type": "json_schema", "name": name,
                "schema": json::schema_with_type_case(schema, false)});
            if let Some(strict) = strict {
                format["strict"] = json!(strict);
            }
            body.insert("text".into(), json!({ "format": format }));
        }
        None => {}
    }
    if let Some(user) = &request.user {
        body.insert("user".into(), json!(user));
    }
    if request.stream {
        body.insert("stream".into(), json!(true));
    }
    Value::Object(body)
}

// ---------- responses ----------

pub(crate) fn usage_from(u: &Value) -> Usage {
    crate::usage_counts::UsageCounts::of_value(u, domain::ApiFormat::OpenaiResponses)
}

fn usage_json(u: &Usage) -> Value {
    json!({"input_tokens": u.input_tokens, "output_tokens": u.output_tokens, "total_tokens": u.total(),
        "input_tokens_details": {"cached_tokens": u.cached_tokens.unwrap_or(0)},
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens.unwrap_or(0)}})
}

fn stop_from(response: &Value, has_calls: bool) -> StopReason {
    match (
        response["status"].as_str(),
        response["incomplete_details"]["reason"].as_str(),
    ) {
        (Some("incomplete"), Some("content_filter")) => StopReason::ContentFilter,
        (Some("incomplete"), _) => StopReason::MaxTokens,
        _ if has_calls => StopReason::ToolUse,
        _ => StopReason::EndTurn,
    }
}

/// Reads a Responses response.
///
/// # Errors
/// [`ConvertError::BadUpstream`] when it is not one.
pub fn parse_response(body: &Value) -> Result<ChatResponse, ConvertError> {
    let side = Side::Upstream;
    if !body["output"].is_array() {
        return Err(side.error("`output` is missing".into()));
    }
    let mut parts = Vec::new();
    for item in json::array(&body["output"], "output", side)? {
        match item["type"].as_str() {
            Some("message") => {
                for part in json::array(&item["content"], "content", side)? {
                    if let Some(text) = part["text"].as_str().or_else(|| part["refusal"].as_str()) {
                        parts.push(Part::Text(text.to_owned()));
                    }
                }
            }
            Some("function_call") => parts.push(Part::ToolCall(ToolCall {
                id: json::req_str(item, "call_id", side)?.to_owned(),
                name: json::req_str(item, "name", side)?.to_owned(),
                arguments: json::arguments_text(&item["arguments"]),
            })),
            Some("reasoning") => {
                let text: String = json::array(&item["summary"], "summary", side)?
                    .iter()
                    .filter_map(|s| s["text"].as_str())
                    .collect();
                if !text.is_empty() {
                    parts.push(Part::Thinking {
                        text,
                        signature: None,
                    });
                }
            }
            _ => {}
        }
    }
    let has_calls = parts.iter().any(|p| matches!(p, Part::ToolCall(_)));
    Ok(ChatResponse {
        id: body["id"]
            .as_str()
            .map_or_else(|| gen_id("resp"), str::to_owned),
        model: body["model"].as_str().unwrap_or_default().to_owned(),
        stop_reason: stop_from(body, has_calls),
        parts,
        usage: usage_from(&body["usage"]),
    })
}

fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({"type": "message", "id": id, "status": status, "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]})
}

fn reasoning_item(id: &str, text: &str) -> Value {
    json!({"type": "reasoning", "id": id, "summary": [{"type": "summary_text", "text": text}]})
}

fn call_item(id: &str, call_id: &str, name: &str, arguments: &str, status: &str) -> Value {
    json!({"type": "function_call", "id": id, "call_id": call_id, "name": name,
        "arguments": arguments, "status": status})
}

fn response_object(
    id: &str,
    model: &str,
    created: u64,
    output: Vec<Value>,
    stop: Option<StopReason>,
    usage: Option<&Usage>,
) -> Value {
    let (status, incomplete) = match stop {
        None => ("in_progress", Value::Null),
        Some(StopReason::MaxTokens) => ("incomplete", json!({"reason": "max_output_tokens"})),
        Some(StopReason::ContentFilter) => ("incomplete", json!({"reason": "content_filter"})),
        Some(_) => ("completed", Value::Null),
    };
    json!({"id": id, "object": "response", "created_at": created, "status": status,
        "error": null, "incomplete_details": incomplete, "instructions": null, "max_output_tokens": null,
        "model": model, "output": output, "parallel_tool_calls": true, "previous_response_id": null,
        "reasoning": {"effort": null, "summary": null}, "store": false, "temperature": null,
        "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [], "top_p": null,
        "truncation": "disabled", "metadata": {},
        "usage": usage.map_or(Value::Null, usage_json)})
}

/// Writes a Responses response.
#[must_use]
pub fn render_response(response: &ChatResponse) -> Value {
    let mut output = Vec::new();
    let mut n = 0;
    let mut next_id = |prefix: &str| {
        n += 1;
        format!("{prefix}_{}_{n}", response.id)
    };
    let thinking: String = response
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Thinking { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    if !thinking.is_empty() {
        output.push(reasoning_item(&next_id("rs"), &thinking));
    }
    let text: String = response
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    if !text.is_empty() {
        output.push(message_item(&next_id("msg"), &text, "completed"));
    }
    for part in &response.parts {
        if let Part::ToolCall(call) = part {
            output.push(call_item(
                &next_id("fc"),
                &call.id,
                &call.name,
                &call.arguments,
                "completed",
            ));
        }
    }
    response_object(
        &response.id,
        &response.model,
        unix_now(),
        output,
        Some(stop_or_tool_use(response)),
        Some(&response.usage),
    )
}

// ---------- streams ----------

/// Responses SSE → universal events.
#[derive(Debug, Default)]
pub struct ResponsesDecoder {
    /// output_index → (tool call ordinal, got argument deltas).
    calls: Vec<(u64, usize, bool)>,
    done: bool,
}

impl Decoder for ResponsesDecoder {
    fn event(&mut self, event: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), ConvertError> {
        if event.data.trim() == "[DONE]" {
            return Ok(());
        }
        let data: Value = serde_json::from_str(&event.data)
            .map_err(|e| ConvertError::BadUpstream(format!("stream event is not JSON: {e}")))?;
        let kind = data["type"]
            .as_str()
            .or(event.event.as_deref())
            .unwrap_or_default();
        let output_index = data["output_index"].as_u64().unwrap_or(0);
        match kind {
            "response.created" => out.push(StreamEvent::Start {
                id: data["response"]["id"]
                    .as_str()
                    .map_or_else(|| gen_id("resp"), str::to_owned),
                model: data["response"]["model"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            }),
            "response.output_item.added" if data["item"]["type"] == "function_call" => {
                let item = &data["item"];
                let ordinal = self.calls.len();
                out.push(StreamEvent::ToolCallStart {
                    index: ordinal,
                    id: item["call_id"]
                        .as_str()
                        .map_or_else(|| format!("call_{ordinal}"), str::to_owned),
                    name: item["name"].as_str().unwrap_or_default().to_owned(),
                });
                let initial = item["arguments"].as_str().unwrap_or_default();
                if !initial.is_empty() {
                    out.push(StreamEvent::ToolCallArguments {
                        index: ordinal,
                        fragment: initial.to_owned(),
                    });
                }
                self.calls
                    .push((output_index, ordinal, !initial.is_empty()));
            }
            "response.function_call_arguments.delta" => {
                if let Some(call) = self.calls.iter_mut().find(|c| c.0 == output_index) {
                    call.2 = true;
                    out.push(StreamEvent::ToolCallArguments {
                        index: call.1,
                        fragment: data["delta"].as_str().unwrap_or_default().to_owned(),
                    });
                }
            }
            "response.output_item.done" if data["item"]["type"] == "function_call" => {
                // Arguments only in the finished item (some servers skip the deltas).
                if let Some(call) = self.calls.iter_mut().find(|c| c.0 == output_index && !c.2) {
                    call.2 = true;
                    let arguments = json::arguments_text(&data["item"]["arguments"]);
                    out.push(StreamEvent::ToolCallArguments {
                        index: call.1,
                        fragment: if arguments.is_empty() {
                            "{}".into()
                        } else {
                            arguments
                        },
                    });
                }
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                out.push(StreamEvent::Text(
                    data["delta"].as_str().unwrap_or_default().to_owned(),
                ));
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                out.push(StreamEvent::Thinking(
                    data["delta"].as_str().unwrap_or_default().to_owned(),
                ));
            }
            "response.completed" | "response.incomplete" => {
                let response = &data["response"];
                self.done = true;
                if response["usage"].is_object() {
                    out.push(StreamEvent::Usage(usage_from(&response["usage"])));
                }
                out.push(StreamEvent::Stop(stop_from(
                    response,
                    !self.calls.is_empty(),
                )));
            }
            "response.failed" => {
                let error = &data["response"]["error"];
                out.push(StreamEvent::Error {
                    kind: error["code"].as_str().unwrap_or("api_error").to_owned(),
                    message: error["message"]
                        .as_str()
                        .unwrap_or("the response failed")
                        .to_owned(),
                });
            }
            "error" => out.push(StreamEvent::Error {
                kind: data["code"].as_str().unwrap_or("api_error").to_owned(),
                message: data["message"]
                    .as_str()
                    .unwrap_or("upstream error")
                    .to_owned(),
            }),
            _ => {}
        }
        Ok(())
    }

    fn complete(&self) -> bool {
        self.done
    }
}

#[derive(Debug)]
enum Item {
    Message {
        id: String,
        text: String,
    },
    Reasoning {
        id: String,
        text: String,
    },
    Call {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
        ordinal: usize,
    },
}

/// Universal events → Responses SSE, keeping the whole response for `response.completed`.
#[derive(Debug)]
pub struct ResponsesEncoder {
    id: String,
    model: String,
    created: u64,
    started: bool,
    sequence: u64,
    items: Vec<Item>,
    message: Option<usize>,
    reasoning: Option<usize>,
    usage: UsageAcc,
    stop: Option<StopReason>,
}

impl ResponsesEncoder {
    /// An encoder answering as `model` until the upstream names one.
    #[must_use]
    pub fn new(model: &str) -> Self {
        Self {
            id: gen_id("resp"),
            model: model.to_owned(),
            created: unix_now(),
            started: false,
            sequence: 0,
            items: Vec::new(),
            message: None,
            reasoning: None,
            usage: UsageAcc::default(),
            stop: None,
        }
    }

    fn send(&mut self, out: &mut String, kind: &str, mut data: Value) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        write_event(out, Some(kind), &data.to_string());
    }

    fn ensure_started(&mut self, out: &mut String) {
        if !self.started {
            self.started = true;
            let response =
                response_object(&self.id, &self.model, self.created, Vec::new(), None, None);
            self.send(out, "response.created", json!({ "response": response }));
            let response =
                response_object(&self.id, &self.model, self.created, Vec::new(), None, None);
            self.send(out, "response.in_progress", json!({ "response": response }));
        }
    }

    fn item_id(&self, prefix: &str) -> String {
        format!("{prefix}_{}_{}", self.id, self.items.len())
    }

    fn item_json(item: &Item, status: &str) -> Value {
        match item {
            Item::Message { id, text } => message_item(id, text, status),
            Item::Reasoning { id, text } => reasoning_item(id, text),
            Item::Call {
                id,
                call_id,
                name,
                arguments,
                ..
            } => call_item(id, call_id, name, arguments, status),
        }
    }

    fn add_item(&mut self, item: Item, out: &mut String) -> usize {
        let index = self.items.len();
        let mut added = Self::item_json(&item, "in_progress");
        match &mut added {
            Value::Object(map) if map.get("type") == Some(&json!("message")) => {
                map.insert("content".into(), json!([]));
            }
            Value::Object(map) if map.get("type") == Some(&json!("reasoning")) => {
                map.insert("summary".into(), json!([]));
            }
            _ => {}
        }
        self.send(
            out,
            "response.output_item.added",
            json!({"output_index": index, "item": added}),
        );
        self.items.push(item);
        index
    }
}

impl Encoder for ResponsesEncoder {
    fn event(&mut self, event: StreamEvent, out: &mut String) {
        match event {
            StreamEvent::Start { id, model } => {
                if !self.started {
                    self.id = id;
                    if !model.is_empty() {
                        self.model = model;
                    }
                }
                self.ensure_started(out);
            }
            StreamEvent::Usage(usage) => self.usage.merge(usage),
            StreamEvent::Stop(stop) => self.stop = Some(stop),
            StreamEvent::ThinkingSignature(_) => {}
            StreamEvent::Text(text) => {
                self.ensure_started(out);
                let index = match self.message {
                    Some(index) => index,
                    None => {
                        let id = self.item_id("msg");
                        let index = self.add_item(
                            Item::Message {
                                id: id.clone(),
                                text: String::new(),
                            },
                            out,
                        );
                        self.send(out, "response.content_part.added", json!({"item_id": id, "output_index": index,
                            "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []}}));
                        self.message = Some(index);
                        index
                    }
                };
                if let Some(Item::Message { id, text: all }) = self.items.get_mut(index) {
                    all.push_str(&text);
                    let id = id.clone();
                    self.send(
                        out,
                        "response.output_text.delta",
                        json!({"item_id": id, "output_index": index,
                        "content_index": 0, "delta": text, "logprobs": []}),
                    );
                }
            }
            StreamEvent::Thinking(text) => {
                self.ensure_started(out);
                let index = match self.reasoning {
                    Some(index) => index,
                    None => {
                        let id = self.item_id("rs");
                        let index = self.add_item(
                            Item::Reasoning {
                                id: id.clone(),
                                text: String::new(),
                            },
                            out,
                        );
                        self.send(out, "response.reasoning_summary_part.added", json!({"item_id": id,
                            "output_index": index, "summary_index": 0, "part": {"type": "summary_text", "text": ""}}));
                        self.reasoning = Some(index);
                        index
                    }
                };
                if let Some(Item::Reasoning { id, text: all }) = self.items.get_mut(index) {
                    all.push_str(&text);
                    let id = id.clone();
                    self.send(
                        out,
                        "response.reasoning_summary_text.delta",
                        json!({"item_id": id,
                        "output_index": index, "summary_index": 0, "delta": text}),
                    );
                }
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.ensure_started(out);
                let item_id = self.item_id("fc");
                self.add_item(
                    Item::Call {
                        id: item_id,
                        call_id: id,
                        name,
                        arguments: String::new(),
                        ordinal: index,
                    },
                    out,
                );
            }
            StreamEvent::ToolCallArguments { index, fragment } => {
                let found =
                    self.items
                        .iter_mut()
                        .enumerate()
                        .find_map(|(position, item)| match item {
                            Item::Call {
                                id,
                                arguments,
                                ordinal,
                                ..
                            } if *ordinal == index => {
                                arguments.push_str(&fragment);
                                Some((position, id.clone()))
                            }
                            _ => None,
                        });
                if let Some((position, id)) = found {
                    self.send(
                        out,
                        "response.function_call_arguments.delta",
                        json!({"item_id": id,
                        "output_index": position, "delta": fragment}),
                    );
                }
            }
            StreamEvent::Error { kind, message } => {
                self.ensure_started(out);
                self.send(
                    out,
                    "error",
                    json!({"code": kind, "message": message, "param": null,
                    "error": {"type": kind, "code": kind, "message": message}}),
                );
            }
        }
    }

    fn finish(&mut self, out: &mut String) {
        self.ensure_started(out);
        let items = std::mem::take(&mut self.items);
        for (index, item) in items.iter().enumerate() {
            match item {
                Item::Message { id, text } => {
                    self.send(
                        out,
                        "response.output_text.done",
                        json!({"item_id": id, "output_index": index,
                        "content_index": 0, "text": text, "logprobs": []}),
                    );
                    self.send(out, "response.content_part.done", json!({"item_id": id, "output_index": index,
                        "content_index": 0, "part": {"type": "output_text", "text": text, "annotations": [], "logprobs": []}}));
                }
                Item::Reasoning { id, text } => {
                    self.send(
                        out,
                        "response.reasoning_summary_text.done",
                        json!({"item_id": id,
                        "output_index": index, "summary_index": 0, "text": text}),
                    );
                    self.send(out, "response.reasoning_summary_part.done", json!({"item_id": id,
                        "output_index": index, "summary_index": 0, "part": {"type": "summary_text", "text": text}}));
                }
                Item::Call { id, arguments, .. } => {
                    self.send(
                        out,
                        "response.function_call_arguments.done",
                        json!({"item_id": id,
                        "output_index": index, "arguments": arguments}),
                    );
                }
            }
            self.send(
                out,
                "response.output_item.done",
                json!({"output_index": index,
                "item": Self::item_json(item, "completed")}),
            );
        }
        let has_calls = items.iter().any(|i| matches!(i, Item::Call { .. }));
        let stop = match self.stop {
            Some(StopReason::EndTurn) | None if has_calls => StopReason::ToolUse,
            Some(stop) => stop,
            None => StopReason::EndTurn,
        };
        let output = items
            .iter()
            .map(|i| Self::item_json(i, "completed"))
            .collect();
        let usage = self.usage.get();
        let response = response_object(
            &self.id,
            &self.model,
            self.created,
            output,
            Some(stop),
            Some(&usage),
        );
        let kind = if response["status"] == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        self.send(out, kind, json!({ "response": response }));
    }
}

//! OpenAI Chat Completions (`POST v1/chat/completions`).

use crate::json::{self, Side};
use crate::sse::{write_event, SseEvent};
use crate::stream::{Decoder, Encoder, UsageAcc};
use crate::{gen_id, stop_or_tool_use, unix_now, ConvertError};
use domain::chat::{
    ChatRequest, ChatResponse, Image, Message, Part, ResponseFormat, Role, StopReason, StreamEvent,
    ToolCall, ToolChoice, ToolDeclaration, ToolResult, Usage,
};
use serde_json::{json, Map, Value};

// ---------- requests ----------

/// Reads a Chat Completions request.
///
/// # Errors
/// [`ConvertError::BadRequest`] naming the field at fault.
pub fn parse_request(body: &Value) -> Result<ChatRequest, ConvertError> {
    let side = Side::Client;
    json::object(body, "body", side)?;
    let mut request = ChatRequest {
        model: json::req_str(body, "model", side)?.to_owned(),
        stream: json::opt_bool(body, "stream", side)?.unwrap_or(false),
        max_tokens: match json::opt_u64(body, "max_completion_tokens", side)? {
            Some(n) => Some(n),
            None => json::opt_u64(body, "max_tokens", side)?,
        },
        temperature: json::opt_f64(body, "temperature", side)?,
        top_p: json::opt_f64(body, "top_p", side)?,
        stop: json::string_or_list(&body["stop"], "stop", side)?,
        parallel_tool_calls: json::opt_bool(body, "parallel_tool_calls", side)?,
        user: json::opt_str(body, "user", side)?.map(str::to_owned),
        ..ChatRequest::default()
    };
    if body["messages"].is_null() {
        return Err(side.error("`messages` is required".into()));
    }
    for (i, message) in json::array(&body["messages"], "messages", side)?
        .iter()
        .enumerate()
    {
        read_message(message, i, &mut request)?;
    }
    for (i, tool) in json::array(&body["tools"], "tools", side)?
        .iter()
        .enumerate()
    {
        if tool["type"].as_str().unwrap_or("function") != "function" {
            tracing::debug!(
                index = i,
                "tool type other than function dropped in conversion"
            );
            continue;
        }
        request.tools.push(function_declaration(
            &tool["function"],
            &format!("tools[{i}].function"),
        )?);
    }
    request.tool_choice = tool_choice(
        &body["tool_choice"],
        &body["tool_choice"]["function"],
        "tool_choice.function",
    )?;
    request.response_format = match body["response_format"]["type"].as_str() {
        Some("json_object") => Some(ResponseFormat::JsonObject),
        Some("json_schema") => {
            let spec = &body["response_format"]["json_schema"];
            Some(ResponseFormat::JsonSchema {
                name: spec["name"].as_str().unwrap_or("response").to_owned(),
                schema: spec["schema"].clone(),
                strict: spec["strict"].as_bool(),
            })
        }
        _ => None,
    };
    Ok(request)
}

fn read_message(message: &Value, i: usize, request: &mut ChatRequest) -> Result<(), ConvertError> {
    let side = Side::Client;
    let role = json::req_str(message, "role", side)
        .map_err(|_| side.error(format!("`messages[{i}].role` is required")))?;
    let content = &message["content"];
    match role {
        "system" | "developer" => request.system.push(text_of(content, i)?),
        "user" => {
            let parts = user_parts(content, i)?;
            push_message(&mut request.messages, Role::User, parts);
        }
        "assistant" => {
            let mut parts = Vec::new();
            if let Some(reasoning) = message["reasoning_content"].as_str() {
                parts.push(Part::Thinking {
                    text: reasoning.to_owned(),
                    signature: None,
                });
            }
            let text = match content {
                Value::Null => String::new(),
                other => text_of(other, i)?,
            };
            if !text.is_empty() {
                parts.push(Part::Text(text));
            }
            for (j, call) in json::array(&message["tool_calls"], "tool_calls", side)?
                .iter()
                .enumerate()
            {
                let function = &call["function"];
                parts.push(Part::ToolCall(ToolCall {
                    id: call["id"]
                        .as_str()
                        .map_or_else(|| format!("call_{j}"), str::to_owned),
                    name: json::req_str(function, "name", side)
                        .map_err(|_| {
                            side.error(format!(
                                "`messages[{i}].tool_calls[{j}].function.name` is required"
                            ))
                        })?
                        .to_owned(),
                    arguments: json::arguments_text(&function["arguments"]),
                }));
            }
            push_message(&mut request.messages, Role::Assistant, parts);
        }
        "tool" | "function" => {
            let call_id = message["tool_call_id"]
                .as_str()
                .or_else(|| message["name"].as_str())
                .ok_or_else(|| side.error(format!("`messages[{i}].tool_call_id` is required")))?;
            let result = ToolResult {
                call_id: call_id.to_owned(),
                name: message["name"].as_str().map(str::to_owned),
                content: Value::String(text_of(content, i)?),
                is_error: false,
            };
            push_message(
                &mut request.messages,
                Role::User,
                vec![Part::ToolResult(result)],
            );
        }
        other => {
            return Err(side.error(format!("`messages[{i}].role` `{other}` is not known")));
        }
    }
    Ok(())
}

/// An OpenAI-style function declaration (`name`, `description`,
/// `parameters`), found at `at` in the request (for error messages).
pub(crate) fn function_declaration(
    function: &Value,
    at: &str,
) -> Result<ToolDeclaration, ConvertError> {
    let side = Side::Client;
    Ok(ToolDeclaration {
        name: json::req_str(function, "name", side)
            .map_err(|_| side.error(format!("`{at}.name` is required")))?
            .to_owned(),
        description: json::opt_str(function, "description", side)?.map(str::to_owned),
        parameters: match &function["parameters"] {
            Value::Null => json!({"type": "object", "properties": {}}),
            schema => schema.clone(),
        },
    })
}

/// An OpenAI-style `tool_choice`: `"none"`, `"required"`, `"auto"`, or an
/// object whose function is `named` (at `at`, for error messages).
pub(crate) fn tool_choice(
    choice: &Value,
    named: &Value,
    at: &str,
) -> Result<Option<ToolChoice>, ConvertError> {
    let side = Side::Client;
    Ok(match choice {
        Value::Null => None,
        Value::String(s) => Some(match s.as_str() {
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            "auto" => ToolChoice::Auto,
            other => return Err(side.error(format!("`tool_choice` `{other}` is not known"))),
        }),
        _ => Some(ToolChoice::Tool(
            json::req_str(named, "name", side)
                .map_err(|_| side.error(format!("`{at}.name` is required")))?
                .to_owned(),
        )),
    })
}

/// Appends parts, merging into the previous message when the speaker is the
/// same (tool results and the user's next words form one turn elsewhere).
pub(crate) fn push_message(messages: &mut Vec<Message>, role: Role, parts: Vec<Part>) {
    match messages.last_mut() {
        Some(last) if last.role == role => last.parts.extend(parts),
        _ => messages.push(Message { role, parts }),
    }
}

fn text_of(content: &Value, i: usize) -> Result<String, ConvertError> {
    match content {
        Value::String(s) => Ok(s.clone()),
        Value::Null => Ok(String::new()),
        Value::Array(parts) => Ok(parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("")),
        _ => Err(Side::Client.error(format!(
            "`messages[{i}].content` must be a string or a list of parts"
        ))),
    }
}

fn user_parts(content: &Value, i: usize) -> Result<Vec<Part>, ConvertError> {
    match content {
        Value::String(s) => Ok(vec![Part::Text(s.clone())]),
        Value::Array(items) => {
            let mut parts = Vec::new();
            for item in items {
                match item["type"].as_str() {
                    Some("text") => parts.push(Part::Text(
                        item["text"].as_str().unwrap_or_default().to_owned(),
                    )),
                    Some("image_url") => {
                        let url = item["image_url"]["url"]
                            .as_str()
                            .or_else(|| item["image_url"].as_str())
                            .ok_or_else(|| {
                                Side::Client.error(format!(
                                    "`messages[{i}].content[].image_url.url` is required"
                                ))
                            })?;
                        parts.push(Part::Image(image_from_url(url)));
                    }
                    other => {
                        tracing::debug!(part = ?other, "content part dropped in conversion");
                    }
                }
            }
            Ok(parts)
        }
        _ => Err(Side::Client.error(format!(
            "`messages[{i}].content` must be a string or a list of parts"
        ))),
    }
}

pub(crate) fn image_from_url(url: &str) -> Image {
    match json::parse_data_url(url) {
        Some((media_type, data)) => Image::Base64 {
            media_type,
            data: json::standard_base64(&data),
        },
        None => Image::Url(url.to_owned()),
    }
}

pub(crate) fn image_url(image: &Image) -> String {
    match image {
        Image::Url(url) => url.clone(),
        Image::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
    }
}

/// Writes a Chat Completions request.
#[must_use]
pub fn render_request(request: &ChatRequest) -> Value {
    let mut messages: Vec<Value> = request
        .system
        .iter()
        .map(|text| json!({"role": "system", "content": text}))
        .collect();
    for message in &request.messages {
        match message.role {
            Role::User => render_user(message, &mut messages),
            Role::Assistant => messages.push(render_assistant(&message.parts)),
        }
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("messages".into(), Value::Array(messages));
    if let Some(n) = request.max_tokens {
        body.insert(token_limit_field(&request.model).into(), json!(n));
    }
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if !request.stop.is_empty() {
        body.insert("stop".into(), json!(request.stop));
    }
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                let mut function = json!({"name": t.name, "parameters": json::schema_with_type_case(&t.parameters, false)});
                if let Some(d) = &t.description {
                    function["description"] = json!(d);
                }
                json!({"type": "function", "function": function})
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
                ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
            },
        );
    }
    match &request.response_format {
        Some(ResponseFormat::JsonObject) => {
            body.insert("response_format".into(), json!({"type": "json_object"}));
        }
        Some(ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        }) => {
            let mut spec =
                json!({"name": name, "schema": json::schema_with_type_case(schema, false)});
            if let Some(strict) = strict {
                spec["strict"] = json!(strict);
            }
            body.insert(
                "response_format".into(),
                json!({"type": "json_schema", "json_schema": spec}),
            );
        }
        None => {}
    }
    if let Some(user) = &request.user {
        body.insert("user".into(), json!(user));
    }
    if request.stream {
        body.insert("stream".into(), json!(true));
        // Usage is always requested, so accounting is exact; the client's stream gets it only if asked.
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Value::Object(body)
}

/// OpenAI's reasoning models refuse `max_tokens`; every OpenAI-compatible
/// server accepts it, while `max_completion_tokens` is OpenAI's own newer name.
fn token_limit_field(model: &str) -> &'static str {
    let reasoning = ["o1", "o3", "o4", "gpt-5"].iter().any(|prefix| {
        model
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
    });
    if reasoning {
        "max_completion_tokens"
    } else {
        "max_tokens"
    }
}

fn render_user(message: &Message, out: &mut Vec<Value>) {
    let mut content: Vec<Value> = Vec::new();
    for part in &message.parts {
        match part {
            Part::ToolResult(result) => out.push(json!({
                "role": "tool",
                "tool_call_id": result.call_id,
                "content": result_text(&result.content),
            })),
            Part::Text(text) => content.push(json!({"type": "text", "text": text})),
            Part::Image(image) => {
                content.push(json!({"type": "image_url", "image_url": {"url": image_url(image)}}))
            }
            Part::ToolCall(_) | Part::Thinking { .. } => {}
        }
    }
    if content.is_empty() {
        return;
    }
    let only_text = content.len() == 1 && content[0]["type"] == "text";
    out.push(if only_text {
        json!({"role": "user", "content": content[0]["text"]})
    } else {
        json!({"role": "user", "content": content})
    });
}

/// A tool result as text: strings as they are, anything else as JSON text.
pub(crate) fn result_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn render_assistant(parts: &[Part]) -> Value {
    let text: String = parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    let calls: Vec<Value> = parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolCall(call) => Some(json!({"id": call.id, "type": "function",
                "function": {"name": call.name, "arguments": call.arguments}})),
            _ => None,
        })
        .collect();
    let mut message = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    message
}

// ---------- responses ----------

fn stop_from(reason: Option<&str>) -> StopReason {
    match reason {
        Some("length") => StopReason::MaxTokens,
        Some("tool_calls" | "function_call") => StopReason::ToolUse,
        Some("content_filter") => StopReason::ContentFilter,
        _ => StopReason::EndTurn,
    }
}

fn finish_reason(stop: StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn | StopReason::StopSequence => "stop",
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::ContentFilter => "content_filter",
    }
}

pub(crate) fn usage_from(u: &Value) -> Usage {
    crate::usage_counts::UsageCounts::of_value(u, domain::ApiFormat::OpenaiCompatible)
}

fn usage_json(u: &Usage) -> Value {
    let mut usage = json!({"prompt_tokens": u.input_tokens, "completion_tokens": u.output_tokens,
        "total_tokens": u.total()});
    if let Some(cached) = u.cached_tokens {
        usage["prompt_tokens_details"] = json!({"cached_tokens": cached});
    }
    if let Some(reasoning) = u.reasoning_tokens {
        usage["completion_tokens_details"] = json!({"reasoning_tokens": reasoning});
    }
    usage
}

/// Reads a Chat Completions response.
///
/// # Errors
/// [`ConvertError::BadUpstream`] when it is not one.
pub fn parse_response(body: &Value) -> Result<ChatResponse, ConvertError> {
    let side = Side::Upstream;
    let choice = json::array(&body["choices"], "choices", side)?
        .first()
        .ok_or_else(|| side.error("`choices` is empty".into()))?;
    let message = &choice["message"];
    let mut parts = Vec::new();
    if let Some(reasoning) = message["reasoning_content"]
        .as_str()
        .filter(|r| !r.is_empty())
    {
        parts.push(Part::Thinking {
            text: reasoning.to_owned(),
            signature: None,
        });
    }
    if let Some(text) = message["content"].as_str().filter(|t| !t.is_empty()) {
        parts.push(Part::Text(text.to_owned()));
    } else if let Some(refusal) = message["refusal"].as_str() {
        parts.push(Part::Text(refusal.to_owned()));
    }
    for (j, call) in json::array(&message["tool_calls"], "tool_calls", side)?
        .iter()
        .enumerate()
    {
        parts.push(Part::ToolCall(ToolCall {
            id: call["id"]
                .as_str()
                .map_or_else(|| format!("call_{j}"), str::to_owned),
            name: json::req_str(&call["function"], "name", side)?.to_owned(),
            arguments: json::arguments_text(&call["function"]["arguments"]),
        }));
    }
    Ok(ChatResponse {
        id: body["id"]
            .as_str()
            .map_or_else(|| gen_id("chatcmpl"), str::to_owned),
        model: body["model"].as_str().unwrap_or_default().to_owned(),
        stop_reason: stop_from(choice["finish_reason"].as_str()),
        parts,
        usage: usage_from(&body["usage"]),
    })
}

/// Writes a Chat Completions response.
#[must_use]
pub fn render_response(response: &ChatResponse) -> Value {
    let mut message = render_assistant(&response.parts);
    let reasoning: String = response
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Thinking { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    if !reasoning.is_empty() {
        message["reasoning_content"] = json!(reasoning);
    }
    message["refusal"] = Value::Null;
    json!({
        "id": response.id,
        "object": "chat.completion",
        "created": unix_now(),
        "model": response.model,
        "choices": [{"index": 0, "message": message, "logprobs": null,
            "finish_reason": finish_reason(stop_or_tool_use(response))}],
        "usage": usage_json(&response.usage),
    })
}

// ---------- streams ----------

/// Chat Completions chunks → universal events.
#[derive(Debug, Default)]
pub struct ChatDecoder {
    started: bool,
    calls_started: Vec<usize>,
    finished: bool,
}

impl Decoder for ChatDecoder {
    fn event(&mut self, event: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), ConvertError> {
        if event.data.trim() == "[DONE]" {
            return Ok(());
        }
        let chunk: Value = serde_json::from_str(&event.data)
            .map_err(|e| ConvertError::BadUpstream(format!("stream chunk is not JSON: {e}")))?;
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            out.push(crate::errors::stream_error(error));
            return Ok(());
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: chunk["id"]
                    .as_str()
                    .map_or_else(|| gen_id("chatcmpl"), str::to_owned),
                model: chunk["model"].as_str().unwrap_or_default().to_owned(),
            });
        }
        if let Some(choice) = chunk["choices"].as_array().and_then(|c| c.first()) {
            let delta = &choice["delta"];
            if let Some(text) = delta["reasoning_content"]
                .as_str()
                .filter(|t| !t.is_empty())
            {
                out.push(StreamEvent::Thinking(text.to_owned()));
            }
            if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
                out.push(StreamEvent::Text(text.to_owned()));
            }
            if let Some(calls) = delta["tool_calls"].as_array() {
                for (position, call) in calls.iter().enumerate() {
                    let index = call["index"]
                        .as_u64()
                        .and_then(|i| usize::try_from(i).ok())
                        .unwrap_or(position);
                    if !self.calls_started.contains(&index) {
                        self.calls_started.push(index);
                        out.push(StreamEvent::ToolCallStart {
                            index,
                            id: call["id"]
                                .as_str()
                                .map_or_else(|| format!("call_{index}"), str::to_owned),
                            name: call["function"]["name"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                        });
                    }
                    if let Some(fragment) = call["function"]["arguments"]
                        .as_str()
                        .filter(|a| !a.is_empty())
                    {
                        out.push(StreamEvent::ToolCallArguments {
                            index,
                            fragment: fragment.to_owned(),
                        });
                    }
                }
            }
            if let Some(reason) = choice["finish_reason"].as_str() {
                self.finished = true;
                out.push(StreamEvent::Stop(stop_from(Some(reason))));
            }
        }
        if chunk["usage"].is_object() {
            out.push(StreamEvent::Usage(usage_from(&chunk["usage"])));
        }
        Ok(())
    }

    fn complete(&self) -> bool {
        self.finished
    }
}

/// Universal events → Chat Completions chunks.
#[derive(Debug)]
pub struct ChatEncoder {
    id: String,
    model: String,
    created: u64,
    started: bool,
    include_usage: bool,
    usage: UsageAcc,
    stop: Option<StopReason>,
    saw_tool_call: bool,
}

impl ChatEncoder {
    /// `include_usage`: the client asked for `stream_options.include_usage`.
    #[must_use]
    pub fn new(model: &str, include_usage: bool) -> Self {
        Self {
            id: gen_id("chatcmpl"),
            model: model.to_owned(),
            created: unix_now(),
            started: false,
            include_usage,
            usage: UsageAcc::default(),
            stop: None,
            saw_tool_call: false,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>, out: &mut String) {
        let data = json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
        write_event(out, None, &data.to_string());
    }

    fn ensure_started(&mut self, out: &mut String) {
        if !self.started {
            self.started = true;
            self.chunk(json!({"role": "assistant", "content": ""}), None, out);
        }
    }
}

impl Encoder for ChatEncoder {
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
            StreamEvent::Text(text) => {
                self.ensure_started(out);
                self.chunk(json!({"content": text}), None, out);
            }
            StreamEvent::Thinking(text) => {
                self.ensure_started(out);
                self.chunk(json!({"reasoning_content": text}), None, out);
            }
            StreamEvent::ThinkingSignature(_) => {}
            StreamEvent::ToolCallStart { index, id, name } => {
                self.ensure_started(out);
                self.saw_tool_call = true;
                self.chunk(
                    json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                        "function": {"name": name, "arguments": ""}}]}),
                    None,
                    out,
                );
            }
            StreamEvent::ToolCallArguments { index, fragment } => {
                self.ensure_started(out);
                self.chunk(
                    json!({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}),
                    None,
                    out,
                );
            }
            StreamEvent::Usage(usage) => self.usage.merge(usage),
            StreamEvent::Stop(stop) => self.stop = Some(stop),
            StreamEvent::Error { kind, message } => {
                let data = json!({"error": {"message": message, "type": kind, "param": null, "code": kind}});
                write_event(out, None, &data.to_string());
            }
        }
    }

    fn finish(&mut self, out: &mut String) {
        self.ensure_started(out);
        let stop = match self.stop {
            Some(StopReason::EndTurn) | None if self.saw_tool_call => StopReason::ToolUse,
            Some(stop) => stop,
            None => StopReason::EndTurn,
        };
        self.chunk(json!({}), Some(finish_reason(stop)), out);
        if self.include_usage {
            let data = json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "choices": [], "usage": usage_json(&self.usage.get())});
            write_event(out, None, &data.to_string());
        }
        write_event(out, None, "[DONE]");
    }
}

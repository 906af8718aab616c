//! Anthropic Messages (`POST v1/messages`).

use crate::json::{self, Side};
use crate::openai_chat::{push_message, result_text};
use crate::sse::{write_event, SseEvent};
use crate::stream::{Decoder, Encoder, UsageAcc};
use crate::{gen_id, stop_or_tool_use, ConvertError};
use domain::chat::{
    ChatRequest, ChatResponse, Image, Part, Role, StopReason, StreamEvent, ToolCall, ToolChoice,
    ToolDeclaration, ToolResult, Usage,
};
use serde_json::{json, Map, Value};

/// Anthropic's smallest thinking budget.
const MIN_THINKING_BUDGET: u64 = 1024;

// ---------- requests ----------

/// Reads a Messages request.
///
/// # Errors
/// [`ConvertError::BadRequest`] naming the field at fault.
pub fn parse_request(body: &Value) -> Result<ChatRequest, ConvertError> {
    let side = Side::Client;
    json::object(body, "body", side)?;
    let mut request = ChatRequest {
        model: json::req_str(body, "model", side)?.to_owned(),
        max_tokens: json::opt_u64(body, "max_tokens", side)?,
        temperature: json::opt_f64(body, "temperature", side)?,
        top_p: json::opt_f64(body, "top_p", side)?,
        stop: json::string_or_list(&body["stop_sequences"], "stop_sequences", side)?,
        stream: json::opt_bool(body, "stream", side)?.unwrap_or(false),
        user: body["metadata"]["user_id"].as_str().map(str::to_owned),
        ..ChatRequest::default()
    };
    match &body["system"] {
        Value::Null => {}
        Value::String(s) => request.system.push(s.clone()),
        Value::Array(blocks) => request.system.extend(
            blocks
                .iter()
                .filter_map(|b| b["text"].as_str())
                .map(str::to_owned),
        ),
        _ => return Err(side.error("`system` must be a string or a list of text blocks".into())),
    }
    if body["messages"].is_null() {
        return Err(side.error("`messages` is required".into()));
    }
    for (i, message) in json::array(&body["messages"], "messages", side)?
        .iter()
        .enumerate()
    {
        let role = match json::req_str(message, "role", side)
            .map_err(|_| side.error(format!("`messages[{i}].role` is required")))?
        {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => return Err(side.error(format!("`messages[{i}].role` `{other}` is not known"))),
        };
        let parts = match &message["content"] {
            Value::String(s) => vec![Part::Text(s.clone())],
            Value::Array(blocks) => blocks
                .iter()
                .enumerate()
                .filter_map(|(j, b)| read_block(b, i, j).transpose())
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(side.error(format!(
                    "`messages[{i}].content` must be a string or a list of blocks"
                )))
            }
        };
        push_message(&mut request.messages, role, parts);
    }
    for (i, tool) in json::array(&body["tools"], "tools", side)?
        .iter()
        .enumerate()
    {
        if tool.get("input_schema").is_none() {
            tracing::debug!(index = i, "server tool dropped in conversion");
            continue;
        }
        request.tools.push(ToolDeclaration {
            name: json::req_str(tool, "name", side)
                .map_err(|_| side.error(format!("`tools[{i}].name` is required")))?
                .to_owned(),
            description: json::opt_str(tool, "description", side)?.map(str::to_owned),
            parameters: tool["input_schema"].clone(),
        });
    }
    let choice = &body["tool_choice"];
    request.tool_choice = match choice["type"].as_str() {
        None => None,
        Some("auto") => Some(ToolChoice::Auto),
        Some("any") => Some(ToolChoice::Required),
        Some("none") => Some(ToolChoice::None),
        Some("tool") => Some(ToolChoice::Tool(
            json::req_str(choice, "name", side)
                .map_err(|_| side.error("`tool_choice.name` is required".into()))?
                .to_owned(),
        )),
        Some(other) => return Err(side.error(format!("`tool_choice.type` `{other}` is not known"))),
    };
    if choice["disable_parallel_tool_use"].as_bool() == Some(true) {
        request.parallel_tool_calls = Some(false);
    }
    if body["thinking"]["type"] == "enabled" {
        request.thinking_budget = body["thinking"]["budget_tokens"].as_u64();
    }
    Ok(request)
}

fn read_block(block: &Value, i: usize, j: usize) -> Result<Option<Part>, ConvertError> {
    let side = Side::Client;
    let at = |field: &str| format!("`messages[{i}].content[{j}].{field}`");
    Ok(Some(match block["type"].as_str() {
        Some("text") => Part::Text(block["text"].as_str().unwrap_or_default().to_owned()),
        Some("image") => Part::Image(read_image(&block["source"]).ok_or_else(|| {
            side.error(format!("{} must be a base64 or url source", at("source")))
        })?),
        Some("tool_use") => Part::ToolCall(ToolCall {
            id: json::req_str(block, "id", side)
                .map_err(|_| side.error(format!("{} is required", at("id"))))?
                .to_owned(),
            name: json::req_str(block, "name", side)
                .map_err(|_| side.error(format!("{} is required", at("name"))))?
                .to_owned(),
            arguments: json::arguments_text(&block["input"]),
        }),
        Some("tool_result") => Part::ToolResult(ToolResult {
            call_id: json::req_str(block, "tool_use_id", side)
                .map_err(|_| side.error(format!("{} is required", at("tool_use_id"))))?
                .to_owned(),
            name: None,
            content: match &block["content"] {
                Value::Array(items) => Value::String(
                    items
                        .iter()
                        .filter_map(|b| b["text"].as_str())
                        .collect::<Vec<_>>()
                        .join(""),
                ),
                Value::Null => Value::String(String::new()),
                other => other.clone(),
            },
            is_error: block["is_error"].as_bool().unwrap_or(false),
        }),
        Some("thinking") => Part::Thinking {
            text: block["thinking"].as_str().unwrap_or_default().to_owned(),
            signature: block["signature"].as_str().map(str::to_owned),
        },
        other => {
            tracing::debug!(block = ?other, "content block dropped in conversion");
            return Ok(None);
        }
    }))
}

fn read_image(source: &Value) -> Option<Image> {
    match source["type"].as_str()? {
        "base64" => Some(Image::Base64 {
            media_type: source["media_type"].as_str()?.to_owned(),
            data: json::standard_base64(source["data"].as_str()?),
        }),
        "url" => Some(Image::Url(source["url"].as_str()?.to_owned())),
        _ => None,
    }
}

/// Writes a Messages request; `default_max_tokens` when the request has no limit.
#[must_use]
pub fn render_request(request: &ChatRequest, default_max_tokens: u64) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    let mut max_tokens = request.max_tokens.unwrap_or(default_max_tokens);
    // Extended thinking: the budget is at least 1024 and below max_tokens, and
    // sampling settings and forced tool use are refused alongside it.
    let thinking = request
        .thinking_budget
        .map(|budget| budget.max(MIN_THINKING_BUDGET));
    if let Some(budget) = thinking {
        if max_tokens <= budget {
            max_tokens += budget;
        }
    }
    body.insert("max_tokens".into(), json!(max_tokens));
    match request.system.len() {
        0 => {}
        1 => {
            body.insert("system".into(), json!(request.system[0]));
        }
        _ => {
            let blocks: Vec<Value> = request
                .system
                .iter()
                .map(|t| json!({"type": "text", "text": t}))
                .collect();
            body.insert("system".into(), Value::Array(blocks));
        }
    }
    let mut messages: Vec<Value> = Vec::new();
    for message in &request.messages {
        let role = match message.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        // Tool results first: Anthropic wants them at the start of the user turn.
        let mut ordered: Vec<&Part> = message
            .parts
            .iter()
            .filter(|p| matches!(p, Part::ToolResult(_)))
            .collect();
        ordered.extend(
            message
                .parts
                .iter()
                .filter(|p| !matches!(p, Part::ToolResult(_))),
        );
        let blocks: Vec<Value> = ordered.into_iter().filter_map(render_block).collect();
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some(last) if last["role"] == role => {
                if let Some(content) = last["content"].as_array_mut() {
                    content.extend(blocks);
                }
            }
            _ => messages.push(json!({"role": role, "content": blocks})),
        }
    }
    body.insert("messages".into(), Value::Array(messages));
    if thinking.is_some() && (request.temperature.is_some() || request.top_p.is_some()) {
        tracing::debug!("temperature/top_p dropped: Anthropic refuses them with extended thinking");
    } else {
        if let Some(t) = request.temperature {
            body.insert("temperature".into(), json!(t));
        }
        if let Some(p) = request.top_p {
            body.insert("top_p".into(), json!(p));
        }
    }
    if !request.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(request.stop));
    }
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                let mut tool = json!({"name": t.name, "input_schema": json::schema_with_type_case(&t.parameters, false)});
                if let Some(d) = &t.description {
                    tool["description"] = json!(d);
                }
                tool
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    let mut choice = match &request.tool_choice {
        Some(ToolChoice::Auto) => Some(json!({"type": "auto"})),
        Some(ToolChoice::None) => Some(json!({"type": "none"})),
        // Forced tool use is refused with extended thinking: the model decides.
        Some(ToolChoice::Required | ToolChoice::Tool(_)) if thinking.is_some() => {
            Some(json!({"type": "auto"}))
        }
        Some(ToolChoice::Required) => Some(json!({"type": "any"})),
        Some(ToolChoice::Tool(name)) => Some(json!({"type": "tool", "name": name})),
        None => None,
    };
    if request.parallel_tool_calls == Some(false) && !request.tools.is_empty() {
        let c = choice.get_or_insert_with(|| json!({"type": "auto"}));
        if c["type"] != "none" {
            c["disable_parallel_tool_use"] = json!(true);
        }
    }
    if let Some(choice) = choice {
        body.insert("tool_choice".into(), choice);
    }
    if request.response_format.is_some() {
        tracing::debug!("response_format has no Anthropic equivalent; dropped");
    }
    if let Some(budget) = thinking {
        body.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": budget}),
        );
    }
    if let Some(user) = &request.user {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    if request.stream {
        body.insert("stream".into(), json!(true));
    }
    Value::Object(body)
}

fn render_block(part: &Part) -> Option<Value> {
    Some(match part {
        Part::Text(text) if text.is_empty() => return None,
        Part::Text(text) => json!({"type": "text", "text": text}),
        Part::Image(Image::Url(url)) => {
            json!({"type": "image", "source": {"type": "url", "url": url}})
        }
        Part::Image(Image::Base64 { media_type, data }) => json!({"type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data}}),
        Part::ToolCall(call) => json!({"type": "tool_use", "id": call.id, "name": call.name,
            "input": json::arguments_object(&call.arguments)}),
        Part::ToolResult(result) => {
            let mut block = json!({"type": "tool_result", "tool_use_id": result.call_id,
                "content": result_text(&result.content)});
            if result.is_error {
                block["is_error"] = json!(true);
            }
            block
        }
        // Anthropic rejects thinking it did not sign; unsigned reasoning from elsewhere is dropped.
        Part::Thinking {
            text,
            signature: Some(signature),
        } => json!({"type": "thinking", "thinking": text, "signature": signature}),
        Part::Thinking { .. } => return None,
    })
}

// ---------- responses ----------

fn stop_from(reason: Option<&str>) -> StopReason {
    match reason {
        Some("max_tokens" | "model_context_window_exceeded") => StopReason::MaxTokens,
        Some("stop_sequence") => StopReason::StopSequence,
        Some("tool_use") => StopReason::ToolUse,
        Some("refusal") => StopReason::ContentFilter,
        _ => StopReason::EndTurn,
    }
}

fn stop_name(stop: StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn => "end_turn",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ToolUse => "tool_use",
        StopReason::ContentFilter => "refusal",
    }
}

/// Anthropic counts cached prompt tokens apart; the universal count includes them.
pub(crate) fn usage_from(u: &Value) -> Usage {
    crate::usage_counts::UsageCounts::of_value(u, domain::ApiFormat::AnthropicNative)
}

fn usage_json(u: &Usage) -> Value {
    let cached = u.cached_tokens.unwrap_or(0);
    let mut usage = json!({"input_tokens": u.input_tokens.saturating_sub(cached), "output_tokens": u.output_tokens});
    if u.cached_tokens.is_some() {
        usage["cache_read_input_tokens"] = json!(cached);
    }
    usage
}

/// Reads a Messages response.
///
/// # Errors
/// [`ConvertError::BadUpstream`] when it is not one.
pub fn parse_response(body: &Value) -> Result<ChatResponse, ConvertError> {
    let side = Side::Upstream;
    if body["content"].is_null() && body["type"] != "message" {
        return Err(side.error("`content` is missing".into()));
    }
    let mut parts = Vec::new();
    for block in json::array(&body["content"], "content", side)? {
        match block["type"].as_str() {
            Some("text") => parts.push(Part::Text(
                block["text"].as_str().unwrap_or_default().to_owned(),
            )),
            Some("tool_use") => parts.push(Part::ToolCall(ToolCall {
                id: json::req_str(block, "id", side)?.to_owned(),
                name: json::req_str(block, "name", side)?.to_owned(),
                arguments: json::arguments_text(&block["input"]),
            })),
            Some("thinking") => parts.push(Part::Thinking {
                text: block["thinking"].as_str().unwrap_or_default().to_owned(),
                signature: block["signature"].as_str().map(str::to_owned),
            }),
            _ => {}
        }
    }
    Ok(ChatResponse {
        id: body["id"]
            .as_str()
            .map_or_else(|| gen_id("msg"), str::to_owned),
        model: body["model"].as_str().unwrap_or_default().to_owned(),
        parts,
        stop_reason: stop_from(body["stop_reason"].as_str()),
        usage: usage_from(&body["usage"]),
    })
}

/// Writes a Messages response.
#[must_use]
pub fn render_response(response: &ChatResponse) -> Value {
    let content: Vec<Value> = response
        .parts
        .iter()
        .filter_map(|p| match p {
            // A response may carry reasoning without a signature (from another provider): shown as thinking.
            Part::Thinking { text, signature } => {
                Some(json!({"type": "thinking", "thinking": text,
                "signature": signature.clone().unwrap_or_default()}))
            }
            other => render_block(other),
        })
        .collect();
    json!({
        "id": response.id,
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": content,
        "stop_reason": stop_name(stop_or_tool_use(response)),
        "stop_sequence": null,
        "usage": usage_json(&response.usage),
    })
}

// ---------- streams ----------

/// Messages SSE → universal events.
#[derive(Debug, Default)]
pub struct MessagesDecoder {
    /// Content block index → tool call ordinal, for tool_use blocks.
    tool_blocks: Vec<(u64, usize, bool)>,
    tools: usize,
    usage: UsageAcc,
    stopped: bool,
}

impl Decoder for MessagesDecoder {
    fn event(&mut self, event: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), ConvertError> {
        let data: Value = serde_json::from_str(&event.data)
            .map_err(|e| ConvertError::BadUpstream(format!("stream event is not JSON: {e}")))?;
        let kind = data["type"]
            .as_str()
            .or(event.event.as_deref())
            .unwrap_or_default();
        let index = data["index"].as_u64().unwrap_or(0);
        match kind {
            "message_start" => {
                let message = &data["message"];
                out.push(StreamEvent::Start {
                    id: message["id"]
                        .as_str()
                        .map_or_else(|| gen_id("msg"), str::to_owned),
                    model: message["model"].as_str().unwrap_or_default().to_owned(),
                });
                self.usage.merge(usage_from(&message["usage"]));
                out.push(StreamEvent::Usage(self.usage.get()));
            }
            "content_block_start" => {
                let block = &data["content_block"];
                match block["type"].as_str() {
                    Some("tool_use") => {
                        let ordinal = self.tools;
                        self.tools += 1;
                        self.tool_blocks.push((index, ordinal, false));
                        out.push(StreamEvent::ToolCallStart {
                            index: ordinal,
                            id: block["id"]
                                .as_str()
                                .map_or_else(|| format!("call_{ordinal}"), str::to_owned),
                            name: block["name"].as_str().unwrap_or_default().to_owned(),
                        });
                        if block["input"].as_object().is_some_and(|o| !o.is_empty()) {
                            self.mark_arguments(index);
                            out.push(StreamEvent::ToolCallArguments {
                                index: ordinal,
                                fragment: block["input"].to_string(),
                            });
                        }
                    }
                    Some("text") => {
                        if let Some(text) = block["text"].as_str().filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::Text(text.to_owned()));
                        }
                    }
                    Some("thinking") => {
                        if let Some(text) = block["thinking"].as_str().filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::Thinking(text.to_owned()));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let delta = &data["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => out.push(StreamEvent::Text(
                        delta["text"].as_str().unwrap_or_default().to_owned(),
                    )),
                    Some("thinking_delta") => out.push(StreamEvent::Thinking(
                        delta["thinking"].as_str().unwrap_or_default().to_owned(),
                    )),
                    Some("signature_delta") => out.push(StreamEvent::ThinkingSignature(
                        delta["signature"].as_str().unwrap_or_default().to_owned(),
                    )),
                    Some("input_json_delta") => {
                        let fragment = delta["partial_json"].as_str().unwrap_or_default();
                        if let Some(ordinal) = self.mark_arguments(index) {
                            if !fragment.is_empty() {
                                out.push(StreamEvent::ToolCallArguments {
                                    index: ordinal,
                                    fragment: fragment.to_owned(),
                                });
                            }
                        }
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                // A tool called without arguments still has an (empty) object of them.
                if let Some(&(_, ordinal, false)) =
                    self.tool_blocks.iter().find(|(i, _, _)| *i == index)
                {
                    self.mark_arguments(index);
                    out.push(StreamEvent::ToolCallArguments {
                        index: ordinal,
                        fragment: "{}".into(),
                    });
                }
            }
            "message_delta" => {
                self.usage.merge(usage_from(&data["usage"]));
                if let Some(reason) = data["delta"]["stop_reason"].as_str() {
                    out.push(StreamEvent::Stop(stop_from(Some(reason))));
                }
                out.push(StreamEvent::Usage(self.usage.get()));
            }
            "message_stop" => self.stopped = true,
            "error" => out.push(crate::errors::stream_error(&data["error"])),
            _ => {} // ping and future event types
        }
        Ok(())
    }

    fn complete(&self) -> bool {
        self.stopped
    }
}

impl MessagesDecoder {
    /// Records that a tool block got arguments; its call ordinal.
    fn mark_arguments(&mut self, block: u64) -> Option<usize> {
        let entry = self.tool_blocks.iter_mut().find(|(i, _, _)| *i == block)?;
        entry.2 = true;
        Some(entry.1)
    }
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Open {
    Text,
    Thinking,
    Tool(usize),
}

/// Universal events → Messages SSE. Content blocks must not interleave, so a
/// tool call whose arguments arrive while another call is still open is held
/// back and sent whole when the open one is finished.
#[derive(Debug)]
pub struct MessagesEncoder {
    id: String,
    model: String,
    started: bool,
    open: Option<(u64, Open)>,
    next_block: u64,
    /// Arguments of the open tool call so far (to tell when they are complete).
    open_arguments: String,
    /// Calls waiting for the open one to finish: (ordinal, id, name, arguments).
    held: Vec<(usize, String, String, String)>,
    usage: UsageAcc,
    stop: Option<StopReason>,
    saw_tool_call: bool,
}

impl MessagesEncoder {
    /// An encoder answering as `model` until the upstream names one.
    #[must_use]
    pub fn new(model: &str) -> Self {
        Self {
            id: gen_id("msg"),
            model: model.to_owned(),
            started: false,
            open: None,
            next_block: 0,
            open_arguments: String::new(),
            held: Vec::new(),
            usage: UsageAcc::default(),
            stop: None,
            saw_tool_call: false,
        }
    }

    fn send(out: &mut String, name: &str, data: &Value) {
        write_event(out, Some(name), &data.to_string());
    }

    fn ensure_started(&mut self, out: &mut String) {
        if !self.started {
            self.started = true;
            let usage = usage_json(&self.usage.get());
            Self::send(
                out,
                "message_start",
                &json!({"type": "message_start", "message": {"id": self.id,
                "type": "message", "role": "assistant", "model": self.model, "content": [],
                "stop_reason": null, "stop_sequence": null, "usage": usage}}),
            );
        }
    }

    fn close(&mut self, out: &mut String) {
        if let Some((index, _)) = self.open.take() {
            Self::send(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            );
        }
        self.open_arguments.clear();
    }

    fn open(&mut self, kind: Open, block: Value, out: &mut String) -> u64 {
        self.close(out);
        let index = self.next_block;
        self.next_block += 1;
        Self::send(
            out,
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        );
        self.open = Some((index, kind));
        index
    }

    fn delta(out: &mut String, index: u64, delta: Value) {
        Self::send(
            out,
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        );
    }

    fn open_of(&mut self, kind: Open, block: impl FnOnce() -> Value, out: &mut String) -> u64 {
        match self.open {
            Some((index, open)) if open == kind => index,
            _ => {
                self.flush_held_if_idle(out);
                self.open(kind, block(), out)
            }
        }
    }

    /// The open tool call is finished when its arguments are one complete JSON value.
    fn open_call_finished(&self) -> bool {
        json::is_complete_json(&self.open_arguments)
    }

    fn start_tool(
        &mut self,
        ordinal: usize,
        id: &str,
        name: &str,
        arguments: &str,
        out: &mut String,
    ) {
        let index = self.open(
            Open::Tool(ordinal),
            json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
            out,
        );
        if !arguments.is_empty() {
            Self::delta(
                out,
                index,
                json!({"type": "input_json_delta", "partial_json": arguments}),
            );
            self.open_arguments.push_str(arguments);
        }
    }

    /// Held calls go out (whole) once no tool call is open mid-arguments.
    fn flush_held_if_idle(&mut self, out: &mut String) {
        let busy = matches!(self.open, Some((_, Open::Tool(_)))) && !self.open_call_finished();
        if busy {
            return;
        }
        let held = std::mem::take(&mut self.held);
        for (ordinal, id, name, arguments) in held {
            self.start_tool(ordinal, &id, &name, &arguments, out);
        }
    }
}

impl Encoder for MessagesEncoder {
    fn event(&mut self, event: StreamEvent, out: &mut String) {
        match event {
            StreamEvent::Start { id, model } => {
                if !self.started {
                    self.id = id;
                    if !model.is_empty() {
                        self.model = model;
                    }
                }
            }
            StreamEvent::Usage(usage) => self.usage.merge(usage),
            StreamEvent::Stop(stop) => self.stop = Some(stop),
            StreamEvent::Text(text) => {
                self.ensure_started(out);
                let index = self.open_of(Open::Text, || json!({"type": "text", "text": ""}), out);
                Self::delta(out, index, json!({"type": "text_delta", "text": text}));
            }
            StreamEvent::Thinking(text) => {
                self.ensure_started(out);
                let index = self.open_of(
                    Open::Thinking,
                    || json!({"type": "thinking", "thinking": "", "signature": ""}),
                    out,
                );
                Self::delta(
                    out,
                    index,
                    json!({"type": "thinking_delta", "thinking": text}),
                );
            }
            StreamEvent::ThinkingSignature(signature) => {
                if let Some((index, Open::Thinking)) = self.open {
                    Self::delta(
                        out,
                        index,
                        json!({"type": "signature_delta", "signature": signature}),
                    );
                }
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.ensure_started(out);
                self.saw_tool_call = true;
                let busy =
                    matches!(self.open, Some((_, Open::Tool(_)))) && !self.open_call_finished();
                if busy || !self.held.is_empty() {
                    self.held.push((index, id, name, String::new()));
                } else {
                    self.start_tool(index, &id, &name, "", out);
                }
            }
            StreamEvent::ToolCallArguments { index, fragment } => {
                self.ensure_started(out);
                match self.open {
                    Some((block, Open::Tool(open))) if open == index => {
                        Self::delta(
                            out,
                            block,
                            json!({"type": "input_json_delta", "partial_json": fragment}),
                        );
                        self.open_arguments.push_str(&fragment);
                    }
                    _ => {
                        if let Some(held) = self.held.iter_mut().find(|h| h.0 == index) {
                            held.3.push_str(&fragment);
                        }
                        // The upstream moved on to a held call: if the open one is complete, switch.
                        if self.open_call_finished()
                            && self.held.first().is_some_and(|h| h.0 == index)
                        {
                            let (ordinal, id, name, arguments) = self.held.remove(0);
                            self.start_tool(ordinal, &id, &name, &arguments, out);
                        }
                    }
                }
            }
            StreamEvent::Error { kind, message } => {
                self.ensure_started(out);
                let kind = if kind.contains("overloaded") {
                    "overloaded_error"
                } else {
                    "api_error"
                };
                Self::send(
                    out,
                    "error",
                    &json!({"type": "error", "error": {"type": kind, "message": message}}),
                );
            }
        }
    }

    fn finish(&mut self, out: &mut String) {
        self.ensure_started(out);
        self.close(out);
        let held = std::mem::take(&mut self.held);
        for (ordinal, id, name, arguments) in held {
            self.start_tool(ordinal, &id, &name, &arguments, out);
            self.close(out);
        }
        let stop = match self.stop {
            Some(StopReason::EndTurn) | None if self.saw_tool_call => StopReason::ToolUse,
            Some(stop) => stop,
            None => StopReason::EndTurn,
        };
        let usage = self.usage.get();
        let mut usage_json = usage_json(&usage);
        usage_json["output_tokens"] = json!(usage.output_tokens);
        Self::send(
            out,
            "message_delta",
            &json!({"type": "message_delta",
            "delta": {"stop_reason": stop_name(stop), "stop_sequence": null}, "usage": usage_json}),
        );
        Self::send(out, "message_stop", &json!({"type": "message_stop"}));
    }
}

//! Gemini (`POST v1beta/models/{model}:generateContent`, `:streamGenerateContent?alt=sse`).
//! Accepts the REST API's camelCase and the snake_case some SDKs send.

use crate::json::{self, Side};
use crate::openai_chat::push_message;
use crate::sse::{write_event, SseEvent};
use crate::stream::{Decoder, Encoder, UsageAcc};
use crate::{gen_id, stop_or_tool_use, ConvertError};
use domain::chat::{
    ChatRequest, ChatResponse, Image, Part, ResponseFormat, Role, StopReason, StreamEvent,
    ToolCall, ToolChoice, ToolDeclaration, ToolResult, Usage,
};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// `v[camel]`, else `v[snake]`.
fn field<'a>(v: &'a Value, camel: &str, snake: &str) -> &'a Value {
    match v.get(camel) {
        Some(found) if !found.is_null() => found,
        _ => &v[snake],
    }
}

// ---------- requests ----------

/// Reads a generateContent request; the model and streaming come from the path.
///
/// # Errors
/// [`ConvertError::BadRequest`] naming the field at fault.
pub fn parse_request(body: &Value, model: &str, stream: bool) -> Result<ChatRequest, ConvertError> {
    let side = Side::Client;
    json::object(body, "body", side)?;
    let config = field(body, "generationConfig", "generation_config");
    let mut request = ChatRequest {
        model: model.to_owned(),
        stream,
        max_tokens: json::opt_u64(config, "maxOutputTokens", side)?.or(json::opt_u64(
            config,
            "max_output_tokens",
            side,
        )?),
        temperature: json::opt_f64(config, "temperature", side)?,
        top_p: json::opt_f64(config, "topP", side)?.or(json::opt_f64(config, "top_p", side)?),
        stop: json::string_or_list(
            field(config, "stopSequences", "stop_sequences"),
            "stopSequences",
            side,
        )?,
        ..ChatRequest::default()
    };
    let thinking = field(config, "thinkingConfig", "thinking_config");
    request.thinking_budget = field(thinking, "thinkingBudget", "thinking_budget")
        .as_u64()
        .filter(|b| *b > 0);
    let schema = field(config, "responseJsonSchema", "response_json_schema");
    let schema = if schema.is_null() {
        field(config, "responseSchema", "response_schema")
    } else {
        schema
    };
    request.response_format = match (
        field(config, "responseMimeType", "response_mime_type").as_str(),
        schema,
    ) {
        (_, schema) if !schema.is_null() => Some(ResponseFormat::JsonSchema {
            name: "response".into(),
            schema: json::schema_with_type_case(schema, false),
            strict: None,
        }),
        (Some("application/json"), _) => Some(ResponseFormat::JsonObject),
        _ => None,
    };
    let system = field(body, "systemInstruction", "system_instruction");
    match system {
        Value::Null => {}
        Value::String(s) => request.system.push(s.clone()),
        other => {
            let text: String = json::array(&other["parts"], "systemInstruction.parts", side)?
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect();
            request.system.push(text);
        }
    }
    // Gemini has no call ids: calls get `call_<n>` in order, and each
    // response answers the earliest unanswered call of its name.
    let mut calls = 0usize;
    let mut unanswered: Vec<(String, String)> = Vec::new();
    if body["contents"].is_null() {
        return Err(side.error("`contents` is required".into()));
    }
    for (i, content) in json::array(&body["contents"], "contents", side)?
        .iter()
        .enumerate()
    {
        let role = match content["role"].as_str() {
            Some("model") => Role::Assistant,
            Some("user" | "function" | "tool") | None => Role::User,
            Some(other) => {
                return Err(side.error(format!("`contents[{i}].role` `{other}` is not known")))
            }
        };
        let mut parts = Vec::new();
        for (j, part) in json::array(&content["parts"], "parts", side)?
            .iter()
            .enumerate()
        {
            let inline = field(part, "inlineData", "inline_data");
            let file = field(part, "fileData", "file_data");
            let call = field(part, "functionCall", "function_call");
            let response = field(part, "functionResponse", "function_response");
            if let Some(text) = part["text"].as_str() {
                if part["thought"].as_bool() == Some(true) {
                    parts.push(Part::Thinking {
                        text: text.to_owned(),
                        signature: None,
                    });
                } else {
                    parts.push(Part::Text(text.to_owned()));
                }
            } else if !inline.is_null() {
                parts.push(Part::Image(Image::Base64 {
                    media_type: field(inline, "mimeType", "mime_type")
                        .as_str()
                        .unwrap_or("image/png")
                        .to_owned(),
                    data: json::standard_base64(inline["data"].as_str().ok_or_else(|| {
                        side.error(format!(
                            "`contents[{i}].parts[{j}].inlineData.data` is required"
                        ))
                    })?),
                }));
            } else if !file.is_null() {
                parts.push(Part::Image(Image::Url(
                    field(file, "fileUri", "file_uri")
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )));
            } else if !call.is_null() {
                let name = json::req_str(call, "name", side).map_err(|_| {
                    side.error(format!(
                        "`contents[{i}].parts[{j}].functionCall.name` is required"
                    ))
                })?;
                let id = call["id"]
                    .as_str()
                    .map_or_else(|| format!("call_{calls}"), str::to_owned);
                calls += 1;
                unanswered.push((name.to_owned(), id.clone()));
                parts.push(Part::ToolCall(ToolCall {
                    id,
                    name: name.to_owned(),
                    arguments: json::arguments_text(&call["args"]),
                }));
            } else if !response.is_null() {
                let name = json::req_str(response, "name", side).map_err(|_| {
                    side.error(format!(
                        "`contents[{i}].parts[{j}].functionResponse.name` is required"
                    ))
                })?;
                let id = match response["id"].as_str() {
                    Some(id) => {
                        unanswered.retain(|(_, open)| open != id);
                        id.to_owned()
                    }
                    None => match unanswered.iter().position(|(n, _)| n == name) {
                        Some(position) => unanswered.remove(position).1,
                        None => format!("call_{name}"),
                    },
                };
                parts.push(Part::ToolResult(ToolResult {
                    call_id: id,
                    name: Some(name.to_owned()),
                    content: unwrap_result(&response["response"]),
                    is_error: false,
                }));
            } else {
                tracing::debug!(index = j, "Gemini part dropped in conversion");
            }
        }
        push_message(&mut request.messages, role, parts);
    }
    for tool in json::array(&body["tools"], "tools", side)? {
        for (k, declaration) in json::array(
            field(tool, "functionDeclarations", "function_declarations"),
            "tools[].functionDeclarations",
            side,
        )?
        .iter()
        .enumerate()
        {
            let parameters = field(
                declaration,
                "parametersJsonSchema",
                "parameters_json_schema",
            );
            let parameters = if parameters.is_null() {
                &declaration["parameters"]
            } else {
                parameters
            };
            request.tools.push(ToolDeclaration {
                name: json::req_str(declaration, "name", side)
                    .map_err(|_| {
                        side.error(format!(
                            "`tools[].functionDeclarations[{k}].name` is required"
                        ))
                    })?
                    .to_owned(),
                description: json::opt_str(declaration, "description", side)?.map(str::to_owned),
                parameters: if parameters.is_null() {
                    json!({"type": "object", "properties": {}})
                } else {
                    json::schema_with_type_case(parameters, false)
                },
            });
        }
    }
    let calling = field(
        field(body, "toolConfig", "tool_config"),
        "functionCallingConfig",
        "function_calling_config",
    );
    let allowed = field(calling, "allowedFunctionNames", "allowed_function_names");
    request.tool_choice = match calling["mode"]
        .as_str()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        Some("AUTO") => Some(ToolChoice::Auto),
        Some("NONE") => Some(ToolChoice::None),
        Some("ANY") => match allowed.as_array().map(Vec::as_slice) {
            Some([only]) => only.as_str().map(|n| ToolChoice::Tool(n.to_owned())),
            _ => Some(ToolChoice::Required),
        },
        _ => None,
    };
    Ok(request)
}

/// `{"result": x}` (how tool results that are not objects travel) → `x`.
fn unwrap_result(response: &Value) -> Value {
    match response {
        Value::Object(map) if map.len() == 1 && map.contains_key("result") => map["result"].clone(),
        other => other.clone(),
    }
}

/// A tool result as Gemini's `functionResponse.response`: objects as they
/// are (also JSON text of an object), anything else as `{"result": value}`.
fn wrap_result(content: &Value) -> Value {
    match content {
        Value::Object(_) => content.clone(),
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(object @ Value::Object(_)) => object,
            _ => json!({ "result": text }),
        },
        other => json!({ "result": other }),
    }
}

/// Drops the JSON-schema keywords Gemini's schema dialect rejects and upper-cases type names.
fn gemini_schema(schema: &Value) -> Value {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(k, _)| {
                        !matches!(k.as_str(), "$schema" | "additionalProperties" | "strict")
                    })
                    .map(|(k, v)| {
                        if k == "properties" {
                            let props = v.as_object().map(|p| {
                                p.iter()
                                    .map(|(name, s)| (name.clone(), strip(s)))
                                    .collect::<Map<_, _>>()
                            });
                            (k.clone(), props.map_or_else(|| v.clone(), Value::Object))
                        } else {
                            (k.clone(), strip(v))
                        }
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    json::schema_with_type_case(&strip(schema), true)
}

fn guess_mime(url: &str) -> &'static str {
    let lower = url.to_ascii_lowercase();
    if lower.ends_with(".jpg") || lower.ends_with(".jpeg") {
        "image/jpeg"
    } else if lower.ends_with(".gif") {
        "image/gif"
    } else if lower.ends_with(".webp") {
        "image/webp"
    } else {
        "image/png"
    }
}

/// Writes a generateContent request (the model goes in the path).
#[must_use]
pub fn render_request(request: &ChatRequest) -> Value {
    let mut body = Map::new();
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut contents = Vec::new();
    for message in &request.messages {
        let role = match message.role {
            Role::User => "user",
            Role::Assistant => "model",
        };
        let mut parts = Vec::new();
        for part in &message.parts {
            match part {
                Part::Text(text) => parts.push(json!({"text": text})),
                Part::Image(Image::Base64 { media_type, data }) => {
                    parts.push(json!({"inlineData": {"mimeType": media_type, "data": data}}));
                }
                Part::Image(Image::Url(url)) => {
                    parts.push(json!({"fileData": {"mimeType": guess_mime(url), "fileUri": url}}));
                }
                Part::ToolCall(call) => {
                    names.insert(&call.id, &call.name);
                    parts.push(json!({"functionCall": {"name": call.name, "args": json::arguments_object(&call.arguments)}}));
                }
                Part::ToolResult(result) => {
                    let name = result
                        .name
                        .as_deref()
                        .or_else(|| names.get(result.call_id.as_str()).copied())
                        .unwrap_or(&result.call_id);
                    parts.push(json!({"functionResponse": {"name": name, "response": wrap_result(&result.content)}}));
                }
                Part::Thinking { .. } => {}
            }
        }
        if !parts.is_empty() {
            contents.push(json!({"role": role, "parts": parts}));
        }
    }
    body.insert("contents".into(), Value::Array(contents));
    if !request.system.is_empty() {
        let parts: Vec<Value> = request.system.iter().map(|t| json!({"text": t})).collect();
        body.insert("systemInstruction".into(), json!({ "parts": parts }));
    }
    if !request.tools.is_empty() {
        let declarations: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                let mut d = json!({"name": t.name, "parameters": gemini_schema(&t.parameters)});
                if let Some(description) = &t.description {
                    d["description"] = json!(description);
                }
                d
            })
            .collect();
        body.insert(
            "tools".into(),
            json!([{ "functionDeclarations": declarations }]),
        );
    }
    if let Some(choice) = &request.tool_choice {
        let config = match choice {
            ToolChoice::Auto => json!({"mode": "AUTO"}),
            ToolChoice::None => json!({"mode": "NONE"}),
            ToolChoice::Required => json!({"mode": "ANY"}),
            ToolChoice::Tool(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
        };
        body.insert(
            "toolConfig".into(),
            json!({ "functionCallingConfig": config }),
        );
    }
    let mut config = Map::new();
    if let Some(n) = request.max_tokens {
        config.insert("maxOutputTokens".into(), json!(n));
    }
    if let Some(t) = request.temperature {
        config.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.top_p {
        config.insert("topP".into(), json!(p));
    }
    if !request.stop.is_empty() {
        config.insert("stopSequences".into(), json!(request.stop));
    }
    match &request.response_format {
        Some(ResponseFormat::JsonObject) => {
            config.insert("responseMimeType".into(), json!("application/json"));
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            config.insert("responseMimeType".into(), json!("application/json"));
            config.insert("responseSchema".into(), gemini_schema(schema));
        }
        None => {}
    }
    if let Some(budget) = request.thinking_budget {
        config.insert(
            "thinkingConfig".into(),
            json!({"thinkingBudget": budget, "includeThoughts": true}),
        );
    }
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    Value::Object(body)
}

// ---------- responses ----------

fn stop_from(reason: &str) -> StopReason {
    match reason {
        "MAX_TOKENS" => StopReason::MaxTokens,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            StopReason::ContentFilter
        }
        _ => StopReason::EndTurn,
    }
}

fn finish_name(stop: StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn | StopReason::StopSequence | StopReason::ToolUse => "STOP",
        StopReason::MaxTokens => "MAX_TOKENS",
        StopReason::ContentFilter => "SAFETY",
    }
}

/// Gemini counts thoughts apart from candidates; the universal output includes them.
pub(crate) fn usage_from(u: &Value) -> Usage {
    crate::usage_counts::UsageCounts::of_value(u, domain::ApiFormat::GeminiNative)
}

fn usage_json(u: &Usage) -> Value {
    let thoughts = u.reasoning_tokens.unwrap_or(0);
    let mut usage = json!({"promptTokenCount": u.input_tokens,
        "candidatesTokenCount": u.output_tokens.saturating_sub(thoughts), "totalTokenCount": u.total()});
    if let Some(thoughts) = u.reasoning_tokens {
        usage["thoughtsTokenCount"] = json!(thoughts);
    }
    if let Some(cached) = u.cached_tokens {
        usage["cachedContentTokenCount"] = json!(cached);
    }
    usage
}

/// The parts of the first candidate; function calls get ids `call_<n>` counted from `first_call`.
fn read_parts(candidate: &Value, first_call: usize) -> Vec<Part> {
    let mut calls = first_call;
    let mut parts = Vec::new();
    for part in candidate["content"]["parts"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
    {
        if let Some(text) = part["text"].as_str() {
            if part["thought"].as_bool() == Some(true) {
                parts.push(Part::Thinking {
                    text: text.to_owned(),
                    signature: None,
                });
            } else if !text.is_empty() {
                parts.push(Part::Text(text.to_owned()));
            }
        } else if let Some(call) = part.get("functionCall") {
            parts.push(Part::ToolCall(ToolCall {
                id: call["id"]
                    .as_str()
                    .map_or_else(|| format!("call_{calls}"), str::to_owned),
                name: call["name"].as_str().unwrap_or_default().to_owned(),
                arguments: json::arguments_text(&call["args"]),
            }));
            calls += 1;
        }
    }
    parts
}

/// Reads a generateContent response.
///
/// # Errors
/// [`ConvertError::BadUpstream`] when it is not one.
pub fn parse_response(body: &Value) -> Result<ChatResponse, ConvertError> {
    let side = Side::Upstream;
    let candidates = json::array(&body["candidates"], "candidates", side)?;
    if candidates.is_empty() && body["promptFeedback"].is_null() {
        return Err(side.error("`candidates` is missing".into()));
    }
    let candidate = candidates.first().unwrap_or(&Value::Null);
    let parts = read_parts(candidate, 0);
    let stop = match candidate["finishReason"].as_str() {
        _ if candidates.is_empty() => StopReason::ContentFilter,
        Some(reason) => stop_from(reason),
        None => StopReason::EndTurn,
    };
    Ok(ChatResponse {
        id: body["responseId"]
            .as_str()
            .map_or_else(|| gen_id("gen"), str::to_owned),
        model: body["modelVersion"].as_str().unwrap_or_default().to_owned(),
        parts,
        stop_reason: stop,
        usage: usage_from(&body["usageMetadata"]),
    })
}

fn render_parts(parts: &[Part]) -> Vec<Value> {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(text) => Some(json!({"text": text})),
            Part::Thinking { text, .. } => Some(json!({"text": text, "thought": true})),
            Part::ToolCall(call) => Some(json!({"functionCall": {"id": call.id, "name": call.name,
                "args": json::arguments_object(&call.arguments)}})),
            _ => None,
        })
        .collect()
}

/// Writes a generateContent response.
#[must_use]
pub fn render_response(response: &ChatResponse) -> Value {
    let mut parts = render_parts(&response.parts);
    if parts.is_empty() {
        parts.push(json!({"text": ""}));
    }
    json!({
        "candidates": [{"content": {"role": "model", "parts": parts},
            "finishReason": finish_name(stop_or_tool_use(response)), "index": 0}],
        "usageMetadata": usage_json(&response.usage),
        "modelVersion": response.model,
        "responseId": response.id,
    })
}

// ---------- streams ----------

/// Gemini SSE chunks → universal events.
#[derive(Debug, Default)]
pub struct GeminiDecoder {
    started: bool,
    calls: usize,
    finished: bool,
}

impl Decoder for GeminiDecoder {
    fn event(&mut self, event: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), ConvertError> {
        let chunk: Value = serde_json::from_str(&event.data)
            .map_err(|e| ConvertError::BadUpstream(format!("stream chunk is not JSON: {e}")))?;
        if let Some(error) = chunk.get("error") {
            out.push(crate::errors::stream_error(error));
            return Ok(());
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: chunk["responseId"]
                    .as_str()
                    .map_or_else(|| gen_id("gen"), str::to_owned),
                model: chunk["modelVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            });
        }
        let candidate = chunk["candidates"].get(0).unwrap_or(&Value::Null);
        for part in read_parts(candidate, self.calls) {
            match part {
                Part::Text(text) => out.push(StreamEvent::Text(text)),
                Part::Thinking { text, .. } => out.push(StreamEvent::Thinking(text)),
                Part::ToolCall(call) => {
                    let index = self.calls;
                    self.calls += 1;
                    out.push(StreamEvent::ToolCallStart {
                        index,
                        id: call.id,
                        name: call.name,
                    });
                    out.push(StreamEvent::ToolCallArguments {
                        index,
                        fragment: call.arguments,
                    });
                }
                _ => {}
            }
        }
        if chunk["usageMetadata"].is_object() {
            out.push(StreamEvent::Usage(usage_from(&chunk["usageMetadata"])));
        }
        if let Some(reason) = candidate["finishReason"].as_str() {
            self.finished = true;
            let stop = match stop_from(reason) {
                StopReason::EndTurn if self.calls > 0 => StopReason::ToolUse,
                other => other,
            };
            out.push(StreamEvent::Stop(stop));
        }
        if chunk["promptFeedback"]["blockReason"].is_string() && candidate.is_null() {
            self.finished = true;
            out.push(StreamEvent::Stop(StopReason::ContentFilter));
        }
        Ok(())
    }

    fn complete(&self) -> bool {
        self.finished
    }
}

/// Universal events → Gemini SSE chunks. Gemini sends a function call whole,
/// so calls are collected and sent in the final chunk.
#[derive(Debug)]
pub struct GeminiEncoder {
    id: String,
    model: String,
    calls: Vec<(usize, String, String, String)>,
    usage: UsageAcc,
    saw_usage: bool,
    stop: Option<StopReason>,
}

impl GeminiEncoder {
    /// An encoder answering as `model` until the upstream names one.
    #[must_use]
    pub fn new(model: &str) -> Self {
        Self {
            id: gen_id("gen"),
            model: model.to_owned(),
            calls: Vec::new(),
            usage: UsageAcc::default(),
            saw_usage: false,
            stop: None,
        }
    }

    fn chunk(&self, parts: Vec<Value>, finish: Option<&str>, out: &mut String) {
        let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        if let Some(finish) = finish {
            candidate["finishReason"] = json!(finish);
        }
        let mut data =
            json!({"candidates": [candidate], "modelVersion": self.model, "responseId": self.id});
        if finish.is_some() || self.saw_usage {
            data["usageMetadata"] = usage_json(&self.usage.get());
        }
        write_event(out, None, &data.to_string());
    }
}

impl Encoder for GeminiEncoder {
    fn event(&mut self, event: StreamEvent, out: &mut String) {
        match event {
            StreamEvent::Start { id, model } => {
                self.id = id;
                if !model.is_empty() {
                    self.model = model;
                }
            }
            StreamEvent::Text(text) => self.chunk(vec![json!({"text": text})], None, out),
            StreamEvent::Thinking(text) => {
                self.chunk(vec![json!({"text": text, "thought": true})], None, out)
            }
            StreamEvent::ThinkingSignature(_) => {}
            StreamEvent::ToolCallStart { index, id, name } => {
                self.calls.push((index, id, name, String::new()))
            }
            StreamEvent::ToolCallArguments { index, fragment } => {
                if let Some(call) = self.calls.iter_mut().find(|c| c.0 == index) {
                    call.3.push_str(&fragment);
                }
            }
            StreamEvent::Usage(usage) => {
                self.saw_usage = true;
                self.usage.merge(usage);
            }
            StreamEvent::Stop(stop) => self.stop = Some(stop),
            StreamEvent::Error { kind, message } => {
                let (code, status) = if !kind.is_empty()
                    && kind.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                {
                    (500, kind)
                } else if kind.contains("overloaded") {
                    (503, "UNAVAILABLE".to_owned())
                } else if kind.contains("rate_limit") {
                    (429, "RESOURCE_EXHAUSTED".to_owned())
                } else {
                    (500, "INTERNAL".to_owned())
                };
                let data = json!({"error": {"code": code, "message": message, "status": status}});
                write_event(out, None, &data.to_string());
            }
        }
    }

    fn finish(&mut self, out: &mut String) {
        let mut parts: Vec<Value> = std::mem::take(&mut self.calls)
            .into_iter()
            .map(|(_, id, name, arguments)| {
                json!({"functionCall": {"id": id, "name": name, "args": json::arguments_object(&arguments)}})
            })
            .collect();
        if parts.is_empty() {
            parts.push(json!({"text": ""}));
        }
        let finish = finish_name(self.stop.unwrap_or(StopReason::EndTurn));
        self.chunk(parts, Some(finish), out);
    }
}

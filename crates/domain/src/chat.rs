//! The universal chat model every LLM format converts through (SPEC §5.4):
//! a request, a response, and the events of a streamed response. It holds
//! what at least two of the formats can express; anything else is dropped by
//! the format that cannot carry it.

use serde_json::Value;

/// Who said a message. System and developer prompts live in
/// [`ChatRequest::system`]; tool results travel as [`Part::ToolResult`] in
/// a user message (Anthropic's and Gemini's model; OpenAI's `tool` role
/// messages map onto it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The person (or the tool runner).
    User,
    /// The model.
    Assistant,
}

/// An image given to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Image {
    /// Fetched by the provider.
    Url(String),
    /// Inline, standard base64 (not URL-safe).
    Base64 {
        /// `image/png`, `image/jpeg`…
        media_type: String,
        /// Standard base64.
        data: String,
    },
}

/// One piece of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Plain text.
    Text(String),
    /// An image.
    Image(Image),
    /// The model asks for a tool to run.
    ToolCall(ToolCall),
    /// What a tool returned.
    ToolResult(ToolResult),
    /// Reasoning text the model showed (Anthropic thinking, Gemini thoughts,
    /// Responses reasoning summaries, `reasoning_content` of OpenAI-compatible servers).
    Thinking {
        /// The reasoning text.
        text: String,
        /// Anthropic's signature, needed to send the block back to Anthropic.
        signature: Option<String>,
    },
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// Call id (generated as `call_<n>` where the format has none).
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Arguments as JSON text (a JSON object).
    pub arguments: String,
}

/// A tool's answer to a call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The call answered.
    pub call_id: String,
    /// The tool's name, where the format carries it (Gemini needs it).
    pub name: Option<String>,
    /// The result: a string, or structured JSON.
    pub content: Value,
    /// The tool reported an error.
    pub is_error: bool,
}

/// A message of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Speaker.
    pub role: Role,
    /// Content, in order.
    pub parts: Vec<Part>,
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDeclaration {
    /// Name.
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// JSON schema of the arguments (an object schema).
    pub parameters: Value,
}

/// Whether and which tool the model must call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// No tool call.
    None,
    /// Some tool call.
    Required,
    /// This tool.
    Tool(String),
}

/// The shape the answer must have.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    /// Any JSON object.
    JsonObject,
    /// JSON matching a schema.
    JsonSchema {
        /// Schema name (OpenAI requires one).
        name: String,
        /// The schema.
        schema: Value,
        /// OpenAI's `strict`.
        strict: Option<bool>,
    },
}

/// A chat request in no particular format.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    /// Model name as the client sent it (model_map applies later).
    pub model: String,
    /// System and developer prompts, in order.
    pub system: Vec<String>,
    /// The conversation.
    pub messages: Vec<Message>,
    /// Declared tools.
    pub tools: Vec<ToolDeclaration>,
    /// Tool choice, when given.
    pub tool_choice: Option<ToolChoice>,
    /// Whether the model may call several tools in one turn (`None`: the format's default).
    pub parallel_tool_calls: Option<bool>,
    /// Output token limit.
    pub max_tokens: Option<u64>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Stop sequences.
    pub stop: Vec<String>,
    /// JSON mode or schema.
    pub response_format: Option<ResponseFormat>,
    /// Reasoning budget in tokens, where the client gave one (Anthropic
    /// `thinking.budget_tokens`, Gemini `thinkingBudget`).
    pub thinking_budget: Option<u64>,
    /// Streamed answer.
    pub stream: bool,
    /// End user id (OpenAI `user`, Anthropic `metadata.user_id`).
    pub user: Option<String>,
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Natural end.
    EndTurn,
    /// Token limit reached.
    MaxTokens,
    /// A stop sequence matched.
    StopSequence,
    /// It called tools.
    ToolUse,
    /// Filtered by the provider.
    ContentFilter,
}

/// Token counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens (reasoning included).
    pub output_tokens: u64,
    /// Prompt tokens served from a cache, when reported.
    pub cached_tokens: Option<u64>,
    /// Reasoning tokens, when reported.
    pub reasoning_tokens: Option<u64>,
}

impl Usage {
    /// Input plus output.
    #[must_use]
    pub fn total(&self) -> u64 {
        // Counts come from upstreams: a huge one saturates instead of overflowing.
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// A complete (non-streamed) answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    /// Response id.
    pub id: String,
    /// Model that answered.
    pub model: String,
    /// Text, thinking and tool calls, in order.
    pub parts: Vec<Part>,
    /// Why it stopped.
    pub stop_reason: StopReason,
    /// Token counts.
    pub usage: Usage,
}

/// One event of a streamed answer, in no particular format. Decoders turn
/// a format's SSE events into these; encoders turn these into another's.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The answer began.
    Start {
        /// Response id.
        id: String,
        /// Model.
        model: String,
    },
    /// More answer text.
    Text(String),
    /// More reasoning text.
    Thinking(String),
    /// Anthropic's signature of the reasoning so far.
    ThinkingSignature(String),
    /// A tool call began; `index` counts tool calls from 0 in this answer.
    ToolCallStart {
        /// Ordinal of the call in the answer.
        index: usize,
        /// Call id.
        id: String,
        /// Tool name.
        name: String,
    },
    /// More argument JSON text of call `index`.
    ToolCallArguments {
        /// Ordinal of the call.
        index: usize,
        /// A fragment of the arguments' JSON text.
        fragment: String,
    },
    /// Token counts so far (later events supersede earlier ones field by field).
    Usage(Usage),
    /// Why it stopped (usage may still follow).
    Stop(StopReason),
    /// The upstream reported an error inside the stream.
    Error {
        /// Error type or status name, as the upstream gave it.
        kind: String,
        /// The upstream's message.
        message: String,
    },
}

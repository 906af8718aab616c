//! Token usage and model name read from an upstream answer as it passes
//! through, without converting or holding it: a JSON answer keeps only its
//! head (for the model) and tail (where every format puts its usage); a
//! stream parses only the events that carry a usage object.

use crate::json_keys::{
    last_object_start, only_null_values, value_start, JsonKey, CHOICES, USAGE, USAGE_METADATA,
};
use crate::sse::{ends_an_event, SseEvent, SseParser};
use crate::usage_counts::UsageCounts;
use crate::usage_model::{model_in, model_of_answer};
use bytes::Bytes;
use domain::chat::Usage;
use domain::ApiFormat;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;

/// Bytes kept from the start of a JSON answer, for the model name.
const HEAD: usize = 4 * 1024;
/// Bytes kept from the end of a JSON answer, for the usage object.
const TAIL: usize = 16 * 1024;

/// What an answer reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reported {
    /// Tokens (zero when the answer carried none).
    pub usage: Usage,
    /// The model named by the answer (shared: consecutive answers of one
    /// upstream name the same model, see `usage_model`).
    pub model: Option<Arc<str>>,
}

/// Watches one upstream answer of `format`.
#[derive(Debug)]
pub struct UsageScanner {
    format: ApiFormat,
    mode: Mode,
    reported: Reported,
    /// The model is still to be read (the caller may know it already).
    wants_model: bool,
    /// The last chunk fed was whole events without a usage object.
    skipped_last: bool,
}

#[derive(Debug)]
enum Mode {
    Json(JsonEnds),
    Sse {
        parser: SseParser,
        events: Vec<SseEvent>,
    },
}

/// The ends of a JSON answer, held as the chunks it arrived in (shared with
/// the relay, not copied): the last ones until at least [`TAIL`] bytes are
/// past them, and the first [`HEAD`] bytes copied out only when a chunk that
/// holds them has to go.
#[derive(Debug, Default)]
struct JsonEnds {
    /// The answer while it is one chunk, as most are: no deque to allocate.
    only: Option<Bytes>,
    chunks: VecDeque<Bytes>,
    held: usize,
    /// Bytes of the answer no longer in `chunks`.
    dropped: usize,
    /// The answer's first bytes, once their chunks have gone (up to `HEAD`).
    head: Vec<u8>,
}

impl JsonEnds {
    fn feed(&mut self, chunk: &Bytes) {
        if chunk.is_empty() {
            return;
        }
        if self.held == 0 && self.dropped == 0 {
            self.only = Some(chunk.clone());
            self.held = chunk.len();
            return;
        }
        if let Some(first) = self.only.take() {
            self.chunks.push_back(first);
        }
        self.chunks.push_back(chunk.clone());
        self.held += chunk.len();
        while let Some(front) = self.chunks.front() {
            if self.held - front.len() < TAIL {
                break;
            }
            if self.head.len() == self.dropped && self.head.len() < HEAD {
                let wanted = (HEAD - self.head.len()).min(front.len());
                self.head.extend_from_slice(&front[..wanted]);
            }
            self.held -= front.len();
            self.dropped += front.len();
            self.chunks.pop_front();
        }
    }

    /// The first bytes of the answer (up to `HEAD`).
    fn head(&self) -> Cow<'_, [u8]> {
        if let Some(only) = &self.only {
            return Cow::Borrowed(&only[..only.len().min(HEAD)]);
        }
        let mut head = self.head.clone();
        // Chunks still held continue the head only when none was skipped.
        if head.len() == self.dropped {
            for chunk in &self.chunks {
                if head.len() >= HEAD {
                    break;
                }
                let wanted = (HEAD - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..wanted]);
            }
        }
        Cow::Owned(head)
    }

    /// The held end of the answer, in one piece.
    fn tail(&self) -> Cow<'_, [u8]> {
        if let Some(only) = &self.only {
            return Cow::Borrowed(only);
        }
        if self.chunks.len() == 1 {
            return Cow::Borrowed(&self.chunks[0]);
        }
        let mut tail = Vec::with_capacity(self.held);
        for chunk in &self.chunks {
            tail.extend_from_slice(chunk);
        }
        Cow::Owned(tail)
    }
}

impl UsageScanner {
    /// A scanner for a JSON answer (`stream = false`) or an SSE stream.
    #[must_use]
    pub fn new(format: ApiFormat, stream: bool) -> Self {
        let mode = if stream {
            Mode::Sse {
                parser: SseParser::new(),
                events: Vec::new(),
            }
        } else {
            Mode::Json(JsonEnds::default())
        };
        Self {
            format,
            mode,
            reported: Reported::default(),
            wants_model: true,
            skipped_last: false,
        }
    }

    /// A scanner that does not look for the model: the caller knows it
    /// (from the request), so the answer is read for usage only —
    /// [`Reported::model`] stays `None`.
    #[must_use]
    pub fn without_model(mut self) -> Self {
        self.wants_model = false;
        self
    }

    /// Observes the next chunk of the answer.
    pub fn feed(&mut self, chunk: &Bytes) {
        self.skipped_last = false;
        match &mut self.mode {
            Mode::Json(ends) => ends.feed(chunk),
            Mode::Sse { parser, events } => {
                // Every event but one or two carries neither the model (once
                // known) nor a usage object: a chunk of whole such events is
                // not parsed, which was most of what telemetry added to a
                // streamed request.
                if !self.wants_model
                    && parser.between_events()
                    && ends_an_event(chunk)
                    && holds_no_usage(chunk, self.format)
                {
                    self.skipped_last = true;
                    return;
                }
                parser.feed(chunk, events);
                for event in events.drain(..) {
                    observe_event(
                        self.format,
                        &event.data,
                        self.wants_model,
                        &mut self.reported,
                    );
                    self.wants_model &= self.reported.model.is_none();
                }
            }
        }
    }

    /// Whether the last chunk fed was found to be whole stream events
    /// without a usage object (`false` when it was not looked at that way).
    #[must_use]
    pub fn last_chunk_holds_no_usage(&self) -> bool {
        self.skipped_last
    }

    /// What the answer reported, once it has ended.
    #[must_use]
    pub fn finish(mut self) -> Reported {
        match &mut self.mode {
            Mode::Json(ends) => {
                if self.wants_model {
                    self.reported.model = model_of_answer(&ends.head());
                }
                let key = usage_key(self.format);
                let tail = ends.tail();
                if let Some(start) = last_object_start(&tail, key) {
                    self.reported.usage = UsageCounts::of_leading(&tail[start..], self.format);
                }
            }
            Mode::Sse { parser, events } => {
                parser.finish(events);
                for event in events.drain(..) {
                    observe_event(
                        self.format,
                        &event.data,
                        self.wants_model,
                        &mut self.reported,
                    );
                    self.wants_model &= self.reported.model.is_none();
                }
            }
        }
        self.reported
    }
}

fn usage_key(format: ApiFormat) -> &'static JsonKey {
    match format {
        ApiFormat::GeminiNative => &USAGE_METADATA,
        ApiFormat::OpenaiCompatible | ApiFormat::OpenaiResponses | ApiFormat::AnthropicNative => {
            &USAGE
        }
    }
}

/// One stream event: its usage object, when it carries one, is read as a
/// JSON answer's is (the last one in the event: at the top in OpenAI's and
/// Gemini's chunks, under `message` or `response` in Anthropic's and
/// Responses' events), without parsing the rest. Counts are cumulative in
/// every format (Anthropic's `message_delta`, Gemini's chunks), so the
/// largest seen is the total.
fn observe_event(format: ApiFormat, data: &str, wants_model: bool, reported: &mut Reported) {
    if wants_model && reported.model.is_none() {
        reported.model = model_in(data.as_bytes());
    }
    let data = data.as_bytes();
    // The object is read from its start, and reading stops at its end: no
    // walk to find the end first (a cut object reads as no usage).
    let Some(start) = last_object_start(data, usage_key(format)) else {
        return;
    };
    let usage = UsageCounts::of_leading(&data[start..], format);
    let total = &mut reported.usage;
    total.input_tokens = total.input_tokens.max(usage.input_tokens);
    total.output_tokens = total.output_tokens.max(usage.output_tokens);
}

/// Whether `bytes` holds no usage object of `format`: every usage key in
/// them is `null` (OpenAI sends one in every chunk but the last once usage
/// is asked for) or there is none.
#[must_use]
pub fn holds_no_usage(bytes: &[u8], format: ApiFormat) -> bool {
    only_null_values(bytes, usage_key(format))
}

/// Whether an OpenAI Chat stream event is the usage-only chunk that
/// `stream_options.include_usage` adds (no choices, a usage object).
#[must_use]
pub fn is_openai_usage_chunk(data: &[u8]) -> bool {
    // A usage key whose value opens an object is enough: the event is whole
    // (its blank line came), and walking the object to its end to prove it
    // closes cost more than the rest of the test.
    value_start(data, &CHOICES, 0).is_some_and(|at| data[at..].starts_with(b"[]"))
        && last_object_start(data, &USAGE).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(format: ApiFormat, stream: bool, body: &str, chunk: usize) -> Reported {
        let mut scanner = UsageScanner::new(format, stream);
        for piece in body.as_bytes().chunks(chunk) {
            scanner.feed(&Bytes::copy_from_slice(piece));
        }
        scanner.finish()
    }

    #[test]
    fn json_answers_of_every_format() {
        let openai = r#"{"id":"x","model":"gpt-4o","choices":[{"message":{"content":"\"usage\": {\"prompt_tokens\": 99}"}}],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}"#;
        let anthropic = r#"{"id":"m","model":"claude-x","content":[{"type":"tool_use","input":{"usage":{"input_tokens":1000}}}],"usage":{"input_tokens":7,"output_tokens":3,"cache_read_input_tokens":2}}"#;
        let gemini = r#"{"candidates":[],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":6,"thoughtsTokenCount":2},"modelVersion":"gemini-2.5"}"#;
        let responses = r#"{"id":"r","model":"gpt-5","output":[],"usage":{"input_tokens":8,"output_tokens":9}}"#;
        for chunk in [1, 7, 4096] {
            let r = scan(ApiFormat::OpenaiCompatible, false, openai, chunk);
            assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (12, 5));
            assert_eq!(r.model.as_deref(), Some("gpt-4o"));
            let r = scan(ApiFormat::AnthropicNative, false, anthropic, chunk);
            assert_eq!(
                (r.usage.input_tokens, r.usage.output_tokens),
                (9, 3),
                "cached input counts"
            );
            let r = scan(ApiFormat::GeminiNative, false, gemini, chunk);
            assert_eq!(
                (r.usage.input_tokens, r.usage.output_tokens),
                (4, 8),
                "thoughts are output"
            );
            assert_eq!(r.model.as_deref(), Some("gemini-2.5"));
            let r = scan(ApiFormat::OpenaiResponses, false, responses, chunk);
            assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (8, 9));
        }
    }

    #[test]
    fn a_large_answer_keeps_only_its_ends() {
        let filler = "x".repeat(200_000);
        let body = format!(
            r#"{{"model":"m","choices":[{{"message":{{"content":"{filler}"}}}}],"usage":{{"prompt_tokens":1,"completion_tokens":2}}}}"#
        );
        for chunk in [1, 1000, 8192, 300_000] {
            let r = scan(ApiFormat::OpenaiCompatible, false, &body, chunk);
            assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (1, 2));
            assert_eq!(r.model.as_deref(), Some("m"), "chunks of {chunk}");
        }
    }

    #[test]
    fn only_the_ends_of_a_large_answer_are_held() {
        let mut ends = JsonEnds::default();
        for _ in 0..100 {
            ends.feed(&Bytes::from(vec![b'x'; 1000]));
        }
        assert!(
            ends.held >= TAIL && ends.held < TAIL + 1000,
            "{}",
            ends.held
        );
        assert_eq!(ends.head().len(), HEAD);
        assert_eq!(ends.dropped + ends.held, 100_000);
    }

    #[test]
    fn streams_of_every_format() {
        let openai = "data: {\"model\":\"gpt\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\ndata: [DONE]\n\n";
        let anthropic = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude\",\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}\n\n";
        let gemini = "data: {\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":1}}\r\n\r\ndata: {\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":9}}\r\n\r\n";
        let responses = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"model\":\"gpt-5\",\"usage\":null}}\n\nevent: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":6,\"output_tokens\":2}}}\n\n";
        for chunk in [1, 3, 64, 4096] {
            let r = scan(ApiFormat::OpenaiCompatible, true, openai, chunk);
            assert_eq!(
                (
                    r.usage.input_tokens,
                    r.usage.output_tokens,
                    r.model.as_deref()
                ),
                (3, 4, Some("gpt"))
            );
            let r = scan(ApiFormat::AnthropicNative, true, anthropic, chunk);
            assert_eq!(
                (
                    r.usage.input_tokens,
                    r.usage.output_tokens,
                    r.model.as_deref()
                ),
                (10, 15, Some("claude"))
            );
            let r = scan(ApiFormat::GeminiNative, true, gemini, chunk);
            assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (5, 9));
            let r = scan(ApiFormat::OpenaiResponses, true, responses, chunk);
            assert_eq!(
                (
                    r.usage.input_tokens,
                    r.usage.output_tokens,
                    r.model.as_deref()
                ),
                (6, 2, Some("gpt-5"))
            );
        }
    }

    #[test]
    fn no_usage_reads_as_zero_and_garbage_never_panics() {
        assert_eq!(
            scan(ApiFormat::OpenaiCompatible, false, "{\"usage\":{", 3).usage,
            Usage::default()
        );
        assert_eq!(
            scan(
                ApiFormat::GeminiNative,
                true,
                "data: {\"usageMetadata\": [1,2}\n\n",
                2
            )
            .usage,
            Usage::default()
        );
        assert_eq!(
            scan(ApiFormat::AnthropicNative, false, "", 1),
            Reported::default()
        );
    }

    #[test]
    fn a_streamed_usage_object_is_read_up_to_its_end_and_a_cut_one_counts_nothing() {
        let whole = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3},\"x\":{\"y\":1}}\n\n";
        let cut =
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3\n\n";
        for chunk in [1, 7, whole.len()] {
            let read = scan(ApiFormat::OpenaiCompatible, true, whole, chunk).usage;
            assert_eq!(
                (read.input_tokens, read.output_tokens),
                (5, 3),
                "chunks of {chunk}"
            );
            let read = scan(ApiFormat::OpenaiCompatible, true, cut, chunk).usage;
            assert_eq!(
                (read.input_tokens, read.output_tokens),
                (0, 0),
                "chunks of {chunk}"
            );
        }
    }

    #[test]
    fn the_include_usage_chunk_is_recognised() {
        assert!(is_openai_usage_chunk(
            br#"{"id":"c","choices":[],"usage":{"prompt_tokens":1}}"#
        ));
        assert!(
            is_openai_usage_chunk(br#"{"id":"c","choices":[],"usage":{"prompt_tokens":1"#),
            "an object cut short is still the chunk the gateway asked for"
        );
        assert!(!is_openai_usage_chunk(
            br#"{"id":"c","choices":[{"delta":{}}],"usage":null}"#
        ));
        assert!(!is_openai_usage_chunk(
            br#"{"id":"c","choices":[],"usage":null}"#
        ));
    }

    /// Events a stream may hold, in every shape the fast path has to tell
    /// apart from the slow one.
    const EVENTS: [&str; 9] = [
        "data: {\"model\":\"gpt\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"usage\": null}\r\n\r\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n",
        "data: {\"choices\":[],\"usage\"\ndata: :{\"prompt_tokens\":7,\"completion_tokens\":8}}\n\n",
        ": heartbeat\n\n",
        "event: note\ndata: {\"text\":\"\\\"usage\\\":{}\"}\n\n",
        "data: {\"model\":\"other\",\"choices\":[]}\n\n",
        "data: [DONE]\n\n",
        "data: {\"choices\":[],\"usage\":\nnull\ndata: {\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n",
    ];

    /// Feeds a model event, a usage-less one, a usage event and the end,
    /// one chunk each; which chunks were skipped unread.
    fn skips(scanner: &mut UsageScanner) -> Vec<bool> {
        [EVENTS[0], EVENTS[1], EVENTS[2], EVENTS[7]]
            .into_iter()
            .map(|event| {
                scanner.feed(&Bytes::from_static(event.as_bytes()));
                scanner.last_chunk_holds_no_usage()
            })
            .collect()
    }

    #[test]
    fn whole_events_without_usage_are_skipped_and_usage_events_read() {
        let mut scanner = UsageScanner::new(ApiFormat::OpenaiCompatible, true);
        for event in [EVENTS[0], EVENTS[1], EVENTS[1], EVENTS[2], EVENTS[7]] {
            scanner.feed(&Bytes::from_static(event.as_bytes()));
        }
        let r = scanner.finish();
        assert_eq!(
            (
                r.usage.input_tokens,
                r.usage.output_tokens,
                r.model.as_deref()
            ),
            (3, 4, Some("gpt"))
        );
        assert!(holds_no_usage(
            EVENTS[0].as_bytes(),
            ApiFormat::OpenaiCompatible
        ));
        assert!(holds_no_usage(
            EVENTS[1].as_bytes(),
            ApiFormat::OpenaiCompatible
        ));
        assert!(!holds_no_usage(
            EVENTS[2].as_bytes(),
            ApiFormat::OpenaiCompatible
        ));
        assert!(!holds_no_usage(
            EVENTS[3].as_bytes(),
            ApiFormat::OpenaiCompatible
        ));
        assert!(
            !holds_no_usage(EVENTS[8].as_bytes(), ApiFormat::OpenaiCompatible),
            "a null on a line of its own is no SSE data"
        );
        assert!(ends_an_event(EVENTS[1].as_bytes()) && !ends_an_event(b"data: x\n"));
        let mut scanner = UsageScanner::new(ApiFormat::OpenaiCompatible, true);
        assert_eq!(
            skips(&mut scanner),
            [false, true, false, true],
            "the model is read first"
        );
    }

    #[test]
    fn a_scanner_told_the_model_reads_usage_only_and_skips_from_the_start() {
        let openai =
            r#"{"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5}}"#;
        for chunk in [1, 7, 4096] {
            let mut scanner = UsageScanner::new(ApiFormat::OpenaiCompatible, false).without_model();
            for piece in openai.as_bytes().chunks(chunk) {
                scanner.feed(&Bytes::copy_from_slice(piece));
            }
            let r = scanner.finish();
            assert_eq!(
                (r.usage.input_tokens, r.usage.output_tokens, r.model),
                (12, 5, None)
            );
        }
        let mut scanner = UsageScanner::new(ApiFormat::OpenaiCompatible, true).without_model();
        assert_eq!(
            skips(&mut scanner),
            [true, true, false, true],
            "no event is read for the model"
        );
        let r = scanner.finish();
        assert_eq!(
            (r.usage.input_tokens, r.usage.output_tokens, r.model),
            (3, 4, None)
        );
    }

    proptest::proptest! {
        /// Chunks cut anywhere, event ends included (where whole events are
        /// skipped), report what reading byte by byte (never skipping) does.
        #[test]
        fn any_chunking_reports_what_byte_by_byte_reading_does(
            picks in proptest::collection::vec(0..EVENTS.len(), 0..12),
            cuts in proptest::collection::vec(proptest::bool::ANY, 0..12),
            split in 0usize..400,
            model_known in proptest::bool::ANY,
        ) {
            let events: Vec<&str> = picks.iter().map(|&i| EVENTS[i]).collect();
            let body = events.concat();
            let mut scanner = UsageScanner::new(ApiFormat::OpenaiCompatible, true);
            if model_known {
                scanner = scanner.without_model();
            }
            // Event by event, some events cut in two.
            for (event, cut) in events.iter().zip(cuts.iter().chain(std::iter::repeat(&false))) {
                let at = if *cut { split % event.len() } else { event.len() };
                scanner.feed(&Bytes::copy_from_slice(&event.as_bytes()[..at]));
                scanner.feed(&Bytes::copy_from_slice(&event.as_bytes()[at..]));
            }
            let mut expected = scan(ApiFormat::OpenaiCompatible, true, &body, 1);
            if model_known {
                expected.model = None;
            }
            proptest::prop_assert_eq!(scanner.finish(), expected);
        }
    }
}

//! Stream conversion: upstream SSE bytes → universal events → the client's
//! SSE framing, one event at a time, flushed as it comes.

use crate::sse::{SseEvent, SseParser};
use crate::ConvertError;
use domain::chat::{StreamEvent, Usage};

/// One format's SSE events → universal events.
pub trait Decoder: Send {
    /// Converts one upstream event.
    ///
    /// # Errors
    /// [`ConvertError::BadUpstream`] for an event that is not the format's.
    fn event(&mut self, event: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), ConvertError>;
    /// Whether the upstream signalled a proper end (a stream cut before it
    /// ends with an error event, never silently).
    fn complete(&self) -> bool;
}

/// Universal events → one format's SSE events.
pub trait Encoder: Send {
    /// Writes the framing of one event.
    fn event(&mut self, event: StreamEvent, out: &mut String);
    /// Writes the format's end of stream.
    fn finish(&mut self, out: &mut String);
}

/// Usage seen so far: counts only grow, field by field, whichever event carried them.
#[derive(Debug, Default, Clone, Copy)]
pub struct UsageAcc(Usage);

impl UsageAcc {
    /// Folds in a later report.
    pub fn merge(&mut self, u: Usage) {
        let a = &mut self.0;
        a.input_tokens = a.input_tokens.max(u.input_tokens);
        a.output_tokens = a.output_tokens.max(u.output_tokens);
        a.cached_tokens = a.cached_tokens.max(u.cached_tokens);
        a.reasoning_tokens = a.reasoning_tokens.max(u.reasoning_tokens);
    }

    /// The counts.
    #[must_use]
    pub fn get(&self) -> Usage {
        self.0
    }
}

/// Converts one streamed response.
pub struct StreamConverter {
    parser: SseParser,
    decoder: Box<dyn Decoder>,
    encoder: Box<dyn Encoder>,
    events: Vec<SseEvent>,
    universal: Vec<StreamEvent>,
    /// Model name the client asked for, shown instead of the upstream's when model_map renamed it.
    model_override: Option<String>,
    fallback_model: String,
    ended: bool,
}

impl StreamConverter {
    pub(crate) fn new(
        decoder: Box<dyn Decoder>,
        encoder: Box<dyn Encoder>,
        model_override: Option<String>,
        fallback_model: String,
    ) -> Self {
        Self {
            parser: SseParser::new(),
            decoder,
            encoder,
            events: Vec::new(),
            universal: Vec::new(),
            model_override,
            fallback_model,
            ended: false,
        }
    }

    /// Converts a chunk of upstream bytes; returns the client's bytes (maybe none yet).
    pub fn feed(&mut self, chunk: &[u8]) -> String {
        let mut out = String::new();
        self.parser.feed(chunk, &mut self.events);
        self.drain(&mut out);
        out
    }

    /// The upstream stream ended (cleanly or not); returns the client's last bytes.
    pub fn finish(&mut self) -> String {
        let mut out = String::new();
        self.parser.finish(&mut self.events);
        self.drain(&mut out);
        if !self.ended {
            if !self.decoder.complete() {
                self.emit(
                    StreamEvent::Error {
                        kind: "api_error".into(),
                        message: "the upstream stream ended before the response was complete"
                            .into(),
                    },
                    &mut out,
                );
            }
            if !self.ended {
                self.ended = true;
                self.encoder.finish(&mut out);
            }
        }
        out
    }

    /// The stream was cut by a transport error: the client gets a
    /// format-correct error event, never a silent clean end.
    pub fn fail(&mut self, message: &str) -> String {
        let mut out = String::new();
        if !self.ended {
            self.emit(
                StreamEvent::Error {
                    kind: "api_error".into(),
                    message: message.to_owned(),
                },
                &mut out,
            );
        }
        out
    }

    fn drain(&mut self, out: &mut String) {
        let events = std::mem::take(&mut self.events);
        for event in &events {
            if self.ended {
                break;
            }
            if let Err(error) = self.decoder.event(event, &mut self.universal) {
                tracing::warn!(%error, excerpt = %crate::errors::excerpt(&event.data), "unreadable upstream stream event");
                self.universal.push(StreamEvent::Error {
                    kind: "api_error".into(),
                    message: error.to_string(),
                });
            }
            let universal = std::mem::take(&mut self.universal);
            for event in universal {
                self.emit(event, out);
            }
        }
        self.events = events;
        self.events.clear();
    }

    fn emit(&mut self, event: StreamEvent, out: &mut String) {
        if self.ended {
            return;
        }
        let event = match event {
            StreamEvent::Start { id, model } => StreamEvent::Start {
                id,
                model: match &self.model_override {
                    Some(model) => model.clone(),
                    None if model.is_empty() => self.fallback_model.clone(),
                    None => model,
                },
            },
            other => other,
        };
        let is_error = matches!(event, StreamEvent::Error { .. });
        self.encoder.event(event, out);
        if is_error {
            self.ended = true;
        }
    }
}

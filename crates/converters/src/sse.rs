//! Server-sent events: an incremental parser that accepts any network
//! chunking (a multi-byte character or a CRLF split across chunks), LF, CR
//! and CRLF line endings, comments and heartbeats, `event:` lines and
//! multi-line `data:`; and the framing of outgoing events.

/// One event of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` name, when given.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Turns byte chunks into events.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of an unfinished line.
    line: Vec<u8>,
    /// The last byte seen was a CR, so a leading LF of the next chunk ends nothing.
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseParser {
    /// A parser at the start of a stream.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk; complete events are appended to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) {
        for &byte in chunk {
            match byte {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    self.line_done(&line, out);
                    self.line = line;
                    self.line.clear();
                }
                _ => {
                    self.after_cr = false;
                    self.line.push(byte);
                }
            }
        }
    }

    /// The stream ended: an event not yet terminated by a blank line is
    /// still delivered (some servers omit the final blank line).
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, out);
        }
        self.dispatch(out);
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return; // comment or heartbeat
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (text.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_owned()),
            _ => {} // id, retry and unknown fields carry nothing we convert
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if self.has_data {
            out.push(SseEvent {
                event,
                data: std::mem::take(&mut self.data),
            });
        }
        self.has_data = false;
    }
}

/// Appends one event in SSE framing.
pub fn write_event(out: &mut String, event: Option<&str>, data: &str) {
    if let Some(event) = event {
        out.push_str("event: ");
        out.push_str(event);
        out.push('\n');
    }
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out);
        }
        parser.finish(&mut out);
        out
    }

    fn data(d: &str) -> SseEvent {
        SseEvent {
            event: None,
            data: d.to_owned(),
        }
    }

    #[test]
    fn multi_byte_character_split_across_chunks() {
        let text = "data: {\"t\":\"h\u{e9}llo \u{1f600}\"}\n\n".as_bytes();
        let split = text.iter().position(|&b| b == 0xf0).unwrap() + 2;
        let events = parse_chunks(&[&text[..split], &text[split..]]);
        assert_eq!(events, vec![data("{\"t\":\"h\u{e9}llo \u{1f600}\"}")]);
    }

    #[test]
    fn crlf_and_cr_endings_even_split_between_cr_and_lf() {
        let events = parse_chunks(&[b"data: a\r", b"\n\r\ndata: b\r\r", b"data: c\n\n"]);
        assert_eq!(events, vec![data("a"), data("b"), data("c")]);
    }

    #[test]
    fn comments_heartbeats_event_names_and_multi_line_data() {
        let events = parse_chunks(&[
            b": ping\n\nevent: message_start\ndata: {\"a\":1}\n\n:\n\ndata: x\ndata: y\nid: 3\nretry: 10\n\n",
        ]);
        assert_eq!(
            events,
            vec![
                SseEvent {
                    event: Some("message_start".into()),
                    data: "{\"a\":1}".into()
                },
                data("x\ny")
            ]
        );
    }

    #[test]
    fn a_last_event_without_blank_line_is_delivered() {
        assert_eq!(parse_chunks(&[b"data: [DONE]"]), vec![data("[DONE]")]);
        assert_eq!(parse_chunks(&[b"data: 1\n"]), vec![data("1")]);
    }

    #[test]
    fn framing_round_trips() {
        let mut out = String::new();
        write_event(&mut out, Some("e"), "a\nb");
        assert_eq!(out, "event: e\ndata: a\ndata: b\n\n");
        let events = parse_chunks(&[out.as_bytes()]);
        assert_eq!(
            events,
            vec![SseEvent {
                event: Some("e".into()),
                data: "a\nb".into()
            }]
        );
    }
}

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
        // Line ends are found with memchr and lines copied whole: a byte at a
        // time, this loop was most of what reading a stream's usage cost.
        let mut rest = chunk;
        while !rest.is_empty() {
            if std::mem::take(&mut self.after_cr) && rest[0] == b'\n' {
                rest = &rest[1..]; // the LF of a CRLF split across chunks
                continue;
            }
            let Some(end) = memchr::memchr2(b'\n', b'\r', rest) else {
                self.line.extend_from_slice(rest);
                return;
            };
            self.line.extend_from_slice(&rest[..end]);
            self.after_cr = rest[end] == b'\r';
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, out);
            self.line = line;
            self.line.clear();
            rest = &rest[end + 1..];
        }
    }

    /// Whether the parser is between events: nothing of an event or a line
    /// held, so bytes can be skipped up to the next event's start.
    #[must_use]
    pub fn between_events(&self) -> bool {
        self.line.is_empty() && !self.after_cr && !self.has_data && self.event.is_none()
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
        // Split on the byte: a colon is never part of a multi-byte
        // character, so this is the split of the decoded line.
        let (field, value) = match memchr::memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&text(value));
                self.has_data = true;
            }
            b"event" => self.event = Some(text(value).into_owned()),
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

/// A field's value as text: invalid UTF-8 is replaced, as
/// `String::from_utf8_lossy` does, but valid text (all of it, in practice) is
/// checked by the fast validator instead of the lossy one's chunk by chunk
/// walk.
fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Length of the first complete event in `bytes` (through its blank line:
/// `\n\n`, or a CRLF blank line after an LF or CRLF line), if any: the
/// byte-level view of event ends that the relay's fast paths share. A
/// CR-only stream has none here and is left to [`SseParser`].
#[must_use]
pub fn event_end(bytes: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = memchr::memchr(b'\n', &bytes[from..]) {
        let lf = from + found;
        match bytes.get(lf + 1) {
            Some(b'\n') => return Some(lf + 2),
            Some(b'\r') if bytes.get(lf + 2) == Some(&b'\n') => return Some(lf + 3),
            _ => from = lf + 1,
        }
    }
    None
}

/// Whether `bytes` end where an event ends, as [`event_end`] finds ends.
#[must_use]
pub fn ends_an_event(bytes: &[u8]) -> bool {
    bytes.ends_with(b"\n\n") || bytes.ends_with(b"\n\r\n")
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

    /// The stream fed one byte at a time: every line end and CRLF falls on a
    /// chunk boundary, the cases the chunked reading must get right.
    fn parse_byte_by_byte(bytes: &[u8]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        for byte in bytes {
            parser.feed(std::slice::from_ref(byte), &mut out);
        }
        parser.finish(&mut out);
        out
    }

    proptest::proptest! {
        #[test]
        fn any_chunking_gives_the_events_of_byte_by_byte_reading(
            pieces in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("data: {\"a\": 1}".to_owned()),
                    proptest::strategy::Just("event: e".to_owned()),
                    proptest::strategy::Just(": ping".to_owned()),
                    proptest::strategy::Just("\r".to_owned()),
                    proptest::strategy::Just("\n".to_owned()),
                    proptest::strategy::Just("\r\n".to_owned()),
                    proptest::strategy::Just("data:x\u{e9}".to_owned()),
                    "[a-z: ]{0,6}",
                ],
                0..24,
            ),
            cuts in proptest::collection::vec(0usize..200, 0..6),
        ) {
            let text = pieces.concat();
            let bytes = text.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut from = 0;
            for cut in cuts {
                chunks.push(&bytes[from..cut]);
                from = cut;
            }
            chunks.push(&bytes[from..]);
            proptest::prop_assert_eq!(parse_chunks(&chunks), parse_byte_by_byte(bytes));
        }
    }

    /// The first end of `\n\n` or `\n\r\n` (how `\r\n\r\n` ends), found
    /// the plain way.
    fn event_end_by_windows(bytes: &[u8]) -> Option<usize> {
        let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
        let crlf = bytes.windows(3).position(|w| w == b"\n\r\n").map(|i| i + 3);
        match (lf, crlf) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    proptest::proptest! {
        #[test]
        fn event_ends_are_found_as_by_plain_search(bytes in proptest::collection::vec(
            proptest::sample::select(vec![b'\n', b'\r', b'a', b':']), 0..40)) {
            proptest::prop_assert_eq!(event_end(&bytes), event_end_by_windows(&bytes));
        }
    }

    #[test]
    fn invalid_utf8_is_replaced_and_a_colon_in_a_value_kept() {
        let events = parse_chunks(&[b"event: a\xffb\ndata: x:\xc3\n\n"]);
        assert_eq!(
            events,
            vec![SseEvent {
                event: Some("a\u{fffd}b".into()),
                data: "x:\u{fffd}".into()
            }]
        );
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

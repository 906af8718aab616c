//! Dropping the usage-only chunk of an OpenAI Chat stream (SPEC §5.4: asked
//! for by the gateway, not by the client); every other event passes byte
//! for byte. Works on whole events, so bytes wait for their event's end.

use actix_web::web::Bytes;
use converters::usage;
use domain::ApiFormat;

/// The only format whose stream has the chunk.
const OPENAI: ApiFormat = ApiFormat::OpenaiCompatible;

/// The filter of one relayed stream.
#[derive(Default)]
pub(super) struct UsageChunkFilter {
    /// Bytes of an event not yet ended.
    pending: Vec<u8>,
}

impl UsageChunkFilter {
    /// The bytes of `chunk` to relay now; `no_usage`: the chunk is already
    /// known to be whole events without a usage object.
    pub(super) fn feed(&mut self, chunk: &Bytes, no_usage: bool) -> Bytes {
        if self.pending.is_empty() {
            // Whole events without a usage object, as every chunk but one
            // is, pass without being split into events.
            if no_usage || (usage::ends_an_event(chunk) && usage::holds_no_usage(chunk, OPENAI)) {
                return chunk.clone();
            }
            if let Some(kept) = relayed_as_it_is(chunk) {
                return kept;
            }
        }
        self.pending.extend_from_slice(chunk);
        let mut out = Vec::with_capacity(self.pending.len());
        let mut start = 0;
        while let Some(end) = event_end(&self.pending[start..]) {
            let event = &self.pending[start..start + end];
            if !is_usage_chunk(event) {
                out.extend_from_slice(event);
            }
            start += end;
        }
        self.pending.drain(..start);
        Bytes::from(out)
    }

    /// What is left when the stream ends (an event without its blank line).
    pub(super) fn rest(&mut self) -> Bytes {
        Bytes::from(std::mem::take(&mut self.pending))
    }
}

/// `chunk` itself, shared rather than copied, when it holds whole events and
/// none is the usage chunk: every chunk of a stream but one, when the
/// upstream sends whole events.
fn relayed_as_it_is(chunk: &Bytes) -> Option<Bytes> {
    let mut start = 0;
    while start < chunk.len() {
        let end = event_end(&chunk[start..])?;
        if is_usage_chunk(&chunk[start..start + end]) {
            return None;
        }
        start += end;
    }
    Some(chunk.clone())
}

fn is_usage_chunk(event: &[u8]) -> bool {
    let data = event.strip_prefix(b"data:").unwrap_or(event);
    usage::is_openai_usage_chunk(data)
}

/// Length of the first complete event (through its blank line: `\n\n`,
/// `\r\n\r\n` or `\n\r\n`), if any. Line feeds are found with memchr: a two-byte and a
/// four-byte window compared at every position cost more than the rest of
/// the relay.
fn event_end(bytes: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = memchr::memchr(b'\n', &bytes[from..]) {
        let lf = from + found;
        match bytes.get(lf + 1) {
            Some(b'\n') => return Some(lf + 2),
            // A blank line ended by CRLF, after a line ended by CRLF or LF.
            Some(b'\r') if bytes.get(lf + 2) == Some(&b'\n') => return Some(lf + 3),
            _ => from = lf + 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

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

    const USAGE: &str = "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":5}}\n\n";

    fn relayed(chunks: &[&str]) -> String {
        let mut filter = UsageChunkFilter::default();
        let mut out = Vec::new();
        for chunk in chunks {
            out.extend_from_slice(&filter.feed(&Bytes::copy_from_slice(chunk.as_bytes()), false));
        }
        out.extend_from_slice(&filter.rest());
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn the_usage_chunk_is_dropped_however_the_stream_is_cut() {
        let first = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
        let done = "data: [DONE]\n\n";
        let whole = format!("{first}{USAGE}{done}");
        let expected = format!("{first}{done}");
        assert_eq!(relayed(&[&whole]), expected);
        assert_eq!(relayed(&[first, USAGE, done]), expected);
        for cut in 1..whole.len() {
            assert_eq!(
                relayed(&[&whole[..cut], &whole[cut..]]),
                expected,
                "cut at {cut}"
            );
        }
        let mixed = format!("data: {{\"choices\":[{{}}]}}\n\r\n{USAGE}{done}");
        assert_eq!(
            relayed(&[&mixed]),
            format!("data: {{\"choices\":[{{}}]}}\n\r\n{done}"),
            "a blank line ended by CRLF after an LF line ends the event"
        );
        let crlf = whole.replace('\n', "\r\n");
        assert_eq!(relayed(&[&crlf]), expected.replace('\n', "\r\n"));
    }

    #[test]
    fn whole_events_without_the_usage_chunk_are_relayed_without_a_copy() {
        let chunk = Bytes::from_static(b"data: {\"choices\":[]}\n\ndata: [DONE]\n\n");
        let kept = UsageChunkFilter::default().feed(&chunk, false);
        assert_eq!(kept.as_ptr(), chunk.as_ptr(), "the same bytes, shared");
        assert_eq!(kept, chunk);
        // As OpenAI streams once usage is asked for: a null usage in every chunk.
        let with_null = Bytes::from_static(b"data: {\"choices\":[{}],\"usage\":null}\n\n");
        let kept = UsageChunkFilter::default().feed(&with_null, false);
        assert_eq!(kept.as_ptr(), with_null.as_ptr());
        let stream = [
            "data: {\"choices\":[{}],\"usage\":null}\n\n",
            USAGE,
            "data: [DONE]\n\n",
        ];
        assert_eq!(relayed(&stream), format!("{}{}", stream[0], stream[2]));
    }

    #[test]
    fn an_unfinished_event_waits_and_is_kept_at_the_end() {
        let mut filter = UsageChunkFilter::default();
        assert!(filter
            .feed(&Bytes::from_static(b"data: {\"a\":1}"), false)
            .is_empty());
        assert_eq!(&filter.rest()[..], b"data: {\"a\":1}");
    }
}

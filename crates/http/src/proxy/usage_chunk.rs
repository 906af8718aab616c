//! Dropping the usage-only chunk of an OpenAI Chat stream (SPEC §5.4: asked
//! for by the gateway, not by the client); every other event passes byte
//! for byte. Works on whole events, so bytes wait for their event's end.

use actix_web::web::Bytes;
use converters::sse::{ends_an_event, event_end};
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
            if no_usage || (ends_an_event(chunk) && usage::holds_no_usage(chunk, OPENAI)) {
                return chunk.clone();
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

fn is_usage_chunk(event: &[u8]) -> bool {
    let data = event.strip_prefix(b"data:").unwrap_or(event);
    usage::is_openai_usage_chunk(data)
}

#[cfg(test)]
mod tests {
    use super::*;

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

//! What every request-parser fuzz target does, for its format.

use converters::Operation;
use domain::llm::ClientFormat;

const FORMATS: [ClientFormat; 4] = [
    ClientFormat::Openai,
    ClientFormat::OpenaiResponses,
    ClientFormat::Anthropic,
    ClientFormat::Gemini,
];

/// `data` as a request of `format` (then written in every format) and as an
/// upstream answer of `format` (then written in every format): errors are
/// fine, panics are not.
pub fn request_and_response(format: ClientFormat, data: &[u8]) {
    let operation = Operation::Chat {
        model: Some("m".into()),
        stream: false,
    };
    if let Ok(request) = converters::parse_request(format, &operation, data) {
        for target in FORMATS {
            let _ = converters::render_request(target, &request, 4096);
        }
    }
    if let Ok(response) = converters::parse_response(format, data) {
        for target in FORMATS {
            let _ = converters::render_response(target, &response);
        }
    }
}

/// `data[0]` picks the upstream and client formats and the chunk size; the
/// rest is an SSE stream fed to that converter.
pub fn stream(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let upstream = FORMATS[usize::from(selector & 3)];
    let client = FORMATS[usize::from((selector >> 2) & 3)];
    let chunk = usize::from(selector >> 4) + 1;
    let mut converter =
        converters::stream_converter(upstream, client, "m", selector & 1 == 0, true);
    for piece in bytes.chunks(chunk) {
        let _ = converter.feed(piece);
    }
    let _ = converter.finish();
    let _ = converter.fail("cut");
}

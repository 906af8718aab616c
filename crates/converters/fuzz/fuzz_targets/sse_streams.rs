//! The SSE parser and every stream converter (upstream decoder × client
//! encoder) on arbitrary bytes, cut into chunks at arbitrary places.
#![no_main]

use domain::llm::ClientFormat;
use libfuzzer_sys::fuzz_target;

const FORMATS: [ClientFormat; 4] = [
    ClientFormat::Openai,
    ClientFormat::OpenaiResponses,
    ClientFormat::Anthropic,
    ClientFormat::Gemini,
];

fuzz_target!(|data: &[u8]| {
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
});

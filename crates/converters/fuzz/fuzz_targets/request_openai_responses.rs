//! The openai_responses request parser, then every request writer, on arbitrary bytes:
//! errors are fine, panics are not.
#![no_main]

use converters::Operation;
use domain::llm::ClientFormat;
use libfuzzer_sys::fuzz_target;

const FORMATS: [ClientFormat; 4] = [
    ClientFormat::Openai,
    ClientFormat::OpenaiResponses,
    ClientFormat::Anthropic,
    ClientFormat::Gemini,
];

fuzz_target!(|data: &[u8]| {
    let operation = Operation::Chat {
        model: Some("m".into()),
        stream: false,
    };
    if let Ok(request) = converters::parse_request(ClientFormat::OpenaiResponses, &operation, data)
    {
        for target in FORMATS {
            let _ = converters::render_request(target, &request, 4096);
        }
    }
    // The same bytes as an upstream answer in this format.
    if let Ok(response) = converters::parse_response(ClientFormat::OpenaiResponses, data) {
        for target in FORMATS {
            let _ = converters::render_response(target, &response);
        }
    }
});

//! The openai_responses request and response parsers on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    converters_fuzz::request_and_response(domain::llm::ClientFormat::OpenaiResponses, data);
});

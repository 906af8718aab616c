//! The SSE parser and every stream converter on arbitrary bytes, cut into
//! chunks at arbitrary places.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| converters_fuzz::stream(data));

//! Conversion speed (issue 5 targets, recorded in docs/benchmarks.md):
//! - non-streamed: a ~2 KB OpenAI Chat request converted for Anthropic, and
//!   the Anthropic answer converted back (target ≥ 20,000 requests/s on one core);
//! - streams: Anthropic SSE events converted to OpenAI chunks (target ≥ 50,000 events/s);
//! - time to first token: a fresh converter turning the first upstream bytes
//!   into the client's first event (target: p99 ≤ 1 ms), printed as percentiles.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use converters::{Operation, Options};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use domain::llm::ClientFormat;
use serde_json::json;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

fn chat_request() -> Vec<u8> {
    let mut messages = vec![
        json!({"role": "system", "content": "You are a helpful assistant. Answer briefly and precisely."}),
    ];
    for i in 0..8 {
        messages.push(json!({"role": "user", "content": format!("Question {i}: what is the capital of country number {i}, and why does it matter for trade?")}));
        messages.push(json!({"role": "assistant", "content": format!("Answer {i}: the capital is City {i}; it matters because of its port and rail links.")}));
    }
    messages
        .push(json!({"role": "user", "content": "Summarise all of the above in one sentence."}));
    let body = json!({"model": "gpt-4o-mini", "messages": messages, "temperature": 0.3, "max_tokens": 200,
        "tools": [{"type": "function", "function": {"name": "lookup", "description": "Look a city up",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]});
    serde_json::to_vec(&body).unwrap()
}

fn anthropic_answer() -> Vec<u8> {
    serde_json::to_vec(&json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
        "content": [{"type": "text", "text": "All capitals matter for trade because of ports and rail."}],
        "stop_reason": "end_turn", "usage": {"input_tokens": 420, "output_tokens": 14}}))
    .unwrap()
}

fn anthropic_stream(deltas: usize) -> Vec<u8> {
    let mut out = String::from("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude\",\"content\":[],\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n");
    out.push_str("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
    for i in 0..deltas {
        out.push_str(&format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"token{i} \"}}}}\n\n"));
    }
    out.push_str(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    );
    out.push_str("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":1000}}\n\n");
    out.push_str("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    out.into_bytes()
}

fn non_streamed(c: &mut Criterion) {
    let body = chat_request();
    let answer = anthropic_answer();
    let map = BTreeMap::new();
    let options = Options {
        model_map: &map,
        default_max_tokens: 4096,
    };
    let operation = Operation::Chat {
        model: None,
        stream: false,
    };
    let mut group = c.benchmark_group("non_streamed");
    group.throughput(Throughput::Elements(1));
    group.bench_function(
        BenchmarkId::new("openai_to_anthropic_request_and_answer", body.len()),
        |b| {
            b.iter(|| {
                let prepared = converters::prepare_chat(
                    ClientFormat::Openai,
                    ClientFormat::Anthropic,
                    &operation,
                    black_box(&body),
                    options,
                )
                .unwrap();
                black_box(prepared.convert_response(black_box(&answer)).unwrap())
            });
        },
    );
    group.finish();
}

fn streamed(c: &mut Criterion) {
    let events = 1000;
    let stream = anthropic_stream(events);
    let mut group = c.benchmark_group("stream");
    group.throughput(Throughput::Elements(events as u64));
    group.bench_function("anthropic_to_openai_events", |b| {
        b.iter(|| {
            let mut converter = converters::stream_converter(
                ClientFormat::Anthropic,
                ClientFormat::Openai,
                "m",
                false,
                true,
            );
            let mut bytes = 0;
            // Network-sized chunks.
            for chunk in black_box(&stream).chunks(1400) {
                bytes += converter.feed(chunk).len();
            }
            bytes += converter.finish().len();
            black_box(bytes)
        });
    });
    group.finish();
}

/// p50/p99/max of the gateway's own work between the first upstream bytes
/// and the client's first text event.
fn time_to_first_token() {
    let stream = anthropic_stream(1);
    let first = &stream[..stream
        .windows(18)
        .position(|w| w == b"content_block_stop")
        .unwrap()];
    let mut samples: Vec<u128> = (0..20_000)
        .map(|_| {
            let started = Instant::now();
            let mut converter = converters::stream_converter(
                ClientFormat::Anthropic,
                ClientFormat::Openai,
                "m",
                false,
                true,
            );
            let out = converter.feed(black_box(first));
            assert!(out.contains("token0"));
            started.elapsed().as_nanos()
        })
        .collect();
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize] as f64 / 1000.0;
    println!(
        "time_to_first_token_overhead_us p50={:.1} p99={:.1} max={:.1}",
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

fn first_token(_: &mut Criterion) {
    time_to_first_token();
}

criterion_group!(benches, non_streamed, streamed, first_token);
criterion_main!(benches);

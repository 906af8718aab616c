//! A mock upstream: a real HTTP server speaking just enough OpenAI (chat,
//! responses, models), Anthropic (messages) and Gemini (generateContent,
//! streamGenerateContent with `alt=sse`), plus generic endpoints (echo,
//! bytes, timed SSE). It records every request and injects faults per
//! upstream key or for the next requests.

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One request as the mock saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Method.
    pub method: String,
    /// Path, as sent.
    pub path: String,
    /// Raw query string.
    pub query: String,
    /// Headers in arrival order (names lower case).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
    /// The upstream key found in the request, if any.
    pub key: Option<String>,
}

impl Recorded {
    /// Every value of a header.
    #[must_use]
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The whole request as text, for "never contains" checks.
    #[must_use]
    pub fn as_text(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect();
        format!(
            "{} {}?{}\n{}\n\n{}",
            self.method,
            self.path,
            self.query,
            headers.join("\n"),
            String::from_utf8_lossy(&self.body)
        )
    }
}

/// An injected misbehaviour.
#[derive(Debug, Clone, Default)]
pub struct Fault {
    /// Status to answer (200 when only a delay is wanted).
    pub status: u16,
    /// Extra response headers (e.g. `retry-after`).
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: String,
    /// Wait before answering.
    pub delay: Duration,
    /// Send the head and an SSE heartbeat, then cut the connection.
    pub drop_connection: bool,
}

impl Fault {
    /// Answers `status` with a JSON error body.
    #[must_use]
    pub fn status(status: u16) -> Self {
        Self {
            status,
            body: json!({"error": {"message": format!("mock fault {status}"), "type": "mock"}})
                .to_string(),
            ..Self::default()
        }
    }

    /// Answers 200 with `body` instead of the usual answer.
    #[must_use]
    pub fn answer(body: &Value) -> Self {
        Self {
            status: 200,
            body: body.to_string(),
            ..Self::default()
        }
    }

    /// Answers normally, after `delay`.
    #[must_use]
    pub fn delay(delay: Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }
}

#[derive(Default)]
struct MockState {
    /// Off for benchmarks, where keeping every request would grow without bound.
    not_recording: std::sync::atomic::AtomicBool,
    recorded: Mutex<Vec<Recorded>>,
    /// Streams dropped before their last event (the client went away).
    cancelled_streams: Arc<std::sync::atomic::AtomicUsize>,
    key_faults: Mutex<HashMap<String, Fault>>,
    next_faults: Mutex<VecDeque<Fault>>,
    rotating: Mutex<Option<RotatingFaults>>,
}

/// A changing share of keys that misbehave (for soak runs): every `period`,
/// a pseudo-random `share` of the keys answer 429, 500 or stall for 3 s.
#[derive(Debug, Clone, Copy)]
pub struct RotatingFaults {
    /// Fraction of keys faulty at any time (0.0–1.0).
    pub share: f64,
    /// How long a key keeps its state.
    pub period: Duration,
    started: std::time::Instant,
}

impl RotatingFaults {
    /// Faults that start now.
    #[must_use]
    pub fn new(share: f64, period: Duration) -> Self {
        Self {
            share,
            period,
            started: std::time::Instant::now(),
        }
    }

    fn fault_for(&self, key: &str) -> Option<Fault> {
        use std::hash::{Hash, Hasher};
        let epoch = self.started.elapsed().as_millis() / self.period.as_millis().max(1);
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (key, epoch).hash(&mut hasher);
        let roll = hasher.finish();
        #[allow(clippy::cast_precision_loss)]
        let faulty = (roll % 10_000) as f64 / 10_000.0 < self.share;
        if !faulty {
            return None;
        }
        Some(match (roll / 10_000) % 3 {
            0 => Fault {
                status: 429,
                headers: vec![("retry-after".into(), "1".into())],
                body: json!({"error": {"message": "rate limited", "type": "requests"}}).to_string(),
                ..Fault::default()
            },
            1 => Fault::status(500),
            _ => Fault::delay(Duration::from_secs(3)),
        })
    }
}

/// A running mock upstream.
pub struct MockUpstream {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// Its port.
    pub port: u16,
    state: Arc<MockState>,
    handle: ServerHandle,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MockUpstream {
    /// Starts the mock on port 0 in the current actix system.
    pub fn start() -> Self {
        Self::start_on("127.0.0.1:0", 2)
    }

    /// Starts the mock on `address` with `workers` threads (benchmarks use a fixed port).
    pub fn start_on(address: &str, workers: usize) -> Self {
        let state = Arc::new(MockState::default());
        let shared = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                .default_service(web::to(handle))
        })
        .workers(workers)
        // As real upstreams send their streams: each event at once, not held
        // back by Nagle's algorithm until the previous one is acknowledged.
        .tcp_nodelay(true)
        // Like real upstreams (nginx: 75 s), so pooled connections are not cut under a client's feet.
        .keep_alive(Duration::from_secs(75))
        .bind(address)
        .expect("mock upstream binds");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self {
            address: format!("http://127.0.0.1:{port}"),
            port,
            state,
            handle,
        }
    }

    /// Every request so far.
    #[must_use]
    pub fn recorded(&self) -> Vec<Recorded> {
        lock(&self.state.recorded).clone()
    }

    /// Stops (or resumes) keeping requests; faults still apply.
    pub fn set_recording(&self, on: bool) {
        self.state
            .not_recording
            .store(!on, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many SSE streams were dropped before their last event.
    #[must_use]
    pub fn cancelled_streams(&self) -> usize {
        self.state
            .cancelled_streams
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Forgets recorded requests.
    pub fn clear(&self) {
        lock(&self.state.recorded).clear();
    }

    /// Requests served per upstream key.
    #[must_use]
    pub fn count_by_key(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for r in lock(&self.state.recorded).iter() {
            *counts.entry(r.key.clone().unwrap_or_default()).or_insert(0) += 1;
        }
        counts
    }

    /// Makes a changing share of keys misbehave (soak runs).
    pub fn set_rotating_faults(&self, faults: Option<RotatingFaults>) {
        *lock(&self.state.rotating) = faults;
    }

    /// Every request made with `key` gets `fault` until cleared.
    pub fn fault_for_key(&self, key: &str, fault: Fault) {
        lock(&self.state.key_faults).insert(key.to_owned(), fault);
    }

    /// Removes the fault of `key`.
    pub fn clear_fault_for_key(&self, key: &str) {
        lock(&self.state.key_faults).remove(key);
    }

    /// The next request (whatever its key) gets `fault`.
    pub fn push_fault(&self, fault: Fault) {
        lock(&self.state.next_faults).push_back(fault);
    }

    /// Stops the mock.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

fn upstream_key(req: &HttpRequest) -> Option<String> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    header("authorization")
        .and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned))
        .or_else(|| header("x-api-key"))
        .or_else(|| header("x-goog-api-key"))
        .or_else(|| {
            req.query_string().split('&').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                matches!(name, "key" | "api_key" | "appid").then(|| value.to_owned())
            })
        })
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

async fn handle(req: HttpRequest, body: Bytes, state: web::Data<MockState>) -> HttpResponse {
    let key = upstream_key(&req);
    if !state
        .not_recording
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        record(&state, &req, &body, key.clone());
    }
    let fault = key
        .as_ref()
        .and_then(|k| lock(&state.key_faults).get(k).cloned())
        .or_else(|| lock(&state.next_faults).pop_front())
        .or_else(|| {
            let rotating = *lock(&state.rotating);
            rotating.and_then(|r| key.as_deref().and_then(|k| r.fault_for(k)))
        });
    answer(&req, &body, fault, &state.cancelled_streams).await
}

fn record(state: &MockState, req: &HttpRequest, body: &Bytes, key: Option<String>) {
    lock(&state.recorded).push(Recorded {
        method: req.method().to_string(),
        path: req.path().to_owned(),
        query: req.query_string().to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.clone(),
        key,
    });
}

async fn answer(
    req: &HttpRequest,
    body: &Bytes,
    fault: Option<Fault>,
    cancelled: &Arc<std::sync::atomic::AtomicUsize>,
) -> HttpResponse {
    if let Some(fault) = fault {
        if !fault.delay.is_zero() {
            actix_web::rt::time::sleep(fault.delay).await;
        }
        if fault.drop_connection {
            // A heartbeat first, so the head and some bytes are out before the cut.
            let cut = stream::iter([
                Ok(Bytes::from_static(b": heartbeat\n\n")),
                Err(std::io::Error::other("mock cut the connection")),
            ])
            .then(|item| async move {
                actix_web::rt::time::sleep(Duration::from_millis(20)).await;
                item
            });
            return HttpResponse::Ok()
                .content_type("text/event-stream")
                .streaming(cut);
        }
        if fault.status != 0 && fault.status != 200 {
            let mut response = HttpResponse::build(
                StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            );
            for (name, value) in &fault.headers {
                response.append_header((name.as_str(), value.as_str()));
            }
            return response.content_type("application/json").body(fault.body);
        }
        if !fault.body.is_empty() {
            return HttpResponse::Ok()
                .content_type("application/json")
                .body(fault.body);
        }
    }
    respond(req, body, cancelled)
}

fn respond(
    req: &HttpRequest,
    body: &Bytes,
    cancelled: &Arc<std::sync::atomic::AtomicUsize>,
) -> HttpResponse {
    let sse = |events, interval, done| sse(events, interval, done, Arc::clone(cancelled));
    let path = req.path();
    let json_body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let stream = json_body["stream"].as_bool().unwrap_or(false);
    let events = query_number(req, "events").unwrap_or(3);
    let interval = Duration::from_millis(query_number(req, "interval_ms").unwrap_or(0));
    if path.starts_with("/sim/") {
        return crate::mock_llm::respond(path, &json_body);
    }
    if path.contains("/echo") {
        return HttpResponse::Ok()
            .insert_header(("x-echo-method", req.method().as_str()))
            .insert_header(("x-echo-path", path))
            .insert_header(("x-echo-query", req.query_string()))
            .content_type("application/octet-stream")
            .body(body.clone());
    }
    if let Some(n) = path
        .rsplit_once("/bytes/")
        .and_then(|(_, n)| n.parse::<usize>().ok())
    {
        let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        return HttpResponse::Ok()
            .content_type("application/octet-stream")
            .body(data);
    }
    if path.ends_with("/sse") {
        return sse(
            (0..events).map(|i| (None, json!({"i": i}))).collect(),
            interval,
            None,
        );
    }
    if path.ends_with("/chat/completions") {
        let model = json_body["model"]
            .as_str()
            .unwrap_or("gpt-4o-mini")
            .to_owned();
        let include_usage = json_body["stream_options"]["include_usage"].as_bool() == Some(true);
        if query_number(req, "full") == Some(1) {
            return openai_chat_in_full(&model, stream, events, interval, include_usage, sse);
        }
        if stream {
            let mut chunks: Vec<(Option<&str>, Value)> = (0..events)
                .map(|i| (None, json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "model": model,
                    "choices": [{"index": 0, "delta": {"content": format!("tok{i} ")}, "finish_reason": null}]})))
                .collect();
            chunks.push((
                None,
                json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "model": model,
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
            ));
            if include_usage {
                chunks.push((None, json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "model": model,
                    "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": events, "total_tokens": 5 + events}})));
            }
            return sse(chunks, interval, Some("[DONE]"));
        }
        return HttpResponse::Ok().json(json!({
            "id": "chatcmpl-mock", "object": "chat.completion", "created": 1_700_000_000, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from the mock."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}
        }));
    }
    if path.ends_with("/responses") {
        let model = json_body["model"]
            .as_str()
            .unwrap_or("gpt-4o-mini")
            .to_owned();
        let done = json!({"id": "resp_mock", "object": "response", "status": "completed", "model": model,
            "output": [{"type": "message", "id": "msg_mock", "status": "completed", "role": "assistant",
                        "content": [{"type": "output_text", "text": "Hello from the mock.", "annotations": []}]}],
            "usage": {"input_tokens": 5, "output_tokens": 5, "total_tokens": 10}});
        if stream {
            let mut events_out = vec![(
                Some("response.created"),
                json!({"type": "response.created", "response": {"id": "resp_mock", "status": "in_progress"}}),
            )];
            events_out.extend((0..events).map(|i| {
                (
                    Some("response.output_text.delta"),
                    json!({"type": "response.output_text.delta", "delta": format!("tok{i} ")}),
                )
            }));
            events_out.push((
                Some("response.completed"),
                json!({"type": "response.completed", "response": done}),
            ));
            return sse(events_out, interval, None);
        }
        return HttpResponse::Ok().json(done);
    }
    if path.ends_with("/messages") {
        let model = json_body["model"]
            .as_str()
            .unwrap_or("claude-mock")
            .to_owned();
        if stream {
            let mut events_out = vec![
                (
                    Some("message_start"),
                    json!({"type": "message_start", "message": {"id": "msg_mock", "type": "message",
                    "role": "assistant", "model": model, "content": [], "usage": {"input_tokens": 5, "output_tokens": 0}}}),
                ),
                (
                    Some("content_block_start"),
                    json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                ),
            ];
            events_out.extend((0..events).map(|i| (Some("content_block_delta"),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": format!("tok{i} ")}}))));
            events_out.push((
                Some("content_block_stop"),
                json!({"type": "content_block_stop", "index": 0}),
            ));
            events_out.push((Some("message_delta"), json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": events}})));
            events_out.push((Some("message_stop"), json!({"type": "message_stop"})));
            return sse(events_out, interval, None);
        }
        return HttpResponse::Ok().json(json!({"id": "msg_mock", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": "Hello from the mock."}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 5, "output_tokens": 5}}));
    }
    if path.contains(":streamGenerateContent") {
        let chunks = (0..events)
            .map(|i| (None, json!({"candidates": [{"content": {"role": "model", "parts": [{"text": format!("tok{i} ")}]}, "index": 0}]})))
            .chain(std::iter::once((None, json!({"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]},
                "finishReason": "STOP", "index": 0}], "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": events, "totalTokenCount": 5 + events}}))))
            .collect();
        return sse(chunks, interval, None);
    }
    if path.contains(":generateContent") {
        return HttpResponse::Ok().json(json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hello from the mock."}]},
            "finishReason": "STOP", "index": 0}], "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 5, "totalTokenCount": 10}}));
    }
    if path.ends_with("/models") {
        return HttpResponse::Ok().json(json!({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "owned_by": "mock"}],
            "models": [{"name": "models/gemini-mock"}]}));
    }
    HttpResponse::NotFound()
        .json(json!({"error": {"message": format!("mock has no route {path}")}}))
}

/// An OpenAI Chat answer with every field OpenAI sends today (`?full=1`):
/// the usage details, `service_tier`, `system_fingerprint`, `refusal`,
/// `annotations`, `logprobs`. The default answers carry only what tests
/// read; benchmarks ask for these to see what a real answer costs to read.
fn openai_chat_in_full(
    model: &str,
    stream: bool,
    events: u64,
    interval: Duration,
    include_usage: bool,
    sse: impl Fn(Vec<(Option<&'static str>, Value)>, Duration, Option<&'static str>) -> HttpResponse,
) -> HttpResponse {
    let usage = |output: u64| {
        json!({"prompt_tokens": 19, "completion_tokens": output, "total_tokens": 19 + output,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}})
    };
    let id = "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT";
    let fingerprint = "fp_b376dfbbd5";
    if !stream {
        return HttpResponse::Ok().json(json!({
            "id": id, "object": "chat.completion", "created": 1_741_569_952, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I assist you today?",
                "refusal": null, "annotations": []}, "logprobs": null, "finish_reason": "stop"}],
            "usage": usage(10), "service_tier": "default", "system_fingerprint": fingerprint}));
    }
    let chunk_with = |choices: Value| {
        json!({"id": id, "object": "chat.completion.chunk", "created": 1_741_569_952,
            "model": model, "service_tier": "default", "system_fingerprint": fingerprint,
            "choices": choices})
    };
    let chunk = |delta: Value, finish: Value| {
        let mut chunk = chunk_with(
            json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]),
        );
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        (None, chunk)
    };
    let mut chunks = vec![chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
        Value::Null,
    )];
    chunks.extend((0..events).map(|i| chunk(json!({"content": format!("tok{i} ")}), Value::Null)));
    chunks.push(chunk(json!({}), json!("stop")));
    if include_usage {
        let mut last = chunk_with(json!([]));
        last["usage"] = usage(events);
        chunks.push((None, last));
    }
    sse(chunks, interval, Some("[DONE]"))
}

fn query_number(req: &HttpRequest, name: &str) -> Option<u64> {
    req.query_string().split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| value.parse().ok()).flatten()
    })
}

/// An SSE response: each event is flushed on its own, `interval` apart, with
/// the send time (`sent_ms`) added to its JSON so clients can measure delays.
fn sse(
    events: Vec<(Option<&'static str>, Value)>,
    interval: Duration,
    done: Option<&'static str>,
    cancelled: Arc<std::sync::atomic::AtomicUsize>,
) -> HttpResponse {
    let total = events.len();
    let guard = Arc::new(CancelGuard {
        finished: std::sync::atomic::AtomicBool::new(false),
        cancelled,
    });
    let body = stream::iter(events.into_iter().enumerate()).then(move |(i, (name, mut data))| {
        let guard = Arc::clone(&guard);
        async move {
            if i > 0 && !interval.is_zero() {
                actix_web::rt::time::sleep(interval).await;
            }
            data["sent_ms"] = json!(now_ms());
            let mut frame = String::new();
            if let Some(name) = name {
                frame.push_str(&format!("event: {name}\n"));
            }
            frame.push_str(&format!("data: {data}\n\n"));
            if i + 1 == total {
                guard
                    .finished
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                if let Some(done) = done {
                    frame.push_str(&format!("data: {done}\n\n"));
                }
            }
            Ok::<Bytes, std::io::Error>(Bytes::from(frame))
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(body)
}

/// Counts a stream as cancelled when it is dropped before its last event.
struct CancelGuard {
    finished: std::sync::atomic::AtomicBool,
    cancelled: Arc<std::sync::atomic::AtomicUsize>,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.finished.load(std::sync::atomic::Ordering::SeqCst) {
            self.cancelled
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

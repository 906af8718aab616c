//! Token accounting and the request log (issue 8): tokens read from every
//! upstream format, streamed and not, passthrough and converted; usage in the
//! listings and `/stats`, kept across a restart; one request-log row per
//! request, paged and filtered; writes batched; a stalled database drops rows
//! instead of slowing requests.

use actix_web::http::Method;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::{spawn_app_with, Fault, MockUpstream, Spy, TestApp, TestOptions};

/// The simulated LLM reports 11 input and 7 output tokens for every answer.
const IN: u64 = 11;
const OUT: u64 = 7;

/// Upstream services: slug, api_format, base path on the mock.
const UPSTREAMS: [(&str, &str, &str); 4] = [
    ("oa", "openai_compatible", "/sim/v1"),
    ("rs", "openai_responses", "/sim/v1"),
    ("an", "anthropic_native", "/sim"),
    ("gm", "gemini_native", "/sim/v1beta"),
];

struct Setup {
    app: TestApp,
    mock: MockUpstream,
    token: String,
    client_key: String,
    client_key_id: i64,
    services: Vec<(String, i64, i64)>,
}

impl Setup {
    /// Stops the gateway (which writes what it holds) and starts it again
    /// on the same data, with the same services and keys.
    async fn restart(self, options: TestOptions) -> Setup {
        self.app.stop().await;
        let app = spawn_app_with(TestOptions {
            data_dir: Some(self.app.data_dir.clone()),
            ..options
        })
        .await;
        Setup {
            token: app.login().await,
            app,
            ..self
        }
    }
}

async fn setup(options: TestOptions) -> Setup {
    let mock = MockUpstream::start();
    let app = spawn_app_with(options).await;
    let token = app.login().await;
    let mut services = Vec::new();
    for (slug, format, path) in UPSTREAMS {
        let id = app
            .create_service(
                &token,
                json!({"name": slug, "slug": slug, "config_type": "llm", "api_format": format,
                    "target_base_url": format!("{}{path}", mock.address)}),
            )
            .await;
        let key = app
            .add_key(&token, id, &format!("sk-acct-{slug}-0000000001"))
            .await;
        services.push((slug.to_owned(), id, key["id"].as_i64().unwrap()));
    }
    let created = app
        .admin_with(
            &token,
            Method::POST,
            "/client-keys",
            Some(json!({"name": "acct"})),
        )
        .await
        .json();
    Setup {
        app,
        mock,
        token,
        client_key: created["key"].as_str().unwrap().to_owned(),
        client_key_id: created["id"].as_i64().unwrap(),
        services,
    }
}

/// A request of `client` format to `slug`, streamed or not: (path, body).
fn request(client: &str, slug: &str, stream: bool) -> (String, Value) {
    let messages = json!([{"role": "user", "content": "hi"}]);
    match client {
        "openai" => (
            format!("/llm/{slug}/v1/chat/completions"),
            json!({"model": "sim-model", "messages": messages, "stream": stream}),
        ),
        "responses" => (
            format!("/llm/{slug}/v1/responses"),
            json!({"model": "sim-model", "input": "hi", "stream": stream}),
        ),
        "anthropic" => (
            format!("/llm/{slug}/v1/messages"),
            json!({"model": "sim-model", "max_tokens": 100, "messages": messages, "stream": stream}),
        ),
        _ => (
            format!(
                "/llm/{slug}/v1beta/models/sim-model:{}",
                if stream {
                    "streamGenerateContent?alt=sse"
                } else {
                    "generateContent"
                }
            ),
            json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
        ),
    }
}

impl Setup {
    async fn call(&self, client: &str, slug: &str, stream: bool) -> testkit::TestResponse {
        let (path, body) = request(client, slug, stream);
        let bearer = format!("Bearer {}", self.client_key);
        let response = self
            .app
            .call(
                Method::POST,
                &path,
                &[
                    ("authorization", &bearer),
                    ("content-type", "application/json"),
                    ("anthropic-version", "2023-06-01"),
                ],
                Some(body.to_string().into_bytes()),
            )
            .await;
        assert_eq!(
            response.status,
            200,
            "{client} → {slug} stream={stream}: {}",
            response.text()
        );
        response
    }

    /// The request-log page at `path` once it holds `rows` rows (they are
    /// written within a second), or as it is after 5 s.
    async fn request_logs(&self, path: &str, rows: usize) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let page = self.get(path).await;
            if page["items"].as_array().unwrap().len() == rows || Instant::now() > deadline {
                return page;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .app
            .admin_with(&self.token, Method::GET, path, None)
            .await;
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        response.json()
    }
}

async fn key_rows(s: &Setup) -> Vec<Value> {
    let mut rows = Vec::new();
    for (_, id, key_id) in &s.services {
        rows.push(row(
            &s.get(&format!("/proxy-configs/{id}/keys")).await,
            *key_id,
        ));
    }
    rows
}

fn row(listing: &Value, id: i64) -> Value {
    listing
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"].as_i64() == Some(id))
        .cloned()
        .unwrap()
}

#[actix_web::test]
async fn tokens_of_every_format_streamed_or_not_are_counted_exactly_and_survive_a_restart() {
    let options = TestOptions::default();
    let s = setup(options.clone()).await;
    let clients = ["openai", "responses", "anthropic", "gemini"];
    for (slug, _, _) in &s.services {
        for client in clients {
            for stream in [false, true] {
                s.call(client, slug, stream).await;
            }
        }
    }
    // 4 services × 4 client formats × 2 modes, each answer 11 + 7 tokens.
    let client_key_id = s.client_key_id;
    let check = |stats: Value, clients_listing: Value, keys: Vec<Value>| {
        assert_eq!(stats["totals"]["input_tokens"], 32 * IN, "{stats}");
        assert_eq!(stats["totals"]["output_tokens"], 32 * OUT, "{stats}");
        for service in stats["services"].as_array().unwrap() {
            assert_eq!(service["input_tokens"], 8 * IN, "{service}");
            assert_eq!(service["output_tokens"], 8 * OUT, "{service}");
        }
        let client = row(&clients_listing, client_key_id);
        assert_eq!(
            (
                client["input_tokens"].as_u64(),
                client["output_tokens"].as_u64()
            ),
            (Some(32 * IN), Some(32 * OUT)),
            "{client}"
        );
        assert_eq!(client["requests"], 32);
        for key in keys {
            assert_eq!(
                (key["input_tokens"].as_u64(), key["output_tokens"].as_u64()),
                (Some(8 * IN), Some(8 * OUT)),
                "{key}"
            );
        }
    };
    check(
        s.get("/stats").await,
        s.get("/client-keys").await,
        key_rows(&s).await,
    );

    // Flushed at shutdown, read back after a restart.
    let restarted = s.restart(options).await;
    check(
        restarted.get("/stats").await,
        restarted.get("/client-keys").await,
        key_rows(&restarted).await,
    );
}

#[actix_web::test]
async fn an_absurd_token_count_is_capped_and_still_reaches_the_database() {
    let options = TestOptions::default();
    let s = setup(options.clone()).await;
    let absurd = json!({"id": "x", "object": "chat.completion", "model": "sim-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": u64::MAX, "completion_tokens": 3}});
    for _ in 0..2 {
        s.mock.push_fault(Fault::answer(&absurd));
        s.call("openai", "oa", false).await;
    }
    // One answer counts at most 2^32 tokens.
    let capped = 2 * (1u64 << 32);
    let check = |stats: Value| {
        assert_eq!(
            stats["totals"]["input_tokens"].as_u64(),
            Some(capped),
            "{stats}"
        );
        assert_eq!(
            stats["totals"]["output_tokens"].as_u64(),
            Some(6),
            "{stats}"
        );
    };
    check(s.get("/stats").await);

    // Written at shutdown and read back.
    let restarted = s.restart(options).await;
    check(restarted.get("/stats").await);
}

#[actix_web::test]
async fn a_streamed_openai_passthrough_asks_for_usage_and_hides_the_extra_chunk() {
    let s = setup(TestOptions::default()).await;
    s.mock.set_recording(true);
    let plain = s.call("openai", "oa", true).await.text();
    let sent = s.mock.recorded();
    let body: Value = serde_json::from_slice(&sent.last().unwrap().body).unwrap();
    assert_eq!(
        body["stream_options"]["include_usage"], true,
        "the gateway asked for usage"
    );
    assert!(
        !plain.contains("\"usage\":{"),
        "the client did not ask, so no usage chunk: {plain}"
    );
    assert!(plain.trim_end().ends_with("data: [DONE]"), "{plain}");

    // A client that asks gets the chunk, and the request is sent as it was.
    let bearer = format!("Bearer {}", s.client_key);
    let asked = s
        .app
        .call(
            Method::POST,
            "/llm/oa/v1/chat/completions",
            &[("authorization", &bearer), ("content-type", "application/json")],
            Some(br#"{"model":"sim-model","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#.to_vec()),
        )
        .await
        .text();
    assert!(asked.contains("\"usage\":{"), "{asked}");
    let key = row(
        &s.get(&format!("/proxy-configs/{}/keys", s.services[0].1))
            .await,
        s.services[0].2,
    );
    assert_eq!(key["input_tokens"], 2 * IN, "both streams counted: {key}");
}

/// OpenAI's answers as it sends them today: usage with its two details
/// objects, then `service_tier` and `system_fingerprint`; streamed chunks
/// with `"usage": null` in each once usage is asked for.
#[actix_web::test]
async fn answers_in_openai_s_full_shape_are_counted_exactly() {
    let s = setup(TestOptions::default()).await;
    let id = s
        .app
        .create_service(
            &s.token,
            json!({"name": "full", "slug": "full", "config_type": "llm", "api_format": "openai_compatible",
                "target_base_url": format!("{}/v1", s.mock.address)}),
        )
        .await;
    let key = s.app.add_key(&s.token, id, "sk-acct-full-0000000001").await;
    let bearer = format!("Bearer {}", s.client_key);
    let mut streamed = String::new();
    for stream in [false, true] {
        let response = s
            .app
            .call(
                Method::POST,
                "/llm/full/v1/chat/completions?full=1&events=3",
                &[
                    ("authorization", &bearer),
                    ("content-type", "application/json"),
                ],
                Some(
                    json!({"model": "gpt-4o-mini", "stream": stream,
                        "messages": [{"role": "user", "content": "hi"}]})
                    .to_string()
                    .into_bytes(),
                ),
            )
            .await;
        assert_eq!(response.status, 200, "{}", response.text());
        if stream {
            streamed = response.text();
        }
    }
    assert!(
        !streamed.contains("\"usage\":{") && streamed.trim_end().ends_with("data: [DONE]"),
        "the usage chunk the gateway asked for is not passed on: {streamed}"
    );
    // The answer reports 19 in and 10 out; the stream of 3 events 19 and 3.
    let row = row(
        &s.get(&format!("/proxy-configs/{id}/keys")).await,
        key["id"].as_i64().unwrap(),
    );
    assert_eq!(
        (row["input_tokens"].as_u64(), row["output_tokens"].as_u64()),
        (Some(38), Some(13)),
        "{row}"
    );
    let logs = s.request_logs("/request-logs?service=full", 2).await;
    let models: Vec<&str> = logs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["model"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(models, ["gpt-4o-mini"; 2], "{logs}");
}

#[actix_web::test]
async fn with_telemetry_off_a_streamed_openai_request_is_sent_unchanged() {
    let s = setup(TestOptions::default().env("TELEMETRY_ENABLED", "false")).await;
    s.mock.set_recording(true);
    let plain = s.call("openai", "oa", true).await.text();
    let sent = s.mock.recorded();
    let body: Value = serde_json::from_slice(&sent.last().unwrap().body).unwrap();
    assert!(
        body.get("stream_options").is_none(),
        "nothing counts usage, so none is asked for: {body}"
    );
    assert!(plain.trim_end().ends_with("data: [DONE]"), "{plain}");
}

#[actix_web::test]
async fn every_request_gets_one_log_row_with_paging_filters_and_request_ids() {
    let spy = Arc::new(Spy::default());
    let s = setup(spied(&spy)).await;
    // A second key on "oa" that fails: requests it gets first fail over.
    let bad = s
        .app
        .add_key(&s.token, s.services[0].1, "sk-acct-oa-bad-000000002")
        .await;
    s.mock
        .fault_for_key("sk-acct-oa-bad-000000002", Fault::status(500));
    let mut request_ids = Vec::new();
    for i in 0..6 {
        let response = s
            .call(
                if i % 2 == 0 { "openai" } else { "anthropic" },
                "oa",
                i % 3 == 0,
            )
            .await;
        request_ids.push(response.header("x-request-id").expect("a request id"));
    }
    let chosen = s
        .app
        .call(
            Method::GET,
            "/llm/nope/v1/models",
            &[("x-request-id", "client-chosen-id-1")],
            None,
        )
        .await;
    assert_eq!(chosen.status, 404);
    assert_eq!(
        chosen.header("x-request-id").as_deref(),
        Some("client-chosen-id-1"),
        "a client's id is echoed"
    );

    // Written in one batch.
    let page = s.request_logs("/request-logs?limit=100", 7).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 7, "{page}");
    assert!(page["next_cursor"].is_null());
    assert!(
        spy.request_log_writes.load(Ordering::SeqCst) <= 3,
        "rows are written in batches"
    );
    let unknown = &items[0];
    assert_eq!(
        (
            unknown["service"].as_str(),
            unknown["status"].as_u64(),
            unknown["request_id"].as_str()
        ),
        (Some("nope"), Some(404), Some("client-chosen-id-1"))
    );
    let proxied: Vec<&Value> = items[1..].iter().rev().collect();
    for (i, item) in proxied.iter().enumerate() {
        assert_eq!(item["request_id"].as_str(), Some(request_ids[i].as_str()));
        assert_eq!(item["service"], "oa");
        assert_eq!(item["client_key"], "acct");
        assert_eq!(item["status"], 200);
        assert_eq!(item["upstream_format"], "openai_compatible");
        assert_eq!(
            item["client_format"],
            if i % 2 == 0 { "openai" } else { "anthropic" }
        );
        assert_eq!(item["model"], "sim-model", "{item}");
        assert_eq!(
            (
                item["input_tokens"].as_u64(),
                item["output_tokens"].as_u64()
            ),
            (Some(IN), Some(OUT)),
            "{item}"
        );
        assert!(
            item["latency_ms"].is_u64() && item["ttfb_ms"].is_u64(),
            "{item}"
        );
        let hint = item["key_hint"].as_str().unwrap();
        assert!(
            hint.contains("*****") && !hint.contains("0000000001"),
            "masked: {hint}"
        );
        assert_ne!(
            item["key_id"], bad["id"],
            "the failing key never gave the final answer"
        );
    }
    assert!(
        proxied.iter().any(|item| item["attempts"] == 2),
        "a failover shows as 2 attempts: {page}"
    );
    assert!(
        !serde_json::to_string(&page)
            .unwrap()
            .contains("sk-acct-oa-0000000001"),
        "no key in the log"
    );

    // Cursor paging walks every row once, newest first.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = s
            .get(&format!("/request-logs?limit=3&cursor={cursor}"))
            .await;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    let all: Vec<i64> = items.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(seen, all);
    // Filters.
    assert_eq!(
        s.get("/request-logs?status=4xx").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.get("/request-logs?status=2xx&service=oa&client_key=acct")
            .await["items"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
    assert_eq!(
        s.get("/request-logs?service=an").await["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let later = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert_eq!(
        s.get(&format!("/request-logs?since={later}")).await["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let bad_filter = s
        .app
        .admin_with(&s.token, Method::GET, "/request-logs?status=6xx", None)
        .await;
    assert_eq!(
        (
            bad_filter.status,
            bad_filter.json()["error"]["field"].as_str()
        ),
        (400, Some("status"))
    );
}

#[actix_web::test]
async fn a_stalled_database_drops_log_rows_instead_of_slowing_requests() {
    let spy = Arc::new(Spy::default());
    let s = setup(spied(&spy).env("REQUEST_LOG_QUEUE_SIZE", "50")).await;
    spy.stall();
    // Requests never wait for the log: all are answered while it is stalled.
    tokio::time::timeout(Duration::from_secs(30), chats_at_once(&s, 200))
        .await
        .expect("requests are not held up by a stalled request log");
    let metrics = s.app.call(Method::GET, "/metrics", &[], None).await.text();
    // A flush may have taken some rows and hung; the queue holds 50; the rest is dropped.
    let taken = spy.request_log_rows.load(Ordering::SeqCst) as f64;
    let dropped: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("gateway_request_log_dropped_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(
        taken + 50.0 + dropped >= 200.0,
        "every row is written, queued or dropped: taken {taken}, dropped {dropped}"
    );
    assert!(
        dropped >= 150.0 - taken,
        "dropped {dropped}, taken {taken}:\n{metrics}"
    );
    spy.resume();
}

#[actix_web::test]
async fn a_burst_beyond_the_interval_is_written_not_dropped() {
    // A queue of 40 rows wakes its writer at 10 queued: 200 requests within
    // one flush interval are all written. Drained only once a second, 160
    // of them would be dropped.
    let spy = Arc::new(Spy::default());
    let s = setup(spied(&spy).env("REQUEST_LOG_QUEUE_SIZE", "40")).await;
    let started = Instant::now();
    for _ in 0..10 {
        chats_at_once(&s, 20).await;
    }
    let elapsed = started.elapsed();
    let metrics = s.app.call(Method::GET, "/metrics", &[], None).await.text();
    s.app.stop().await;
    assert!(
        metrics.contains("gateway_request_log_dropped_total 0\n"),
        "no row dropped in {elapsed:?}:\n{metrics}"
    );
    assert_eq!(spy.request_log_rows.load(Ordering::SeqCst), 200);
}

#[actix_web::test]
async fn a_slow_prune_does_not_hold_up_the_request_log() {
    // The first prune runs at start and hangs, as a DELETE of a big log can.
    let spy = Arc::new(Spy::default());
    spy.stall_prune();
    let s = setup(spied(&spy)).await;
    for _ in 0..5 {
        chats_at_once(&s, 1).await;
    }
    // Written by the periodic flush (1 s), not by the one at shutdown.
    let deadline = Instant::now() + Duration::from_secs(5);
    while spy.request_log_rows.load(Ordering::SeqCst) < 5 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let written = spy.request_log_rows.load(Ordering::SeqCst);
    spy.resume();
    s.app.stop().await;
    assert_eq!(written, 5, "rows written while a prune hangs");
}

fn spied(spy: &Arc<Spy>) -> TestOptions {
    TestOptions {
        spy: Some(Arc::clone(spy)),
        ..TestOptions::default()
    }
}

/// `n` OpenAI chat requests to the `oa` service at once; every answer is 200.
async fn chats_at_once(s: &Setup, n: usize) {
    let bearer = format!("Bearer {}", s.client_key);
    let headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    let (path, body) = request("openai", "oa", false);
    let body = body.to_string().into_bytes();
    let calls = (0..n).map(|_| {
        s.app
            .call(Method::POST, &path, &headers, Some(body.clone()))
    });
    for answer in futures_util::future::join_all(calls).await {
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
}

/// Runs `n` chat requests, 50 at a time, spread over the four services.
async fn run_requests(s: &Setup, n: usize) {
    let bearer = format!("Bearer {}", s.client_key);
    let headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
        ("anthropic-version", "2023-06-01"),
    ];
    let requests: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| {
            let (slug, _, _) = &s.services[i % s.services.len()];
            let (path, body) = request("openai", slug, false);
            (path, body.to_string().into_bytes())
        })
        .collect();
    for chunk in requests.chunks(50) {
        let calls = chunk
            .iter()
            .map(|(path, body)| s.app.call(Method::POST, path, &headers, Some(body.clone())));
        for response in futures_util::future::join_all(calls).await {
            assert_eq!(response.status, 200, "{}", response.text());
        }
    }
}

/// Issue 8, acceptance 2: no database write per request.
#[actix_web::test]
async fn a_thousand_requests_make_at_most_one_write_per_table_per_flush_interval() {
    let spy = Arc::new(Spy::default());
    let s = setup(spied(&spy)).await;
    let started = Instant::now();
    run_requests(&s, 1000).await;
    s.app.stop().await;
    let seconds = started.elapsed().as_secs_f64();
    // Usage every 5 s, the request log every second, plus the final flush at shutdown.
    let usage_bound = (seconds / 5.0).ceil() as usize + 1;
    let log_bound = seconds.ceil() as usize + 1;
    let usage_writes = spy.usage_writes.load(Ordering::SeqCst);
    let log_writes = spy.request_log_writes.load(Ordering::SeqCst);
    assert!(
        usage_writes <= usage_bound,
        "{usage_writes} usage writes in {seconds:.1} s"
    );
    assert!(
        log_writes <= log_bound,
        "{log_writes} request-log writes in {seconds:.1} s"
    );
    assert_eq!(
        spy.request_log_rows.load(Ordering::SeqCst),
        1000,
        "every row written"
    );
    eprintln!("1000 requests in {seconds:.1} s: {usage_writes} usage writes, {log_writes} request-log writes");
}

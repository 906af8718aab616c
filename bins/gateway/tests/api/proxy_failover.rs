//! Health-aware failover (SPEC §5.5) through the real gateway, with the
//! mock upstream's fault injection per key.

use actix_web::http::Method;
use serde_json::{json, Value};
use std::time::Duration;
use testkit::{spawn_app_with, Fault, MockUpstream, TestApp, TestOptions};

const GLOBAL: &str = "global-client-key-failover";

struct Setup {
    app: TestApp,
    mock: MockUpstream,
    token: String,
    service: i64,
    keys: Vec<String>,
    key_ids: Vec<i64>,
}

async fn setup(keys: usize, extra: Value) -> Setup {
    let mock = MockUpstream::start();
    let app = spawn_app_with(TestOptions::default().env("GLOBAL_PROXY_KEYS", GLOBAL)).await;
    let token = app.login().await;
    let mut body = json!({"name": "fo", "slug": "fo", "config_type": "llm",
        "target_base_url": format!("{}/v1", mock.address), "api_format": "openai_compatible"});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let service = app.create_service(&token, body).await;
    let mut names = Vec::new();
    let mut ids = Vec::new();
    for i in 0..keys {
        let key = format!("sk-failover-key-{i:08}");
        let row = app.add_key(&token, service, &key).await;
        ids.push(row["id"].as_i64().unwrap());
        names.push(key);
    }
    Setup {
        app,
        mock,
        token,
        service,
        keys: names,
        key_ids: ids,
    }
}

impl Setup {
    async fn chat(&self) -> testkit::TestResponse {
        self.app
            .call(
                Method::POST,
                "/llm/fo/v1/chat/completions",
                &[
                    ("authorization", &format!("Bearer {GLOBAL}")),
                    ("content-type", "application/json"),
                ],
                Some(br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#.to_vec()),
            )
            .await
    }

    async fn health(&self, index: usize) -> Value {
        let listing = self
            .app
            .admin_with(
                &self.token,
                Method::GET,
                &format!("/proxy-configs/{}/keys", self.service),
                None,
            )
            .await
            .json();
        listing
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"].as_i64() == Some(self.key_ids[index]))
            .cloned()
            .unwrap()
    }

    fn calls(&self, index: usize) -> usize {
        self.mock
            .count_by_key()
            .get(&self.keys[index])
            .copied()
            .unwrap_or(0)
    }
}

fn fault(status: u16, headers: &[(&str, &str)], body: &str) -> Fault {
    Fault {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.to_owned(),
        ..Fault::default()
    }
}

fn seconds_until(health: &Value) -> f64 {
    let until = health["cooldown_until"].as_str().expect("a cooldown");
    let until = domain::time_fmt::parse_rfc3339(until).unwrap();
    (until - domain::time_fmt::now()).as_seconds_f64()
}

#[actix_web::test]
async fn a_rate_limited_key_is_skipped_for_its_retry_after_without_the_client_noticing() {
    let s = setup(2, json!({})).await;
    s.mock.fault_for_key(
        &s.keys[0],
        fault(
            429,
            &[("retry-after", "7")],
            r#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#,
        ),
    );
    for _ in 0..6 {
        let response = s.chat().await;
        assert_eq!(response.status, 200, "{}", response.text());
    }
    assert_eq!(s.calls(0), 1, "k1 is skipped while cooling down");
    assert_eq!(s.calls(1), 6, "k2 served everything");
    let health = s.health(0).await;
    assert_eq!(health["state"], "cooling_down");
    let wait = seconds_until(&health);
    assert!((5.5..=7.5).contains(&wait), "cooldown of about 7 s: {wait}");
    assert_eq!(s.health(1).await["state"], "healthy");
}

#[actix_web::test]
async fn retry_after_ms_and_http_dates_are_honoured_and_the_key_comes_back() {
    let s = setup(2, json!({})).await;
    s.mock
        .fault_for_key(&s.keys[0], fault(429, &[("retry-after-ms", "1200")], "{}"));
    assert_eq!(s.chat().await.status, 200);
    assert_eq!(s.chat().await.status, 200);
    let wait = seconds_until(&s.health(0).await);
    assert!((0.5..=1.3).contains(&wait), "{wait}");
    s.mock.clear_fault_for_key(&s.keys[0]);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    for _ in 0..4 {
        assert_eq!(s.chat().await.status, 200);
    }
    assert!(s.calls(0) >= 2, "k1 is used again after its cooldown");
    assert_eq!(
        s.health(0).await["state"],
        "healthy",
        "a success clears the record"
    );

    let date = httpdate_in(Duration::from_secs(20));
    s.mock
        .fault_for_key(&s.keys[1], fault(429, &[("retry-after", &date)], "{}"));
    for _ in 0..2 {
        assert_eq!(s.chat().await.status, 200);
    }
    let wait = seconds_until(&s.health(1).await);
    assert!(
        (17.0..=21.0).contains(&wait),
        "HTTP-date Retry-After: {wait}"
    );
}

fn httpdate_in(wait: Duration) -> String {
    let at = domain::time_fmt::now() + wait;
    at.format(&time::format_description::well_known::Rfc2822)
        .unwrap()
        .replace("+0000", "GMT")
}

#[actix_web::test]
async fn three_401s_make_a_key_invalid_until_an_admin_re_enables_it() {
    let s = setup(1, json!({})).await;
    let mut unauthorized = fault(401, &[], r#"{"error":{"message":"bad key"}}"#);
    // Slow enough that three concurrent requests all pick the key before the first verdict.
    unauthorized.delay = Duration::from_millis(300);
    s.mock.fault_for_key(&s.keys[0], unauthorized);
    let (a, b, c) = tokio::join!(s.chat(), s.chat(), s.chat());
    for response in [a, b, c] {
        assert_eq!(response.status, 401, "{}", response.text());
    }
    assert_eq!(s.health(0).await["state"], "invalid");
    s.mock.clear_fault_for_key(&s.keys[0]);
    let refused = s.chat().await;
    assert_eq!(
        refused.status,
        503,
        "an invalid key is not used: {}",
        refused.text()
    );
    assert_eq!(s.calls(0), 3);

    let patched = s
        .app
        .admin_with(
            &s.token,
            Method::PATCH,
            &format!("/keys/{}", s.key_ids[0]),
            Some(json!({"is_active": true})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_eq!(
        s.health(0).await["state"],
        "healthy",
        "re-enabling clears the health"
    );
    assert_eq!(s.chat().await.status, 200);
}

#[actix_web::test]
async fn server_errors_connection_failures_and_the_last_error() {
    let s = setup(3, json!({"max_attempts": 3})).await;
    s.mock.fault_for_key(
        &s.keys[0],
        fault(503, &[], r#"{"error":{"message":"busy"}}"#),
    );
    assert_eq!(s.chat().await.status, 200, "a 5xx fails over");
    // Every key fails: the client gets the last upstream error, in its format.
    for key in &s.keys {
        s.mock.fault_for_key(
            key,
            fault(
                500,
                &[],
                r#"{"error":{"message":"upstream broke","type":"server_error"}}"#,
            ),
        );
    }
    let all_down = s.chat().await;
    assert_eq!(all_down.status, 500, "{}", all_down.text());
    assert_eq!(all_down.json()["error"]["message"], "upstream broke");
}

#[actix_web::test]
async fn connection_refused_fails_over_to_a_working_upstream_key() {
    // Nothing listens on port 1 of the loopback: every connection is refused.
    let dead_address = "http://127.0.0.1:1";
    let s = setup(2, json!({})).await;
    let moved = s
        .app
        .admin_with(
            &s.token,
            Method::PUT,
            &format!("/proxy-configs/{}", s.service),
            Some(json!({"name": "fo", "slug": "fo", "config_type": "llm",
                "target_base_url": format!("{dead_address}/v1"), "api_format": "openai_compatible"})),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text());
    let response = s.chat().await;
    assert_eq!(
        response.status,
        502,
        "every key meets the dead upstream: {}",
        response.text()
    );
    // Both keys were tried (each is cooling down now), then nothing is usable.
    let none = s.chat().await;
    assert_eq!(none.status, 503, "{}", none.text());
    assert!(
        none.header("retry-after").is_some(),
        "503 tells when to come back"
    );
}

#[actix_web::test]
async fn key_failures_do_not_spend_the_transient_budget() {
    let s = setup(5, json!({"max_attempts": 2})).await;
    for key in &s.keys[..4] {
        s.mock
            .fault_for_key(key, fault(429, &[("retry-after", "30")], "{}"));
    }
    let response = s.chat().await;
    assert_eq!(
        response.status,
        200,
        "served by the fifth key: {}",
        response.text()
    );
    assert_eq!(s.calls(4), 1);
}

#[actix_web::test]
async fn with_5xx_on_every_key_exactly_max_attempts_calls_are_made() {
    let s = setup(5, json!({"max_attempts": 2})).await;
    for key in &s.keys {
        s.mock.fault_for_key(
            key,
            fault(502, &[], r#"{"error":{"message":"bad gateway"}}"#),
        );
    }
    let response = s.chat().await;
    assert_eq!(response.status, 502);
    assert_eq!(s.mock.recorded().len(), 2, "max_attempts upstream calls");
}

#[actix_web::test]
async fn client_errors_pass_unchanged_and_quota_and_custom_rules_are_obeyed() {
    let s = setup(2, json!({})).await;
    let context = r#"{"error":{"message":"This model's maximum context length is 8192 tokens","type":"invalid_request_error","code":"context_length_exceeded"}}"#;
    s.mock
        .fault_for_key(&s.keys[0], fault(400, &[("x-upstream", "yes")], context));
    s.mock
        .fault_for_key(&s.keys[1], fault(400, &[("x-upstream", "yes")], context));
    let response = s.chat().await;
    assert_eq!(response.status, 400);
    assert_eq!(response.text(), context, "passed unchanged");
    assert_eq!(response.header("x-upstream").as_deref(), Some("yes"));
    assert_eq!(s.mock.recorded().len(), 1, "no failover for a client error");
    assert_eq!(s.health(0).await["state"], "healthy");
    assert_eq!(s.health(1).await["state"], "healthy");

    // OpenAI's insufficient_quota kills the key; a plain rate limit only cools it.
    s.mock.fault_for_key(&s.keys[0], fault(429, &[], r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#));
    s.mock.clear_fault_for_key(&s.keys[1]);
    for _ in 0..2 {
        assert_eq!(s.chat().await.status, 200);
    }
    assert_eq!(s.health(0).await["state"], "invalid");

    // A custom rule: 418 from the upstream now fails over and cools the key down.
    let teapot = fault(418, &[], r#"{"error":{"message":"teapot"}}"#);
    s.mock.fault_for_key(&s.keys[1], teapot);
    assert_eq!(s.chat().await.status, 418, "no rule: passed to the client");
    let mut config = s
        .app
        .admin_with(
            &s.token,
            Method::GET,
            &format!("/proxy-configs/{}", s.service),
            None,
        )
        .await
        .json();
    let mut rules = config["error_rules"].as_array().cloned().unwrap();
    rules.insert(0, json!({"status": 418, "action": "failover_cooldown"}));
    config["error_rules"] = Value::Array(rules);
    let updated = s
        .app
        .admin_with(
            &s.token,
            Method::PUT,
            &format!("/proxy-configs/{}", s.service),
            Some(config),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text());
    let next = s.chat().await;
    assert_eq!(
        next.status,
        418,
        "the last upstream error, once no key is left: {}",
        next.text()
    );
    assert_eq!(
        s.health(1).await["state"],
        "cooling_down",
        "the new rule cooled k2 down"
    );
    let none = s.chat().await;
    assert_eq!(none.status, 503, "k1 invalid, k2 cooling: {}", none.text());
}

#[actix_web::test]
async fn a_later_shorter_retry_after_keeps_the_longer_cooldown() {
    let s = setup(1, json!({})).await;
    let mut long = fault(429, &[("retry-after", "60")], "{}");
    long.delay = Duration::from_millis(100);
    let mut short = fault(429, &[("retry-after", "1")], "{}");
    short.delay = Duration::from_millis(700);
    // Concurrent requests both pick the key; the one answered later says 1 s.
    s.mock.push_fault(long);
    s.mock.push_fault(short);
    let (a, b) = tokio::join!(s.chat(), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        s.chat().await
    });
    assert_eq!(a.status, 429);
    assert_eq!(b.status, 429);
    let wait = seconds_until(&s.health(0).await);
    assert!(wait > 55.0, "the 60 s deadline holds: {wait}");
}

impl Setup {
    async fn stream(&self) -> (u16, String) {
        let (status, chunks) = self
            .app
            .call_streaming(
                Method::POST,
                "/llm/fo/v1/chat/completions",
                &[
                    ("authorization", &format!("Bearer {GLOBAL}")),
                    ("content-type", "application/json"),
                ],
                Some(
                    br#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#
                        .to_vec(),
                ),
            )
            .await;
        let text = chunks
            .iter()
            .map(|(_, c)| String::from_utf8_lossy(c).into_owned())
            .collect();
        (status, text)
    }
}

#[actix_web::test]
async fn a_stream_failing_before_its_first_byte_fails_over() {
    let s = setup(2, json!({})).await;
    s.mock.fault_for_key(
        &s.keys[0],
        fault(500, &[], r#"{"error":{"message":"boom"}}"#),
    );
    let (status, text) = s.stream().await;
    assert_eq!(status, 200, "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert_eq!((s.calls(0), s.calls(1)), (1, 1));
}

#[actix_web::test]
async fn a_stream_cut_after_its_first_byte_ends_with_an_error_event_and_no_retry() {
    let s = setup(2, json!({})).await;
    s.mock.push_fault(Fault {
        drop_connection: true,
        ..Fault::default()
    });
    let (status, text) = s.stream().await;
    assert_eq!(status, 200);
    assert!(
        text.contains(": heartbeat"),
        "the first bytes were relayed: {text}"
    );
    let last = text
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    assert!(
        last.starts_with("data: {\"error\""),
        "an OpenAI error event ends it: {text}"
    );
    assert!(!text.contains("[DONE]"));
    assert_eq!(
        s.mock.recorded().len(),
        1,
        "nothing is retried after the first byte"
    );
}

#[actix_web::test]
async fn a_slow_upstream_times_out_and_the_next_key_serves() {
    let s = setup(2, json!({"timeout_s": 1})).await;
    s.mock
        .fault_for_key(&s.keys[0], Fault::delay(Duration::from_secs(3)));
    let started = std::time::Instant::now();
    let response = s.chat().await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(started.elapsed() < Duration::from_millis(2500));
    assert_eq!(s.health(0).await["state"], "cooling_down");
}

#[actix_web::test]
async fn an_upstream_that_stops_sending_is_cut_after_the_idle_timeout() {
    let s = setup(1, json!({"timeout_s": 1})).await;
    let started = std::time::Instant::now();
    let (status, chunks) = s
        .app
        .call_streaming(
            Method::POST,
            "/llm/fo/v1/chat/completions?events=3&interval_ms=5000",
            &[
                ("authorization", &format!("Bearer {GLOBAL}")),
                ("content-type", "application/json"),
            ],
            Some(
                br#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#
                    .to_vec(),
            ),
        )
        .await;
    let text: String = chunks
        .iter()
        .map(|(_, c)| String::from_utf8_lossy(c).into_owned())
        .collect();
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_millis(3500),
        "cut after ~1 s idle, not after the upstream's 5 s"
    );
    assert!(text.contains("tok0"), "the first event was relayed: {text}");
    assert!(
        text.contains("data: {\"error\""),
        "an error event ends it: {text}"
    );
    assert!(!text.contains("tok1"));
}

#[actix_web::test]
async fn an_upstream_answering_10_mb_of_headers_is_a_bounded_502() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n");
            let line = format!("x-big: {}\r\n", "a".repeat(1000));
            for _ in 0..10_000 {
                if stream.write_all(line.as_bytes()).is_err() {
                    break;
                }
            }
        }
    });
    let app = spawn_app_with(TestOptions::default().env("GLOBAL_PROXY_KEYS", GLOBAL)).await;
    let token = app.login().await;
    let service = app
        .create_service(
            &token,
            json!({"name": "big", "slug": "big", "config_type": "generic", "target_url": address,
                "api_key_location": "bearer"}),
        )
        .await;
    app.add_key(&token, service, "sk-big-headers-00000001")
        .await;
    let started = std::time::Instant::now();
    let response = app
        .call(
            Method::GET,
            "/proxy/big/x",
            &[("x-proxy-key", GLOBAL)],
            None,
        )
        .await;
    assert_eq!(response.status, 502, "{}", response.text());
    assert!(started.elapsed() < Duration::from_secs(10));
}

async fn key_test(s: &Setup) -> testkit::TestResponse {
    s.app
        .admin_with(
            &s.token,
            Method::POST,
            &format!("/keys/{}/test", s.key_ids[0]),
            None,
        )
        .await
}

#[actix_web::test]
async fn the_key_test_endpoint_calls_the_upstream_and_records_the_result() {
    let s = setup(1, json!({})).await;
    let ok = key_test(&s).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json()["ok"], true);
    assert_eq!(ok.json()["status"], 200);
    let sent = &s.mock.recorded()[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("GET", "/v1/models")
    );
    assert_eq!(sent.key.as_deref(), Some(s.keys[0].as_str()));

    s.mock.fault_for_key(
        &s.keys[0],
        fault(401, &[], r#"{"error":{"message":"bad key"}}"#),
    );
    let refused = key_test(&s).await;
    assert_eq!(refused.json()["ok"], false);
    assert_eq!(refused.json()["status"], 401);
    assert_eq!(refused.json()["health"]["state"], "cooling_down");
    assert_eq!(s.health(0).await["state"], "cooling_down");

    let missing = s
        .app
        .admin_with(&s.token, Method::POST, "/keys/999999/test", None)
        .await;
    assert_eq!(missing.status, 404);
}

#[actix_web::test]
async fn an_invalid_key_that_answers_again_is_back_in_rotation_without_an_admin() {
    let mock = MockUpstream::start();
    let app = spawn_app_with(
        TestOptions::default()
            .env("GLOBAL_PROXY_KEYS", GLOBAL)
            .env("REPROBE_SCHEDULE", "0.3,0.3"),
    )
    .await;
    let token = app.login().await;
    let service = app
        .create_service(
            &token,
            json!({"name": "rp", "slug": "rp", "config_type": "llm",
                "target_base_url": format!("{}/v1", mock.address), "api_format": "openai_compatible"}),
        )
        .await;
    let key = "sk-reprobe-key-00000001";
    let row = app.add_key(&token, service, key).await;
    mock.fault_for_key(
        key,
        fault(
            429,
            &[],
            r#"{"error":{"message":"quota","code":"insufficient_quota"}}"#,
        ),
    );
    let bearer = format!("Bearer {GLOBAL}");
    let headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    let chat = || {
        app.call(
            Method::POST,
            "/llm/rp/v1/chat/completions",
            &headers,
            Some(br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#.to_vec()),
        )
    };
    assert_eq!(chat().await.status, 429);
    assert_eq!(chat().await.status, 503, "the key is invalid");
    let state = || async {
        app.admin_with(
            &token,
            Method::GET,
            &format!("/proxy-configs/{service}/keys"),
            None,
        )
        .await
        .json()[0]["state"]
            .clone()
    };
    assert_eq!(state().await, "invalid");
    // Still refused at the first probes: stays invalid.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(state().await, "invalid");
    let probes_while_broken = mock
        .recorded()
        .iter()
        .filter(|r| r.path == "/v1/models")
        .count();
    assert!(probes_while_broken >= 1, "the invalid key was probed");
    mock.clear_fault_for_key(key);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while state().await != "healthy" {
        assert!(
            std::time::Instant::now() < deadline,
            "the key never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(chat().await.status, 200);
    assert_eq!(
        row["id"],
        app.admin_with(
            &token,
            Method::GET,
            &format!("/proxy-configs/{service}/keys"),
            None
        )
        .await
        .json()[0]["id"]
    );
}

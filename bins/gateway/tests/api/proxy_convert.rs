//! Format conversion through the real gateway (SPEC §5.4): what reaches the
//! upstream, what the client gets back, and bad input on either side. The
//! SDK conformance suite (`tests/sdk`) covers the 16 client × upstream cells
//! with the official SDKs; these tests cover the edges.

use actix_web::http::Method;
use serde_json::{json, Value};
use testkit::{spawn_app_with, Fault, MockUpstream, TestApp, TestOptions};

const GLOBAL: &str = "global-client-key-convert";

async fn setup(format: &str, base_path: &str, extra: Value) -> (TestApp, MockUpstream) {
    let mock = MockUpstream::start();
    let app = spawn_app_with(TestOptions::default().env("GLOBAL_PROXY_KEYS", GLOBAL)).await;
    let token = app.login().await;
    let mut body = json!({"name": "conv", "slug": "conv", "config_type": "llm",
        "target_base_url": format!("{}{base_path}", mock.address), "api_format": format});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let id = app.create_service(&token, body).await;
    app.add_key(&token, id, "sk-convert-upstream-000001").await;
    (app, mock)
}

fn bearer() -> String {
    format!("Bearer {GLOBAL}")
}

async fn openai_chat(app: &TestApp, body: &Value) -> testkit::TestResponse {
    app.call(
        Method::POST,
        "/llm/conv/v1/chat/completions",
        &[
            ("authorization", &bearer()),
            ("content-type", "application/json"),
        ],
        Some(body.to_string().into_bytes()),
    )
    .await
}

/// A one-line Anthropic Messages request, as the Anthropic SDK sends it.
async fn anthropic_message(app: &TestApp) -> testkit::TestResponse {
    app.call(
        Method::POST,
        "/llm/conv/v1/messages",
        &[("x-api-key", GLOBAL), ("anthropic-version", "2023-06-01")],
        Some(
            json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]})
                .to_string()
                .into_bytes(),
        ),
    )
    .await
}

#[actix_web::test]
async fn an_openai_request_reaches_anthropic_converted_with_model_map_and_default_max_tokens() {
    let (app, mock) = setup(
        "anthropic_native",
        "/sim",
        json!({"model_map": {"fast": "claude-sim-1"}}),
    )
    .await;
    let response = openai_chat(
        &app,
        &json!({"model": "fast", "messages": [{"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Hello"}], "temperature": 0.5, "stop": "END"}),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let answer = response.json();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Echo: Hello | system: Be terse. | turns: 1 | images: 0"
    );
    assert_eq!(
        answer["model"], "fast",
        "the client's model name comes back"
    );
    assert_eq!(answer["usage"]["total_tokens"], 18);

    let recorded = mock.recorded();
    assert_eq!(recorded.len(), 1);
    let sent = &recorded[0];
    assert_eq!(sent.path, "/sim/v1/messages");
    assert_eq!(
        sent.header_values("x-api-key"),
        vec!["sk-convert-upstream-000001"]
    );
    assert_eq!(sent.header_values("anthropic-version"), vec!["2023-06-01"]);
    assert!(
        sent.header_values("authorization").is_empty(),
        "no client key upstream"
    );
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(body["model"], "claude-sim-1");
    assert_eq!(
        body["max_tokens"], 4096,
        "DEFAULT_MAX_TOKENS when none was asked"
    );
    assert_eq!(body["system"], "Be terse.");
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(body["stop_sequences"], json!(["END"]));
}

#[actix_web::test]
async fn a_streamed_gemini_upstream_is_called_with_the_model_in_the_path_and_alt_sse() {
    let (app, mock) = setup("gemini_native", "/sim/v1beta", json!({})).await;
    let (status, chunks) = app
        .call_streaming(
            Method::POST,
            "/llm/conv/v1/chat/completions",
            &[("authorization", &bearer()), ("content-type", "application/json")],
            Some(
                json!({"model": "gemini-sim", "stream": true, "stream_options": {"include_usage": true},
                "messages": [{"role": "user", "content": "Hi"}]})
                .to_string()
                .into_bytes(),
            ),
        )
        .await;
    assert_eq!(status, 200);
    let text: String = chunks
        .iter()
        .map(|(_, c)| String::from_utf8_lossy(c).into_owned())
        .collect();
    let mut content = String::new();
    let mut usage = Value::Null;
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if line == "[DONE]" {
            continue;
        }
        let chunk: Value = serde_json::from_str(line).unwrap();
        if let Some(delta) = chunk["choices"][0]["delta"]["content"].as_str() {
            content.push_str(delta);
        }
        if chunk["usage"].is_object() {
            usage = chunk["usage"].clone();
        }
    }
    assert_eq!(content, "Echo: Hi | system:  | turns: 1 | images: 0");
    assert_eq!(usage["prompt_tokens"], 11);
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let sent = &mock.recorded()[0];
    assert_eq!(
        sent.path,
        "/sim/v1beta/models/gemini-sim:streamGenerateContent"
    );
    assert_eq!(sent.query, "alt=sse");
    assert_eq!(
        sent.header_values("x-goog-api-key"),
        vec!["sk-convert-upstream-000001"]
    );
}

#[actix_web::test]
async fn malformed_client_requests_are_400_in_the_client_format_and_never_sent() {
    let (app, mock) = setup("anthropic_native", "/sim", json!({})).await;
    let not_json = app
        .call(
            Method::POST,
            "/llm/conv/v1/chat/completions",
            &[("authorization", &bearer())],
            Some(b"{not json".to_vec()),
        )
        .await;
    assert_eq!(not_json.status, 400);
    let message = not_json.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("not valid JSON"), "{message}");
    assert_eq!(not_json.json()["error"]["type"], "invalid_request_error");

    let no_messages = openai_chat(&app, &json!({"model": "m"})).await;
    assert_eq!(no_messages.status, 400);
    assert!(
        no_messages.text().contains("`messages` is required"),
        "{}",
        no_messages.text()
    );

    let bad_role = openai_chat(
        &app,
        &json!({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}),
    )
    .await;
    assert_eq!(bad_role.status, 400);
    assert!(
        bad_role.text().contains("messages[0].role"),
        "{}",
        bad_role.text()
    );

    // A Gemini client gets Gemini's error shape.
    let gemini = app
        .call(
            Method::POST,
            "/llm/conv/v1beta/models/m:generateContent",
            &[("x-goog-api-key", GLOBAL)],
            Some(b"{\"contents\": 5}".to_vec()),
        )
        .await;
    assert_eq!(gemini.status, 400);
    assert_eq!(gemini.json()["error"]["status"], "INVALID_ARGUMENT");
    assert!(mock.recorded().is_empty(), "nothing reached the upstream");
}

#[actix_web::test]
async fn operations_without_an_equivalent_are_a_clear_404_in_the_client_format() {
    let (app, mock) = setup("openai_compatible", "/sim/v1", json!({})).await;
    let count = app
        .call(
            Method::POST,
            "/llm/conv/v1/messages/count_tokens",
            &[("x-api-key", GLOBAL), ("anthropic-version", "2023-06-01")],
            Some(
                json!({"model": "m", "messages": []})
                    .to_string()
                    .into_bytes(),
            ),
        )
        .await;
    assert_eq!(count.status, 404);
    let body = count.json();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "not_found_error");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("messages/count_tokens"));
    assert!(mock.recorded().is_empty());
}

#[actix_web::test]
async fn upstream_errors_reach_the_client_in_its_format_with_the_message_kept() {
    let (app, mock) = setup("openai_compatible", "/sim/v1", json!({})).await;
    mock.push_fault(Fault {
        status: 400,
        body: json!({"error": {"message": "This model's maximum context length is 8192 tokens", "type": "invalid_request_error", "code": "context_length_exceeded"}}).to_string(),
        ..Fault::default()
    });
    let response = anthropic_message(&app).await;
    assert_eq!(response.status, 400);
    let body = response.json();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(
        body["error"]["message"],
        "This model's maximum context length is 8192 tokens"
    );
}

#[actix_web::test]
async fn a_converted_rate_limit_keeps_the_upstreams_retry_hints() {
    // One key: its 429 is the last answer, delivered in the client's format.
    let (app, mock) = setup("openai_compatible", "/sim/v1", json!({})).await;
    mock.push_fault(Fault {
        headers: vec![
            ("retry-after".to_owned(), "7".to_owned()),
            ("retry-after-ms".to_owned(), "6500".to_owned()),
            ("x-ratelimit-remaining-requests".to_owned(), "0".to_owned()),
        ],
        ..Fault::status(429)
    });
    let response = anthropic_message(&app).await;
    assert_eq!(response.status, 429, "{}", response.text());
    assert_eq!(response.json()["error"]["type"], "rate_limit_error");
    assert_eq!(response.header("retry-after").as_deref(), Some("7"));
    assert_eq!(response.header("retry-after-ms").as_deref(), Some("6500"));
    assert_eq!(
        response.header("x-ratelimit-remaining-requests").as_deref(),
        None,
        "OpenAI's rate-limit headers mean nothing to an Anthropic client"
    );
}

#[actix_web::test]
async fn malformed_upstream_output_is_502_in_the_client_format() {
    // `/echo` answers the request body itself: valid JSON, but not an Anthropic message.
    let (app, _mock) = setup("anthropic_native", "/echo", json!({})).await;
    let response = openai_chat(
        &app,
        &json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(response.status, 502, "{}", response.text());
    assert_eq!(response.json()["error"]["code"], "bad_upstream_response");
}

#[actix_web::test]
async fn a_stream_cut_by_the_upstream_ends_with_an_error_event_in_the_client_format() {
    let (app, mock) = setup("openai_compatible", "/sim/v1", json!({})).await;
    mock.push_fault(Fault {
        drop_connection: true,
        ..Fault::default()
    });
    let (status, chunks) = app
        .call_streaming(
            Method::POST,
            "/llm/conv/v1/messages",
            &[("x-api-key", GLOBAL), ("anthropic-version", "2023-06-01")],
            Some(
                json!({"model": "m", "max_tokens": 10, "stream": true,
                "messages": [{"role": "user", "content": "x"}]})
                .to_string()
                .into_bytes(),
            ),
        )
        .await;
    assert_eq!(status, 200);
    let text: String = chunks
        .iter()
        .map(|(_, c)| String::from_utf8_lossy(c).into_owned())
        .collect();
    assert!(text.contains("event: error"), "{text}");
    assert!(!text.contains("message_stop"), "never a clean end: {text}");
}

#[actix_web::test]
async fn model_listings_are_converted() {
    let (app, _mock) = setup("gemini_native", "/sim/v1beta", json!({})).await;
    let response = app
        .call(
            Method::GET,
            "/llm/conv/v1/models",
            &[("authorization", &bearer())],
            None,
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["data"][0]["id"], "sim-model");
    assert_eq!(response.json()["object"], "list");
}

#[actix_web::test]
async fn the_client_key_in_a_converted_body_is_used_and_removed() {
    let (app, mock) = setup("gemini_native", "/sim/v1beta", json!({})).await;
    let response = app
        .call(
            Method::POST,
            "/llm/conv/v1/chat/completions",
            &[("content-type", "application/json")],
            Some(json!({"model": "m", "api_key": GLOBAL, "messages": [{"role": "user", "content": "x"}]}).to_string().into_bytes()),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let sent = String::from_utf8_lossy(&mock.recorded()[0].body).into_owned();
    assert!(!sent.contains(GLOBAL), "{sent}");
}

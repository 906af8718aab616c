//! The client key is accepted wherever its SDK puts it, and never reaches the
//! upstream; upstream keys never reach the client.

use actix_web::http::Method;
use serde_json::json;
use testkit::{spawn_app, MockUpstream, TestApp};

const UPSTREAM_KEY: &str = "sk-upstream-never-shown-0001";

async fn setup(format: &str, base_suffix: &str) -> (TestApp, MockUpstream, String, String) {
    let mock = MockUpstream::start();
    let app = spawn_app().await;
    let token = app.login().await;
    let id = app
        .create_service(
            &token,
            json!({"name": "svc", "slug": "svc", "config_type": "llm",
            "target_base_url": format!("{}{base_suffix}", mock.address), "api_format": format}),
        )
        .await;
    app.add_key(&token, id, UPSTREAM_KEY).await;
    let client = app
        .admin_with(
            &token,
            Method::POST,
            "/client-keys",
            Some(json!({"name": "sdk"})),
        )
        .await
        .json();
    let client_key = client["key"].as_str().unwrap().to_owned();
    (app, mock, token, client_key)
}

fn assert_clean(mock: &MockUpstream, client_key: &str, responses: &[String]) {
    let recorded = mock.recorded();
    assert!(!recorded.is_empty(), "the upstream must have been called");
    for request in &recorded {
        assert!(
            !request.as_text().contains(client_key),
            "client key reached the upstream:\n{}",
            request.as_text()
        );
        assert_eq!(
            request.key.as_deref(),
            Some(UPSTREAM_KEY),
            "{}",
            request.as_text()
        );
    }
    for response in responses {
        assert!(
            !response.contains(UPSTREAM_KEY),
            "upstream key in a response: {response}"
        );
    }
}

#[actix_web::test]
async fn openai_style_bearer_and_body_api_key() {
    let (app, mock, _, client_key) = setup("openai_compatible", "/v1").await;
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
    let bearer = format!("Bearer {client_key}");
    let a = app
        .call(
            Method::POST,
            "/llm/svc/v1/chat/completions",
            &[("authorization", &bearer)],
            Some(body.to_string().into_bytes()),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let mut with_key = body.clone();
    with_key["api_key"] = json!(client_key);
    let b = app
        .call(
            Method::POST,
            "/llm/svc/v1/chat/completions",
            &[("content-type", "application/json")],
            Some(with_key.to_string().into_bytes()),
        )
        .await;
    assert_eq!(b.status, 200, "{}", b.text());
    let forwarded: serde_json::Value = serde_json::from_slice(&mock.recorded()[1].body).unwrap();
    assert!(forwarded.get("api_key").is_none());
    assert_eq!(
        forwarded["model"], "gpt-4o-mini",
        "the rest of the body is kept"
    );
    assert_eq!(
        mock.recorded()[0].header_values("authorization"),
        vec![format!("Bearer {UPSTREAM_KEY}")]
    );
    assert_clean(&mock, &client_key, &[a.text(), b.text()]);
}

#[actix_web::test]
async fn anthropic_style_x_api_key() {
    let (app, mock, _, client_key) = setup("anthropic_native", "").await;
    let body = json!({"model": "claude", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let response = app
        .call(
            Method::POST,
            "/llm/svc/v1/messages",
            &[
                ("x-api-key", &client_key),
                ("anthropic-version", "2023-06-01"),
            ],
            Some(body.to_string().into_bytes()),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let recorded = &mock.recorded()[0];
    assert_eq!(recorded.header_values("x-api-key"), vec![UPSTREAM_KEY]);
    assert_eq!(
        recorded.header_values("anthropic-version"),
        vec!["2023-06-01"]
    );
    assert_eq!(recorded.path, "/v1/messages");
    assert_clean(&mock, &client_key, &[response.text()]);
}

#[actix_web::test]
async fn anthropic_version_is_added_when_missing() {
    let (app, mock, _, client_key) = setup("anthropic_native", "").await;
    let bearer = format!("Bearer {client_key}");
    let response = app
        .call(
            Method::POST,
            "/llm/svc/v1/messages",
            &[("authorization", &bearer)],
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        mock.recorded()[0].header_values("anthropic-version"),
        vec!["2023-06-01"]
    );
    assert!(mock.recorded()[0].header_values("authorization").is_empty());
}

#[actix_web::test]
async fn gemini_style_header_and_query_key() {
    let (app, mock, _, client_key) = setup("gemini_native", "").await;
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).to_string();
    let path = "/llm/svc/v1beta/models/gemini-2.0-flash:generateContent";
    let a = app
        .call(
            Method::POST,
            path,
            &[("x-goog-api-key", &client_key)],
            Some(body.clone().into_bytes()),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let b = app
        .call(
            Method::POST,
            &format!("{path}?key={client_key}&x=1"),
            &[],
            Some(body.into_bytes()),
        )
        .await;
    assert_eq!(b.status, 200, "{}", b.text());
    let recorded = mock.recorded();
    assert_eq!(
        recorded[1].query, "x=1",
        "the client's key parameter is removed, others kept"
    );
    assert_eq!(
        recorded[1].header_values("x-goog-api-key"),
        vec![UPSTREAM_KEY]
    );
    assert_eq!(
        recorded[0].path,
        "/v1beta/models/gemini-2.0-flash:generateContent"
    );
    assert_clean(&mock, &client_key, &[a.text(), b.text()]);
}

#[actix_web::test]
async fn responses_api_passthrough() {
    let (app, mock, _, client_key) = setup("openai_responses", "/v1").await;
    let bearer = format!("Bearer {client_key}");
    let response = app
        .call(
            Method::POST,
            "/llm/svc/v1/responses",
            &[("authorization", &bearer)],
            Some(
                json!({"model": "gpt-4o-mini", "input": "hi"})
                    .to_string()
                    .into_bytes(),
            ),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["object"], "response");
    assert_eq!(mock.recorded()[0].path, "/v1/responses");
    assert_clean(&mock, &client_key, &[response.text()]);
}

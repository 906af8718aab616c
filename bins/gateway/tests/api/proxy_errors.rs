//! Refusals and upstream failures: the right status, in the gateway's shape
//! on /proxy and in the client's API format on /llm.

use actix_web::http::Method;
use serde_json::json;
use std::time::Duration;
use testkit::{spawn_app_with, Fault, MockUpstream, TestApp, TestOptions};

const GLOBAL: &str = "global-client-key-errors";

async fn app() -> (TestApp, MockUpstream, String) {
    let mock = MockUpstream::start();
    let app = spawn_app_with(
        TestOptions::default()
            .env("GLOBAL_PROXY_KEYS", GLOBAL)
            .env("PROXY_TIMEOUT", "30"),
    )
    .await;
    let token = app.login().await;
    (app, mock, token)
}

async fn llm_service(app: &TestApp, token: &str, slug: &str, format: &str, base: &str) -> i64 {
    app.create_service(token, json!({"name": slug, "slug": slug, "config_type": "llm", "target_base_url": base, "api_format": format}))
        .await
}

#[actix_web::test]
async fn unknown_inactive_and_wrong_kind_services_are_404() {
    let (app, mock, token) = app().await;
    let id = llm_service(
        &app,
        &token,
        "llm",
        "openai_compatible",
        &format!("{}/v1", mock.address),
    )
    .await;
    app.add_key(&token, id, "sk-errors-key-000000001").await;
    let generic = app
        .create_service(
            &token,
            json!({"name": "gen", "slug": "gen", "config_type": "generic",
            "target_url": mock.address, "api_key_location": "bearer"}),
        )
        .await;
    app.add_key(&token, generic, "sk-errors-key-000000002")
        .await;
    let bearer = format!("Bearer {GLOBAL}");

    let missing = app
        .call(
            Method::POST,
            "/llm/nope/v1/chat/completions",
            &[("authorization", &bearer)],
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json()["error"]["type"],
        "not_found_error",
        "OpenAI error shape: {}",
        missing.text()
    );
    let wrong_kind = app
        .call(
            Method::GET,
            "/proxy/llm/x",
            &[("x-proxy-key", GLOBAL)],
            None,
        )
        .await;
    assert_eq!(
        (
            wrong_kind.status,
            wrong_kind.json()["error"]["code"].clone()
        ),
        (404, json!("service_not_found"))
    );
    let wrong_kind = app
        .call(
            Method::GET,
            "/llm/gen/v1/models",
            &[("authorization", &bearer)],
            None,
        )
        .await;
    assert_eq!(wrong_kind.status, 404);

    app.admin_with(
        &token,
        Method::PUT,
        &format!("/proxy-configs/{id}/status"),
        Some(json!({"is_active": false})),
    )
    .await;
    let inactive = app
        .call(
            Method::GET,
            "/llm/llm/v1/models",
            &[("authorization", &bearer)],
            None,
        )
        .await;
    assert_eq!(inactive.status, 404);
    assert!(mock.recorded().is_empty());
}

#[actix_web::test]
async fn client_key_problems_are_401_or_403_in_the_clients_format() {
    let (app, mock, token) = app().await;
    let anthropic = llm_service(&app, &token, "claude", "anthropic_native", &mock.address).await;
    app.add_key(&token, anthropic, "sk-ant-errors-0000000001")
        .await;
    let gemini = llm_service(&app, &token, "gem", "gemini_native", &mock.address).await;
    app.add_key(&token, gemini, "gemini-errors-0000000001")
        .await;
    let only_other = app
        .admin_with(
            &token,
            Method::POST,
            "/client-keys",
            Some(json!({"name": "other", "allowed_slugs": ["gem"]})),
        )
        .await
        .json()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let soon = time::OffsetDateTime::now_utc() + Duration::from_millis(1500);
    let expiring = app
        .admin_with(&token, Method::POST, "/client-keys",
            Some(json!({"name": "short", "expires_at": soon.format(&time::format_description::well_known::Rfc3339).unwrap()})))
        .await
        .json()["key"]
        .as_str()
        .unwrap()
        .to_owned();

    let messages = "/llm/claude/v1/messages";
    let body = Some(
        json!({"model": "c", "max_tokens": 5, "messages": []})
            .to_string()
            .into_bytes(),
    );
    let version = ("anthropic-version", "2023-06-01");
    let none = app
        .call(Method::POST, messages, &[version], body.clone())
        .await;
    assert_eq!(none.status, 401);
    assert_eq!(
        none.json()["type"],
        "error",
        "Anthropic error shape: {}",
        none.text()
    );
    assert_eq!(none.json()["error"]["type"], "authentication_error");
    let wrong = app
        .call(
            Method::POST,
            messages,
            &[version, ("x-api-key", "rk-wrong")],
            body.clone(),
        )
        .await;
    assert_eq!(wrong.status, 401);
    let forbidden = app
        .call(
            Method::POST,
            messages,
            &[version, ("x-api-key", &only_other)],
            body.clone(),
        )
        .await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(forbidden.json()["error"]["type"], "permission_error");
    let allowed = app
        .call(
            Method::POST,
            "/llm/gem/v1beta/models/g:generateContent",
            &[("x-goog-api-key", &only_other)],
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    let gemini_unauthorized = app
        .call(
            Method::POST,
            "/llm/gem/v1beta/models/g:generateContent?key=nope",
            &[],
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(gemini_unauthorized.status, 401);
    assert_eq!(
        gemini_unauthorized.json()["error"]["status"],
        "UNAUTHENTICATED",
        "Gemini shape: {}",
        gemini_unauthorized.text()
    );

    assert_eq!(
        app.call(
            Method::POST,
            messages,
            &[version, ("x-api-key", &expiring)],
            body.clone()
        )
        .await
        .status,
        200
    );
    actix_web::rt::time::sleep(Duration::from_millis(1700)).await;
    let expired = app
        .call(
            Method::POST,
            messages,
            &[version, ("x-api-key", &expiring)],
            body,
        )
        .await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.json()["error"]["message"], "client key expired");

    let generic = app
        .create_service(
            &token,
            json!({"name": "g", "slug": "g", "config_type": "generic", "target_url": mock.address,
            "api_key_location": "bearer"}),
        )
        .await;
    app.add_key(&token, generic, "sk-errors-generic-000001")
        .await;
    let missing = app.call(Method::GET, "/proxy/g/echo", &[], None).await;
    assert_eq!(
        (missing.status, missing.json()["error"]["code"].clone()),
        (401, json!("missing_client_key"))
    );
}

#[actix_web::test]
async fn no_active_key_is_503() {
    let (app, mock, token) = app().await;
    let id = llm_service(
        &app,
        &token,
        "empty",
        "openai_compatible",
        &format!("{}/v1", mock.address),
    )
    .await;
    let bearer = format!("Bearer {GLOBAL}");
    let response = app
        .call(
            Method::GET,
            "/llm/empty/v1/models",
            &[("authorization", &bearer)],
            None,
        )
        .await;
    assert_eq!(response.status, 503);
    assert_eq!(response.json()["error"]["code"], "no_available_key");
    let key = app.add_key(&token, id, "sk-errors-disabled-00001").await;
    app.admin_with(
        &token,
        Method::PATCH,
        &format!("/keys/{}", key["id"]),
        Some(json!({"is_active": false})),
    )
    .await;
    let response = app
        .call(
            Method::GET,
            "/llm/empty/v1/models",
            &[("authorization", &bearer)],
            None,
        )
        .await;
    assert_eq!(response.status, 503);
}

#[actix_web::test]
async fn unreachable_upstream_is_502_and_slow_upstream_is_504() {
    let (app, mock, token) = app().await;
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = llm_service(
        &app,
        &token,
        "down",
        "openai_compatible",
        &format!("http://127.0.0.1:{closed}/v1"),
    )
    .await;
    app.add_key(&token, down, "sk-errors-down-000000001").await;
    let bearer = format!("Bearer {GLOBAL}");
    let response = app
        .call(
            Method::GET,
            "/llm/down/v1/models",
            &[("authorization", &bearer)],
            None,
        )
        .await;
    assert_eq!(response.status, 502, "{}", response.text());
    assert_eq!(response.json()["error"]["code"], "upstream_unreachable");

    let slow = app
        .create_service(&token, json!({"name": "slow", "slug": "slow", "config_type": "generic", "target_url": mock.address,
            "api_key_location": "bearer", "timeout_s": 1}))
        .await;
    app.add_key(&token, slow, "sk-errors-slow-000000001").await;
    mock.push_fault(Fault::delay(Duration::from_secs(3)));
    let started = std::time::Instant::now();
    let response = app
        .call(
            Method::GET,
            "/proxy/slow/echo",
            &[("x-proxy-key", GLOBAL)],
            None,
        )
        .await;
    assert_eq!(response.status, 504, "{}", response.text());
    assert_eq!(response.json()["error"]["code"], "upstream_timeout");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "the service's timeout_s applies"
    );
}

#[actix_web::test]
async fn proxy_prefixes_match_whole_path_segments_only() {
    let (app, mock, token) = app().await;
    let id = llm_service(
        &app,
        &token,
        "seg",
        "openai_compatible",
        &format!("{}/v1", mock.address),
    )
    .await;
    app.add_key(&token, id, "sk-errors-key-000000003").await;
    let bearer = format!("Bearer {GLOBAL}");
    let headers = [("authorization", bearer.as_str())];
    // Lookalike prefixes are not the proxies: nothing reaches the upstream.
    for path in [
        "/llmseg/v1/models",
        "/llm-seg/v1/models",
        "/proxyseg/v1/models",
    ] {
        let answer = app.call(Method::GET, path, &headers, None).await;
        assert_eq!(answer.status, 404, "{path}");
    }
    assert!(mock.recorded().is_empty(), "no lookalike path was proxied");
    // No slug at all: the proxy's own 404 in the client's shape.
    for path in ["/llm", "/llm/", "/llm//v1/models"] {
        let answer = app.call(Method::GET, path, &headers, None).await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.text());
    }
    let routed = app
        .call(Method::GET, "/llm/seg/v1/models", &headers, None)
        .await;
    assert_eq!(routed.status, 200, "{}", routed.text());
    assert_eq!(mock.recorded().len(), 1);
}

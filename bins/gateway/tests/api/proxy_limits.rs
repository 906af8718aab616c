//! rpm limits of client keys and upstream keys (per minute windows) in the
//! lightweight build; `enterprise.rs` checks them across three instances.

use actix_web::http::Method;
use serde_json::json;
use std::time::Duration;
use testkit::{spawn_app, MockUpstream};

/// Waits out the last seconds of a minute, so a test's requests share one window.
pub async fn clear_of_minute_boundary() {
    let second = domain::time_fmt::now().second();
    if second >= 50 {
        tokio::time::sleep(Duration::from_secs(u64::from(61 - second))).await;
    }
}

#[actix_web::test]
async fn client_and_upstream_key_rpm_limits_hold() {
    let mock = MockUpstream::start();
    let app = spawn_app().await;
    let token = app.login().await;
    let service = app
        .create_service(
            &token,
            json!({"name": "lim", "slug": "lim", "config_type": "llm",
                "target_base_url": format!("{}/v1", mock.address), "api_format": "openai_compatible"}),
        )
        .await;
    let limited_key = app
        .add_key(&token, service, "sk-limited-key-00000001")
        .await;
    app.add_key(&token, service, "sk-free-key-000000000002")
        .await;
    let patched = app
        .admin_with(
            &token,
            Method::PATCH,
            &format!("/keys/{}", limited_key["id"]),
            Some(json!({"rpm_limit": 2})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text());
    let created = app
        .admin_with(
            &token,
            Method::POST,
            "/client-keys",
            Some(json!({"name": "limited", "rpm_limit": 5})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let bearer = format!("Bearer {}", created.json()["key"].as_str().unwrap());

    clear_of_minute_boundary().await;
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..6 {
        let response = app
            .call(
                Method::POST,
                "/llm/lim/v1/chat/completions",
                &[
                    ("authorization", &bearer),
                    ("content-type", "application/json"),
                ],
                Some(br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#.to_vec()),
            )
            .await;
        statuses.push(response.status);
        last = Some(response);
    }
    assert_eq!(statuses, vec![200, 200, 200, 200, 200, 429]);
    let refused = last.unwrap();
    assert_eq!(
        refused.json()["error"]["code"],
        "rate_limited",
        "{}",
        refused.text()
    );
    let wait: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let counts = mock.count_by_key();
    assert_eq!(
        counts.get("sk-limited-key-00000001"),
        Some(&2),
        "{counts:?}"
    );
    assert_eq!(
        counts.get("sk-free-key-000000000002"),
        Some(&3),
        "{counts:?}"
    );
}

#[actix_web::test]
async fn a_pool_whose_only_key_is_at_its_limit_answers_503_with_retry_after() {
    let mock = MockUpstream::start();
    let app = spawn_app().await;
    let token = app.login().await;
    let service = app
        .create_service(
            &token,
            json!({"name": "one", "slug": "one", "config_type": "generic",
                "target_url": mock.address, "api_key_location": "bearer"}),
        )
        .await;
    let key = app
        .add_key(&token, service, "sk-only-key-000000000001")
        .await;
    app.admin_with(
        &token,
        Method::PATCH,
        &format!("/keys/{}", key["id"]),
        Some(json!({"rpm_limit": 1})),
    )
    .await;
    let created = app
        .admin_with(
            &token,
            Method::POST,
            "/client-keys",
            Some(json!({"name": "c"})),
        )
        .await;
    let client = created.json()["key"].as_str().unwrap().to_owned();
    clear_of_minute_boundary().await;
    let first = app
        .call(
            Method::GET,
            "/proxy/one/echo",
            &[("x-proxy-key", &client)],
            None,
        )
        .await;
    assert_eq!(first.status, 200);
    let second = app
        .call(
            Method::GET,
            "/proxy/one/echo",
            &[("x-proxy-key", &client)],
            None,
        )
        .await;
    assert_eq!(second.status, 503, "{}", second.text());
    assert!(second.header("retry-after").is_some());
}

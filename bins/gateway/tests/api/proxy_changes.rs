//! Admin changes are obeyed by the very next proxied request.

use actix_web::http::Method;
use serde_json::json;
use testkit::{spawn_app, MockUpstream};

#[actix_web::test]
async fn admin_changes_apply_to_the_next_request() {
    let mock = MockUpstream::start();
    let app = spawn_app().await;
    let token = app.login().await;
    let id = app
        .create_service(
            &token,
            json!({"name": "live", "slug": "live", "config_type": "llm",
            "target_base_url": format!("{}/v1", mock.address), "api_format": "openai_compatible"}),
        )
        .await;
    let first = app.add_key(&token, id, "sk-changes-first-0000001").await;
    let client = app
        .admin_with(
            &token,
            Method::POST,
            "/client-keys",
            Some(json!({"name": "c"})),
        )
        .await
        .json();
    let bearer = format!("Bearer {}", client["key"].as_str().unwrap());
    let headers = [("authorization", bearer.as_str())];
    let call = || app.call(Method::GET, "/llm/live/v1/models", &headers, None);

    assert_eq!(call().await.status, 200);
    // A new key is used right away (round robin over two keys).
    app.add_key(&token, id, "sk-changes-second-000001").await;
    mock.clear();
    for _ in 0..4 {
        assert_eq!(call().await.status, 200);
    }
    assert_eq!(mock.count_by_key().len(), 2, "{:?}", mock.count_by_key());

    // A disabled key is never used again.
    app.admin_with(
        &token,
        Method::PATCH,
        &format!("/keys/{}", first["id"]),
        Some(json!({"is_active": false})),
    )
    .await;
    mock.clear();
    for _ in 0..4 {
        assert_eq!(call().await.status, 200);
    }
    assert_eq!(mock.count_by_key().get("sk-changes-first-0000001"), None);

    // A deactivated service answers 404 at once.
    app.admin_with(
        &token,
        Method::PUT,
        &format!("/proxy-configs/{id}/status"),
        Some(json!({"is_active": false})),
    )
    .await;
    assert_eq!(call().await.status, 404);
    app.admin_with(
        &token,
        Method::PUT,
        &format!("/proxy-configs/{id}/status"),
        Some(json!({"is_active": true})),
    )
    .await;
    assert_eq!(call().await.status, 200);

    // A revoked client key is refused at once.
    app.admin_with(
        &token,
        Method::PATCH,
        &format!("/client-keys/{}", client["id"]),
        Some(json!({"is_active": false})),
    )
    .await;
    let refused = call().await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["error"]["code"], "client_key_revoked");
}

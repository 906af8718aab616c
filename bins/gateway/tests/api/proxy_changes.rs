//! Admin changes are obeyed by the very next proxied request.

use actix_web::http::Method;
use serde_json::{json, Value};
use testkit::{spawn_app, MockUpstream, TestApp};

/// An OpenAI-compatible service on the mock.
fn llm_service(mock: &MockUpstream, slug: &str) -> Value {
    json!({"name": slug, "slug": slug, "config_type": "llm",
        "target_base_url": format!("{}/v1", mock.address), "api_format": "openai_compatible"})
}

/// A new client key: its row, and the `Authorization` value that presents it.
async fn new_client_key(app: &TestApp, token: &str) -> (Value, String) {
    let client = app
        .admin_with(
            token,
            Method::POST,
            "/client-keys",
            Some(json!({"name": "c"})),
        )
        .await
        .json();
    let bearer = format!("Bearer {}", client["key"].as_str().unwrap());
    (client, bearer)
}

#[actix_web::test]
async fn admin_changes_apply_to_the_next_request() {
    let mock = MockUpstream::start();
    let app = spawn_app().await;
    let token = app.login().await;
    let id = app.create_service(&token, llm_service(&mock, "live")).await;
    let first = app.add_key(&token, id, "sk-changes-first-0000001").await;
    let (client, bearer) = new_client_key(&app, &token).await;
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

/// A change reloads only the service it touched: a rename moves the service
/// to its new slug (the old one answers 404), a deletion removes it, and a
/// neighbour keeps serving with its keys throughout.
#[actix_web::test]
async fn renaming_and_deleting_a_service_leave_its_neighbours_alone() {
    let mock = MockUpstream::start();
    let app = spawn_app().await;
    let token = app.login().await;
    let service = |slug: &str| llm_service(&mock, slug);
    let moving = app.create_service(&token, service("moving")).await;
    app.add_key(&token, moving, "sk-moving-key-00000001").await;
    let neighbour = app.create_service(&token, service("neighbour")).await;
    app.add_key(&token, neighbour, "sk-neighbour-key-000001")
        .await;
    let (_, bearer) = new_client_key(&app, &token).await;
    let headers = [("authorization", bearer.as_str())];
    let status = |slug: &'static str| {
        let path = format!("/llm/{slug}/v1/models");
        let app = &app;
        let headers = &headers;
        async move { app.call(Method::GET, &path, headers, None).await.status }
    };
    assert_eq!(
        (status("moving").await, status("neighbour").await),
        (200, 200)
    );

    let renamed = app
        .admin_with(
            &token,
            Method::PUT,
            &format!("/proxy-configs/{moving}"),
            Some(service("moved")),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text());
    assert_eq!(status("moving").await, 404, "the old slug is gone");
    mock.clear();
    assert_eq!(
        status("moved").await,
        200,
        "the new slug serves with the same keys"
    );
    assert_eq!(
        mock.count_by_key().get("sk-moving-key-00000001"),
        Some(&1),
        "{:?}",
        mock.count_by_key()
    );

    let deleted = app
        .admin_with(
            &token,
            Method::DELETE,
            &format!("/proxy-configs/{moving}"),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(status("moved").await, 404);
    mock.clear();
    assert_eq!(status("neighbour").await, 200);
    assert_eq!(mock.count_by_key().get("sk-neighbour-key-000001"), Some(&1));
}

/// A change that could not be read (the database failing at that moment) is
/// not lost: the next change, whatever it touches, reloads everything.
#[actix_web::test]
async fn a_change_missed_while_the_database_failed_is_caught_up_by_the_next_one() {
    let mock = MockUpstream::start();
    let spy = std::sync::Arc::new(testkit::Spy::default());
    let app = testkit::spawn_app_with(testkit::TestOptions {
        spy: Some(std::sync::Arc::clone(&spy)),
        ..testkit::TestOptions::default()
    })
    .await;
    let token = app.login().await;
    let id = app.create_service(&token, llm_service(&mock, "late")).await;
    let (_, bearer) = new_client_key(&app, &token).await;
    let headers = [("authorization", bearer.as_str())];
    let status = || async {
        app.call(Method::GET, "/llm/late/v1/models", &headers, None)
            .await
            .status
    };
    assert_eq!(status().await, 503, "no key yet");

    spy.fail_snapshot_reads(true);
    app.add_key(&token, id, "sk-late-key-000000000001").await;
    assert_eq!(
        status().await,
        503,
        "the reload failed: the old snapshot serves"
    );
    spy.fail_snapshot_reads(false);

    // An unrelated change (client keys) now reloads everything, the missed key included.
    app.admin_with(
        &token,
        Method::POST,
        "/client-keys",
        Some(json!({"name": "other"})),
    )
    .await;
    assert_eq!(status().await, 200);
}

//! Malformed bodies, oversized bodies and bad path parameters get one clear
//! error, and nothing stored changes.

use actix_web::http::Method;
use serde_json::json;
use testkit::{spawn_app, spawn_app_with, TestOptions};

#[actix_web::test]
async fn malformed_json_is_400_and_stores_nothing() {
    let app = spawn_app().await;
    let token = app.login().await;
    for body in [&b"{\"name\": "[..], b"not json", b"", b"[1, 2"] {
        let response = app
            .send(
                Method::POST,
                "/api/admin/proxy-configs",
                Some(&token),
                Some(body.to_vec()),
            )
            .await;
        assert_eq!(response.status, 400, "{:?}", String::from_utf8_lossy(body));
        assert_eq!(response.json()["error"]["code"], "invalid_json");
    }
    let not_object = app
        .send(
            Method::POST,
            "/api/admin/proxy-configs",
            Some(&token),
            Some(b"[]".to_vec()),
        )
        .await;
    assert_eq!(
        (
            not_object.status,
            not_object.json()["error"]["field"].clone()
        ),
        (400, json!("body"))
    );
    assert_eq!(
        app.admin_with(&token, Method::GET, "/proxy-configs", None)
            .await
            .json(),
        json!([])
    );
}

#[actix_web::test]
async fn a_body_over_max_body_bytes_is_413_and_stores_nothing() {
    let app = spawn_app_with(TestOptions::default().env("MAX_BODY_BYTES", "2048")).await;
    let token = app.login().await;
    let id = app.create_llm_service(&token, "small").await["id"]
        .as_i64()
        .unwrap();
    let keys: Vec<String> = (0..200)
        .map(|i| format!("sk-too-many-keys-{i:08}"))
        .collect();
    let response = app
        .admin_with(
            &token,
            Method::POST,
            &format!("/proxy-configs/{id}/keys/batch"),
            Some(json!({"keys": keys})),
        )
        .await;
    assert_eq!(response.status, 413, "{}", response.text());
    assert_eq!(response.json()["error"]["code"], "body_too_large");
    let rows = app
        .admin_with(
            &token,
            Method::GET,
            &format!("/proxy-configs/{id}/keys"),
            None,
        )
        .await
        .json();
    assert_eq!(rows, json!([]));
}

#[actix_web::test]
async fn non_numeric_ids_are_400() {
    let app = spawn_app().await;
    let token = app.login().await;
    for path in ["/proxy-configs/abc", "/keys/1.5/", "/client-keys/-"] {
        let response = app.admin_with(&token, Method::DELETE, path, None).await;
        assert!(
            matches!(response.status, 400 | 404),
            "{path}: {}",
            response.status
        );
    }
    let response = app
        .admin_with(&token, Method::GET, "/proxy-configs/abc", None)
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(response.json()["error"]["code"], "invalid_path");
    let response = app
        .admin_with(&token, Method::PATCH, "/keys/x", Some(json!({"weight": 1})))
        .await;
    assert_eq!(response.status, 400);
}

#[actix_web::test]
async fn unknown_api_routes_are_json_404() {
    let app = spawn_app().await;
    let response = app
        .send(Method::GET, "/api/admin/nothing-here", None, None)
        .await;
    assert_eq!(response.status, 404);
    assert_eq!(response.json()["error"]["code"], "not_found");
}

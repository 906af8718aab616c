use actix_web::http::Method;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};
use testkit::{spawn_app, spawn_app_with, TestOptions};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn token(secret: &str, exp: i64) -> String {
    let claims = json!({"sub": "admin", "iat": now() - 10, "exp": exp, "iss": "api-key-rotator"});
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn login_body(username: &str, password: &str) -> Option<Vec<u8>> {
    Some(
        json!({"username": username, "password": password})
            .to_string()
            .into_bytes(),
    )
}

#[actix_web::test]
async fn login_issues_a_bearer_token_that_opens_the_admin_api() {
    let app = spawn_app().await;
    let response = app
        .send(
            Method::POST,
            "/api/admin/login",
            None,
            login_body("admin", &app.admin_password),
        )
        .await;
    assert_eq!(response.status, 200);
    let body = response.json();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 86_400);
    let token = body["access_token"].as_str().unwrap();
    let listed = app
        .admin_with(token, Method::GET, "/proxy-configs", None)
        .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json(), json!([]));
}

#[actix_web::test]
async fn wrong_credentials_are_refused() {
    let app = spawn_app().await;
    for (user, password) in [("admin", "nope"), ("root", app.admin_password.as_str())] {
        let response = app
            .send(
                Method::POST,
                "/api/admin/login",
                None,
                login_body(user, password),
            )
            .await;
        assert_eq!(response.status, 401, "{user}");
        assert_eq!(response.json()["error"]["code"], "unauthorized");
    }
}

#[actix_web::test]
async fn repeated_failures_from_one_client_are_rate_limited() {
    let app = spawn_app().await;
    for _ in 0..5 {
        let response = app
            .send(
                Method::POST,
                "/api/admin/login",
                None,
                login_body("admin", "guess"),
            )
            .await;
        assert_eq!(response.status, 401);
    }
    // Locked out, even with the right password.
    let response = app
        .send(
            Method::POST,
            "/api/admin/login",
            None,
            login_body("admin", &app.admin_password),
        )
        .await;
    assert_eq!(response.status, 429);
    assert_eq!(response.json()["error"]["code"], "rate_limited");
    let retry_after: u64 = response
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0 && retry_after <= 900, "{retry_after}");
}

#[actix_web::test]
async fn missing_malformed_forged_and_expired_tokens_get_401() {
    let secret = "a-known-test-secret";
    let app = spawn_app_with(TestOptions::default().env("JWT_SECRET", secret)).await;
    let valid = token(secret, now() + 600);
    assert_eq!(
        app.admin_with(&valid, Method::GET, "/client-keys", None)
            .await
            .status,
        200
    );

    let missing = app
        .send(Method::GET, "/api/admin/client-keys", None, None)
        .await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.headers.get("www-authenticate").unwrap(), "Bearer");

    let cases = [
        ("garbage".to_owned(), "invalid token"),
        (token("another-secret", now() + 600), "invalid token"),
        (token(secret, now() - 3600), "token expired"),
    ];
    for (bad, message) in cases {
        let response = app
            .admin_with(&bad, Method::GET, "/client-keys", None)
            .await;
        assert_eq!(response.status, 401, "{bad}");
        assert_eq!(response.json()["error"]["message"], message);
    }
    // Every admin route is protected, writes included.
    for (method, path) in [
        (Method::POST, "/api/admin/proxy-configs"),
        (Method::GET, "/api/admin/proxy-configs/1"),
        (Method::PUT, "/api/admin/proxy-configs/1"),
        (Method::PUT, "/api/admin/proxy-configs/1/status"),
        (Method::DELETE, "/api/admin/proxy-configs/1"),
        (Method::GET, "/api/admin/proxy-configs/1/keys"),
        (Method::POST, "/api/admin/proxy-configs/1/keys"),
        (Method::POST, "/api/admin/proxy-configs/1/keys/batch"),
        (Method::DELETE, "/api/admin/proxy-configs/1/keys"),
        (Method::PATCH, "/api/admin/keys/1"),
        (Method::DELETE, "/api/admin/keys/1"),
        (Method::POST, "/api/admin/client-keys"),
        (Method::PATCH, "/api/admin/client-keys/1"),
        (Method::DELETE, "/api/admin/client-keys/1"),
    ] {
        let response = app
            .send(method.clone(), path, None, Some(b"{}".to_vec()))
            .await;
        assert_eq!(response.status, 401, "{method} {path}");
    }
}

#[actix_web::test]
async fn public_routes_need_no_token() {
    let app = spawn_app().await;
    let config = app
        .send(Method::GET, "/api/admin/app-config", None, None)
        .await;
    assert_eq!(config.status, 200);
    let body: Value = config.json();
    assert_eq!(body["build"], "lightweight");
    assert_eq!(body["database"], "sqlite");
    assert_eq!(body["cache"], "memory");
    assert_eq!(body["proxy_public_base_url"], "http://localhost:8000");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));

    let health = app.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(
        (health.status, health.json()),
        (200, json!({"status": "ok"}))
    );
    let ready = app.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["database"], "ok");
    assert_eq!(ready.json()["cache"], "ok");
}

//! A restart on the same data directory keeps configs, keys (decryptable),
//! the admin password and unexpired tokens.

use actix_web::http::Method;
use app::snapshot::Snapshot;
use secrecy::ExposeSecret;
use serde_json::json;
use testkit::{spawn_app_with, TestOptions};

const KEY: &str = "sk-persist-1234567890abcdef";

#[actix_web::test]
async fn restart_keeps_configs_keys_password_and_tokens() {
    // No ADMIN_PASSWORD and no JWT_SECRET: both are generated and persisted.
    let options = TestOptions::default().env("ADMIN_PASSWORD", "");
    let first = spawn_app_with(options.clone()).await;
    assert_ne!(
        first.admin_password,
        testkit::app::ADMIN_PASSWORD,
        "a password must have been generated"
    );
    let token = first.login().await;
    let config = first.create_llm_service(&token, "durable").await;
    let id = config["id"].as_i64().unwrap();
    first.add_key(&token, id, KEY).await;
    first
        .admin_with(
            &token,
            Method::POST,
            "/client-keys",
            Some(json!({"name": "kept"})),
        )
        .await;
    let generated_password = first.admin_password.clone();
    first.stop().await;

    let second = spawn_app_with(TestOptions {
        data_dir: Some(first.data_dir.clone()),
        ..options
    })
    .await;
    assert_eq!(
        second.admin_password, "",
        "no new password is generated on restart"
    );

    // The old token still works: the JWT secret was persisted.
    let configs = second
        .admin_with(&token, Method::GET, "/proxy-configs", None)
        .await;
    assert_eq!(configs.status, 200, "{}", configs.text());
    assert_eq!(configs.json()[0]["slug"], "durable");
    assert_eq!(configs.json()[0]["key_count"], 1);
    let client_keys = second
        .admin_with(&token, Method::GET, "/client-keys", None)
        .await
        .json();
    assert_eq!(client_keys[0]["name"], "kept");

    // The generated password still logs in.
    let login = second
        .send(
            Method::POST,
            "/api/admin/login",
            None,
            Some(
                json!({"username": "admin", "password": generated_password})
                    .to_string()
                    .into_bytes(),
            ),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text());

    // Keys decrypt with the persisted secret.key.
    let data = first.data_dir.path().join("data");
    let repo = infra_sqlite::connect(&infra_sqlite::SqliteConfig::new(testkit::app::db_path(
        first.data_dir.path(),
    )))
    .await
    .unwrap();
    let cipher = gateway::encryption_key::load_or_generate(None, &data).unwrap();
    let snapshot = Snapshot::load(&repo, &cipher).await.unwrap();
    let service = snapshot.service("durable").unwrap();
    assert_eq!(service.keys.len(), 1);
    assert_eq!(service.keys[0].secret.expose_secret(), KEY);
}

#[actix_web::test]
async fn a_configured_password_replaces_the_stored_one() {
    let first =
        spawn_app_with(TestOptions::default().env("ADMIN_PASSWORD", "first-password")).await;
    first.login().await;
    first.stop().await;
    let second = spawn_app_with(TestOptions {
        data_dir: Some(first.data_dir.clone()),
        ..TestOptions::default().env("ADMIN_PASSWORD", "second-password")
    })
    .await;
    second.login().await;
    let old = second
        .send(
            Method::POST,
            "/api/admin/login",
            None,
            Some(
                json!({"username": "admin", "password": "first-password"})
                    .to_string()
                    .into_bytes(),
            ),
        )
        .await;
    assert_eq!(old.status, 401);
}

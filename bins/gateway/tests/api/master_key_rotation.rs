//! `gateway rotate-encryption-key` (the real binary): keys re-encrypted in
//! one transaction, the key file swapped with the old one kept, a wrong
//! current key changing nothing, and the gateway serving afterwards.

use actix_web::http::Method;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use testkit::{spawn_app_with, MockUpstream, TestApp, TestOptions};

const BIN: &str = env!("CARGO_BIN_EXE_gateway");
const KEY: &str = "sk-rotated-master-0001";
const CLIENT_KEY: &str = "rotation-client-key";

fn rotate(data_dir: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .current_dir(data_dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_PATH", testkit::app::db_path(data_dir))
        .envs(env.iter().copied())
        .arg("rotate-encryption-key")
        .output()
        .unwrap()
}

async fn start(data_dir: &Arc<tempfile::TempDir>, env: &[(&str, &str)]) -> TestApp {
    let mut options = TestOptions::default().env("GLOBAL_PROXY_KEYS", CLIENT_KEY);
    for (var, value) in env {
        options = options.env(var, value);
    }
    spawn_app_with(TestOptions {
        data_dir: Some(Arc::clone(data_dir)),
        ..options
    })
    .await
}

/// Starts a gateway on `data_dir`, stores service `rotating` with [`KEY`],
/// stops it, and returns the service's id.
async fn store_one_key(
    data_dir: &Arc<tempfile::TempDir>,
    env: &[(&str, &str)],
    mock: &MockUpstream,
) -> i64 {
    let app = start(data_dir, env).await;
    let token = app.login().await;
    let id = app
        .create_service(
            &token,
            serde_json::json!({"name": "Rotating", "slug": "rotating", "config_type": "llm",
                "target_base_url": format!("{}/v1", mock.address), "api_format": "openai_compatible"}),
        )
        .await;
    app.add_key(&token, id, KEY).await;
    app.stop().await;
    id
}

/// Proxies one chat call and returns the upstream key the mock saw.
async fn key_seen_upstream(app: &TestApp, mock: &MockUpstream) -> String {
    mock.clear();
    let response = app
        .call(
            Method::POST,
            "/llm/rotating/v1/chat/completions",
            &[
                ("authorization", &format!("Bearer {CLIENT_KEY}")),
                ("content-type", "application/json"),
            ],
            Some(br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#.to_vec()),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    mock.recorded()[0].header_values("authorization")[0].to_owned()
}

#[actix_web::test]
async fn the_key_file_is_replaced_and_every_key_still_serves() {
    let mock = MockUpstream::start();
    let data_dir = Arc::new(tempfile::tempdir().unwrap());
    let id = store_one_key(&data_dir, &[], &mock).await;
    let secret = data_dir.path().join("data").join("secret.key");
    let old_key = std::fs::read_to_string(&secret).unwrap();

    let output = rotate(data_dir.path(), &[]);
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.contains("1 key(s) re-encrypted"), "{out}");
    let new_key = std::fs::read_to_string(&secret).unwrap();
    assert_ne!(new_key, old_key);
    assert!(
        !out.contains(new_key.trim()),
        "a key file's key is not printed"
    );
    assert_eq!(
        std::fs::read_to_string(data_dir.path().join("data").join("secret.key.old")).unwrap(),
        old_key
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let app = start(&data_dir, &[]).await;
    assert_eq!(
        key_seen_upstream(&app, &mock).await,
        format!("Bearer {KEY}")
    );
    let token = app.login().await;
    let again = app
        .admin_with(
            &token,
            Method::POST,
            &format!("/proxy-configs/{id}/keys/batch"),
            Some(serde_json::json!({"keys": [KEY]})),
        )
        .await
        .json();
    assert_eq!(
        again["skipped_count"], 1,
        "fingerprints follow the new key: {again}"
    );
    app.stop().await;
}

#[actix_web::test]
async fn with_encryption_key_set_a_wrong_current_key_changes_nothing() {
    let mock = MockUpstream::start();
    let first = app::secrets::KeyCipher::generate_key_base64();
    let second = app::secrets::KeyCipher::generate_key_base64();
    let stranger = app::secrets::KeyCipher::generate_key_base64();
    let data_dir = Arc::new(tempfile::tempdir().unwrap());
    store_one_key(&data_dir, &[("ENCRYPTION_KEY", &first)], &mock).await;

    let wrong = rotate(
        data_dir.path(),
        &[
            ("ENCRYPTION_KEY", &stranger),
            ("NEW_ENCRYPTION_KEY", &second),
        ],
    );
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        err.contains("cannot be decrypted") && err.contains("nothing was changed"),
        "{err}"
    );

    let same = rotate(
        data_dir.path(),
        &[("ENCRYPTION_KEY", &first), ("NEW_ENCRYPTION_KEY", &first)],
    );
    assert_eq!(same.status.code(), Some(1));

    let right = rotate(
        data_dir.path(),
        &[("ENCRYPTION_KEY", &first), ("NEW_ENCRYPTION_KEY", &second)],
    );
    let out = String::from_utf8_lossy(&right.stdout);
    assert!(
        right.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&right.stderr)
    );
    assert!(
        out.contains("value of NEW_ENCRYPTION_KEY") && !out.contains(&second),
        "{out}"
    );
    assert!(!data_dir.path().join("data").join("secret.key").exists());

    let app = start(&data_dir, &[("ENCRYPTION_KEY", &second)]).await;
    assert_eq!(
        key_seen_upstream(&app, &mock).await,
        format!("Bearer {KEY}")
    );
    app.stop().await;
}

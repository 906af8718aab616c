//! Keys never appear in plain text: not in the database files (WAL
//! included), not in any admin response, not in any log line.

use actix_web::http::Method;
use serde_json::json;
use std::path::Path;
use testkit::{logs, spawn_app};

const UPSTREAM_KEYS: [&str; 3] = [
    "sk-live-SECRETSECRETSECRET-000001",
    "sk-live-SECRETSECRETSECRET-000002",
    "sk-ant-api03-SECRETSECRETSECRET-000003",
];

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in walk(dir) {
        // SQLite removes its -wal and -shm files when the last connection closes.
        let Ok(bytes) = std::fs::read(&entry) else {
            continue;
        };
        if bytes.windows(needle.len()).any(|w| w == needle) {
            hits.push(entry.display().to_string());
        }
    }
    hits
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[actix_web::test]
async fn keys_are_never_stored_returned_or_logged_in_plain_text() {
    let app = spawn_app().await;
    let token = app.login().await;
    let mut responses = Vec::new();

    let config = app.create_llm_service(&token, "secret-keeper").await;
    let id = config["id"].as_i64().unwrap();
    let single = app
        .admin_with(
            &token,
            Method::POST,
            &format!("/proxy-configs/{id}/keys"),
            Some(json!({"key_value": UPSTREAM_KEYS[0]})),
        )
        .await;
    responses.push(single.text());
    let batch = app
        .admin_with(
            &token,
            Method::POST,
            &format!("/proxy-configs/{id}/keys/batch"),
            Some(json!({"keys": [UPSTREAM_KEYS[1], UPSTREAM_KEYS[2], UPSTREAM_KEYS[0]]})),
        )
        .await;
    responses.push(batch.text());
    let key_id = single.json()["id"].as_i64().unwrap();
    for (method, path, body) in [
        (Method::GET, format!("/proxy-configs/{id}/keys"), None),
        (Method::GET, format!("/proxy-configs/{id}"), None),
        (Method::GET, "/proxy-configs".to_owned(), None),
        (
            Method::PATCH,
            format!("/keys/{key_id}"),
            Some(json!({"is_active": false})),
        ),
        (
            Method::PATCH,
            format!("/keys/{key_id}"),
            Some(json!({"is_active": true})),
        ),
        // A refused duplicate must not echo the key back either.
        (
            Method::POST,
            format!("/proxy-configs/{id}/keys"),
            Some(json!({"key_value": UPSTREAM_KEYS[1]})),
        ),
    ] {
        responses.push(app.admin_with(&token, method, &path, body).await.text());
    }
    let client = app
        .admin_with(
            &token,
            Method::POST,
            "/client-keys",
            Some(json!({"name": "app"})),
        )
        .await
        .json();
    let client_key = client["key"].as_str().unwrap().to_owned();
    responses.push(
        app.admin_with(&token, Method::GET, "/client-keys", None)
            .await
            .text(),
    );

    for response in &responses {
        for key in UPSTREAM_KEYS {
            assert!(
                !response.contains(key),
                "a response contains {key}: {response}"
            );
        }
    }
    // While running (recent writes sit in the WAL), then after shutdown
    // (checkpointed into the main file).
    let files = walk(app.data_dir.path());
    let wal = files
        .iter()
        .any(|p| p.display().to_string().ends_with("-wal"));
    assert!(wal, "the WAL file must exist and be searched: {files:?}");
    for stopped in [false, true] {
        if stopped {
            app.stop().await;
        }
        for key in UPSTREAM_KEYS.iter().copied().chain([client_key.as_str()]) {
            let hits = files_containing(app.data_dir.path(), key.as_bytes());
            assert_eq!(
                hits,
                Vec::<String>::new(),
                "{key} on disk (stopped: {stopped})"
            );
        }
    }

    let logged = logs::captured();
    assert!(
        logged.contains("sk-liv*****001"),
        "the capture must see this test's log lines"
    );
    for key in UPSTREAM_KEYS.iter().copied().chain([client_key.as_str()]) {
        let line = logged.lines().find(|line| line.contains(key));
        assert!(line.is_none(), "a log line contains a full key: {line:?}");
    }
}

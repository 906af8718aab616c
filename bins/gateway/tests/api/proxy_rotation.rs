//! Every request uses the next upstream key: exact shares for round robin
//! and weighted, a fair spread for random — under concurrency.

use actix_web::http::Method;
use futures_util::future::join_all;
use serde_json::json;
use testkit::{spawn_app_with, MockUpstream, TestApp, TestOptions};

const CLIENT_KEY: &str = "client-key-for-rotation-tests";

async fn setup(strategy: &str, weights: &[u32]) -> (TestApp, MockUpstream, Vec<String>) {
    let mock = MockUpstream::start();
    let app = spawn_app_with(TestOptions::default().env("GLOBAL_PROXY_KEYS", CLIENT_KEY)).await;
    let token = app.login().await;
    let id = app
        .create_service(
            &token,
            json!({"name": "rot", "slug": "rot", "config_type": "llm",
            "target_base_url": format!("{}/v1", mock.address), "api_format": "openai_compatible",
            "rotation_strategy": strategy}),
        )
        .await;
    let mut keys = Vec::new();
    for (i, weight) in weights.iter().enumerate() {
        let key = format!("sk-rotation-key-{i:04}-abcdef");
        let response = app
            .admin_with(
                &token,
                Method::POST,
                &format!("/proxy-configs/{id}/keys"),
                Some(json!({"key_value": key, "weight": weight})),
            )
            .await;
        assert_eq!(response.status, 201);
        keys.push(key);
    }
    (app, mock, keys)
}

/// Sends `total` chat requests over `concurrency` parallel clients.
async fn send_many(app: &TestApp, total: usize, concurrency: usize) {
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
        .to_string();
    let auth = format!("Bearer {CLIENT_KEY}");
    let per_client = total / concurrency;
    let extra = total % concurrency;
    let clients = (0..concurrency).map(|c| {
        let n = per_client + usize::from(c < extra);
        let body = body.clone();
        let auth = auth.clone();
        async move {
            for _ in 0..n {
                let response = app
                    .call(
                        Method::POST,
                        "/llm/rot/v1/chat/completions",
                        &[
                            ("authorization", &auth),
                            ("content-type", "application/json"),
                        ],
                        Some(body.clone().into_bytes()),
                    )
                    .await;
                assert_eq!(response.status, 200, "{}", response.text());
            }
        }
    });
    join_all(clients).await;
}

fn counts(mock: &MockUpstream, keys: &[String]) -> Vec<usize> {
    let by_key = mock.count_by_key();
    keys.iter()
        .map(|k| by_key.get(k).copied().unwrap_or(0))
        .collect()
}

#[actix_web::test]
async fn round_robin_spreads_300_concurrent_requests_exactly() {
    let (app, mock, keys) = setup("round_robin", &[1, 1, 1]).await;
    send_many(&app, 300, 16).await;
    assert_eq!(counts(&mock, &keys), vec![100, 100, 100]);
}

#[actix_web::test]
async fn weighted_follows_the_weights_exactly() {
    let (app, mock, keys) = setup("weighted", &[1, 2, 3]).await;
    send_many(&app, 600, 16).await;
    assert_eq!(counts(&mock, &keys), vec![100, 200, 300]);
}

#[actix_web::test]
async fn random_uses_every_key_and_none_too_often() {
    let (app, mock, keys) = setup("random", &[1, 1, 1]).await;
    send_many(&app, 3000, 16).await;
    let counts = counts(&mock, &keys);
    assert_eq!(counts.iter().sum::<usize>(), 3000);
    for count in &counts {
        assert!(*count > 0 && *count <= 1200, "{counts:?}");
    }
}

//! Usage counters (SPEC §7): counted in memory per request, visible in the
//! listings and `/stats` at once, written in batches and at shutdown.

use actix_web::http::Method;
use serde_json::{json, Value};
use testkit::{spawn_app_with, Fault, MockUpstream, TestOptions};

fn find(listing: &Value, id: i64) -> Value {
    listing
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["id"].as_i64() == Some(id))
        .cloned()
        .unwrap()
}

#[actix_web::test]
async fn requests_failures_and_failovers_are_counted_and_survive_a_restart() {
    let mock = MockUpstream::start();
    let options = TestOptions::default();
    let app = spawn_app_with(options.clone()).await;
    let token = app.login().await;
    let service = app
        .create_service(
            &token,
            json!({"name": "Usage", "slug": "usage", "config_type": "llm",
                "target_base_url": format!("{}/v1", mock.address), "api_format": "openai_compatible"}),
        )
        .await;
    let good = app
        .add_key(&token, service, "sk-usage-good-0000000001")
        .await;
    let bad = app
        .add_key(&token, service, "sk-usage-bad-00000000002")
        .await;
    mock.fault_for_key("sk-usage-bad-00000000002", Fault::status(500));
    let created = app
        .admin_with(
            &token,
            Method::POST,
            "/client-keys",
            Some(json!({"name": "team"})),
        )
        .await
        .json();
    let client_key = created["key"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {client_key}");
    for _ in 0..4 {
        let response = app
            .call(
                Method::POST,
                "/llm/usage/v1/chat/completions",
                &[
                    ("authorization", &bearer),
                    ("content-type", "application/json"),
                ],
                Some(br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#.to_vec()),
            )
            .await;
        assert_eq!(response.status, 200, "{}", response.text());
    }
    // Round robin hands the 500ing key the first request; it cools down and
    // the good key serves the rest: 4 successes, 1 failure, 1 failover.
    let check = |keys: Value, clients: Value, stats: Value| {
        let good = find(&keys, good["id"].as_i64().unwrap());
        let bad = find(&keys, bad["id"].as_i64().unwrap());
        assert_eq!(
            (good["requests"].as_u64(), good["failures"].as_u64()),
            (Some(4), Some(0)),
            "{good}"
        );
        assert_eq!(
            (bad["requests"].as_u64(), bad["failures"].as_u64()),
            (Some(1), Some(1)),
            "{bad}"
        );
        let client = find(&clients, created["id"].as_i64().unwrap());
        assert_eq!(client["requests"], 4, "{client}");
        assert!(client["last_used_at"].is_string(), "{client}");
        assert_eq!(stats["totals"]["requests"], 5, "{stats}");
        assert_eq!(stats["totals"]["failures"], 1, "{stats}");
        assert_eq!(stats["services"][0]["slug"], "usage");
    };
    let keys_path = format!("/proxy-configs/{service}/keys");
    let stats = app
        .admin_with(&token, Method::GET, "/stats", None)
        .await
        .json();
    assert_eq!(stats["totals"]["failovers"], 1, "{stats}");
    assert_eq!(stats["services"][0]["keys"]["healthy"], 1, "{stats}");
    assert_eq!(stats["services"][0]["keys"]["cooling_down"], 1, "{stats}");
    check(
        app.admin_with(&token, Method::GET, &keys_path, None)
            .await
            .json(),
        app.admin_with(&token, Method::GET, "/client-keys", None)
            .await
            .json(),
        stats,
    );

    // Nothing was written yet (the flush runs every 5 s): the restart only
    // keeps the counts if shutdown writes them.
    app.stop().await;
    let second = spawn_app_with(TestOptions {
        data_dir: Some(app.data_dir.clone()),
        ..options
    })
    .await;
    let token = second.login().await;
    check(
        second
            .admin_with(&token, Method::GET, &keys_path, None)
            .await
            .json(),
        second
            .admin_with(&token, Method::GET, "/client-keys", None)
            .await
            .json(),
        second
            .admin_with(&token, Method::GET, "/stats", None)
            .await
            .json(),
    );
}

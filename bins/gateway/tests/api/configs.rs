use actix_web::http::Method;
use serde_json::{json, Value};
use testkit::spawn_app;

fn llm(name: &str, slug: &str) -> Value {
    json!({"name": name, "slug": slug, "config_type": "llm",
           "target_base_url": "https://api.anthropic.com", "api_format": "anthropic_native"})
}

#[actix_web::test]
async fn create_fills_defaults_and_get_list_return_it() {
    let app = spawn_app().await;
    let token = app.login().await;
    let created = app
        .admin_with(
            &token,
            Method::POST,
            "/proxy-configs",
            Some(llm("Claude", "claude")),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let body = created.json();
    assert_eq!(body["slug"], "claude");
    assert_eq!(body["config_type"], "llm");
    assert_eq!(body["is_active"], true);
    assert_eq!(body["output_format"], "auto");
    assert_eq!(body["rotation_strategy"], "round_robin");
    assert_eq!(body["max_attempts"], 3);
    assert_eq!(body["timeout_s"], Value::Null);
    assert_eq!(body["model_map"], json!({}));
    assert_eq!(
        body["error_rules"][0],
        json!({"status": 529, "action": "failover"})
    );
    assert_eq!(body["key_count"], 0);
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
    let id = body["id"].as_i64().unwrap();

    let fetched = app
        .admin_with(&token, Method::GET, &format!("/proxy-configs/{id}"), None)
        .await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json(), body);
    let listed = app
        .admin_with(&token, Method::GET, "/proxy-configs", None)
        .await
        .json();
    assert_eq!(listed, json!([body]));
}

#[actix_web::test]
async fn generic_config_round_trips() {
    let app = spawn_app().await;
    let token = app.login().await;
    let body = json!({"name": "Weather", "slug": "weather", "config_type": "generic", "method": "GET",
                      "target_url": "https://api.weather.example/v2/", "api_key_location": "query", "api_key_name": "appid",
                      "rotation_strategy": "weighted", "max_attempts": 5, "timeout_s": 12});
    let created = app
        .admin_with(&token, Method::POST, "/proxy-configs", Some(body))
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let created = created.json();
    assert_eq!(created["target_url"], "https://api.weather.example/v2");
    assert_eq!(created["api_key_location"], "query");
    assert_eq!(created["api_key_name"], "appid");
    assert_eq!(created["method"], "GET");
    assert_eq!(created["rotation_strategy"], "weighted");
    assert_eq!(created["timeout_s"], 12);
    assert!(created.get("target_base_url").is_none());
}

#[actix_web::test]
async fn put_replaces_and_accepts_read_only_fields_echoed_back() {
    let app = spawn_app().await;
    let token = app.login().await;
    let mut config = app
        .admin_with(
            &token,
            Method::POST,
            "/proxy-configs",
            Some(llm("Claude", "claude")),
        )
        .await
        .json();
    let id = config["id"].as_i64().unwrap();
    config["name"] = json!("Claude (prod)");
    config["model_map"] = json!({"gpt-4o": "claude-sonnet-4-5"});
    let updated = app
        .admin_with(
            &token,
            Method::PUT,
            &format!("/proxy-configs/{id}"),
            Some(config.clone()),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text());
    let updated = updated.json();
    assert_eq!(updated["name"], "Claude (prod)");
    assert_eq!(updated["model_map"]["gpt-4o"], "claude-sonnet-4-5");
    assert_eq!(updated["id"], id);
    assert_eq!(updated["created_at"], config["created_at"]);

    let status = app
        .admin_with(
            &token,
            Method::PUT,
            &format!("/proxy-configs/{id}/status"),
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(status.status, 200);
    assert_eq!(status.json()["is_active"], false);
    let bad_status = app
        .admin_with(
            &token,
            Method::PUT,
            &format!("/proxy-configs/{id}/status"),
            Some(json!({"is_active": "no"})),
        )
        .await;
    assert_eq!(
        (
            bad_status.status,
            bad_status.json()["error"]["field"].clone()
        ),
        (400, json!("is_active"))
    );
}

#[actix_web::test]
async fn name_and_slug_clashes_are_409_naming_the_field() {
    let app = spawn_app().await;
    let token = app.login().await;
    let first = app
        .admin_with(&token, Method::POST, "/proxy-configs", Some(llm("A", "a")))
        .await
        .json();
    app.admin_with(&token, Method::POST, "/proxy-configs", Some(llm("B", "b")))
        .await;
    for (body, field) in [(llm("A", "other"), "name"), (llm("Other", "a"), "slug")] {
        let response = app
            .admin_with(&token, Method::POST, "/proxy-configs", Some(body))
            .await;
        assert_eq!(response.status, 409, "{}", response.text());
        assert_eq!(response.json()["error"]["field"], field);
        assert_eq!(response.json()["error"]["code"], "conflict");
    }
    let id = first["id"].as_i64().unwrap();
    let response = app
        .admin_with(
            &token,
            Method::PUT,
            &format!("/proxy-configs/{id}"),
            Some(llm("A", "b")),
        )
        .await;
    assert_eq!(
        (response.status, response.json()["error"]["field"].clone()),
        (409, json!("slug"))
    );
    assert_eq!(
        app.admin_with(&token, Method::GET, "/proxy-configs", None)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[actix_web::test]
async fn validation_errors_are_400_naming_the_field_and_store_nothing() {
    let app = spawn_app().await;
    let token = app.login().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"slug": "Bad Slug"}), "slug"),
        (json!({"slug": "-leading"}), "slug"),
        (json!({"colour": "blue"}), "colour"),
        (json!({"max_attempts": "3"}), "max_attempts"),
        (json!({"is_active": 1}), "is_active"),
        (json!({"api_format": "cohere"}), "api_format"),
        (json!({"rotation_strategy": "lottery"}), "rotation_strategy"),
        (json!({"target_base_url": "not a url"}), "target_base_url"),
        (json!({"config_type": "ftp"}), "config_type"),
        (json!({"method": "GET"}), "method"),
        (
            json!({"error_rules": [{"status": 99, "action": "pass"}]}),
            "error_rules",
        ),
        (json!({"name": null}), "name"),
    ];
    for (patch, field) in cases {
        let mut body = llm("Valid", "valid");
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let response = app
            .admin_with(&token, Method::POST, "/proxy-configs", Some(body))
            .await;
        assert_eq!(response.status, 400, "{patch}: {}", response.text());
        let error = &response.json()["error"];
        assert_eq!(error["code"], "validation_error");
        assert_eq!(error["field"], field, "{patch}");
        assert!(
            error["message"].as_str().unwrap().starts_with(field),
            "{error}"
        );
    }
    assert_eq!(
        app.admin_with(&token, Method::GET, "/proxy-configs", None)
            .await
            .json(),
        json!([])
    );
}

#[actix_web::test]
async fn unknown_ids_are_404() {
    let app = spawn_app().await;
    let token = app.login().await;
    for (method, path, body) in [
        (Method::GET, "/proxy-configs/999", None),
        (Method::PUT, "/proxy-configs/999", Some(llm("X", "x"))),
        (
            Method::PUT,
            "/proxy-configs/999/status",
            Some(json!({"is_active": true})),
        ),
        (Method::DELETE, "/proxy-configs/999", None),
        (Method::GET, "/proxy-configs/999/keys", None),
        (
            Method::POST,
            "/proxy-configs/999/keys",
            Some(json!({"key_value": "sk-1234567890abcdef"})),
        ),
        (
            Method::POST,
            "/proxy-configs/999/keys/batch",
            Some(json!({"keys": ["sk-1"]})),
        ),
        (Method::DELETE, "/proxy-configs/999/keys", None),
        (Method::PATCH, "/keys/999", Some(json!({"weight": 2}))),
        (Method::DELETE, "/keys/999", None),
        (
            Method::PATCH,
            "/client-keys/999",
            Some(json!({"is_active": false})),
        ),
        (Method::DELETE, "/client-keys/999", None),
    ] {
        let response = app.admin_with(&token, method.clone(), path, body).await;
        assert_eq!(response.status, 404, "{method} {path}: {}", response.text());
        assert_eq!(response.json()["error"]["code"], "not_found");
    }
}

#[actix_web::test]
async fn deleting_a_config_deletes_its_keys() {
    let app = spawn_app().await;
    let token = app.login().await;
    let config = app.create_llm_service(&token, "doomed").await;
    let id = config["id"].as_i64().unwrap();
    let key = app.add_key(&token, id, "sk-doomed-1234567890").await;
    let key_id = key["id"].as_i64().unwrap();
    let other = app.create_llm_service(&token, "survivor").await;
    let other_key = app
        .add_key(
            &token,
            other["id"].as_i64().unwrap(),
            "sk-survivor-1234567890",
        )
        .await;

    let deleted = app
        .admin_with(
            &token,
            Method::DELETE,
            &format!("/proxy-configs/{id}"),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        app.admin_with(&token, Method::GET, &format!("/proxy-configs/{id}"), None)
            .await
            .status,
        404
    );
    let patch = app
        .admin_with(
            &token,
            Method::PATCH,
            &format!("/keys/{key_id}"),
            Some(json!({"weight": 2})),
        )
        .await;
    assert_eq!(patch.status, 404, "the key must be gone with its config");
    let other_patch = app
        .admin_with(
            &token,
            Method::PATCH,
            &format!("/keys/{}", other_key["id"]),
            Some(json!({"weight": 2})),
        )
        .await;
    assert_eq!(other_patch.status, 200, "other services' keys stay");
    // Re-creating the slug starts with an empty pool.
    let again = app.create_llm_service(&token, "doomed").await;
    assert_eq!(again["key_count"], 0);
}

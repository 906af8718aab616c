use actix_web::http::Method;
use serde_json::{json, Value};
use testkit::spawn_app;

const KEY_A: &str = "sk-proj-AAAAAAAAAAAAAAAAAAAAaaa";
const KEY_B: &str = "sk-proj-BBBBBBBBBBBBBBBBBBBBbbb";

#[actix_web::test]
async fn added_key_is_listed_masked_with_health_and_usage() {
    let app = spawn_app().await;
    let token = app.login().await;
    let config = app.create_llm_service(&token, "openai").await;
    let id = config["id"].as_i64().unwrap();
    let response = app
        .admin_with(
            &token,
            Method::POST,
            &format!("/proxy-configs/{id}/keys"),
            Some(json!({"key_value": format!("  {KEY_A}\n"), "weight": 3, "rpm_limit": 60})),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    assert!(!response.text().contains(KEY_A));
    let key = response.json();
    assert_eq!(key["key_masked"], "sk-pro*****aaa");
    assert_eq!(key["weight"], 3);
    assert_eq!(key["rpm_limit"], 60);

    let listed = app
        .admin_with(
            &token,
            Method::GET,
            &format!("/proxy-configs/{id}/keys"),
            None,
        )
        .await;
    assert_eq!(listed.status, 200);
    assert!(!listed.text().contains(KEY_A));
    let rows = listed.json();
    let row = &rows[0];
    for field in [
        "id",
        "key_masked",
        "is_active",
        "weight",
        "rpm_limit",
        "state",
        "cooldown_until",
        "consecutive_failures",
        "last_status",
        "last_error",
        "last_used_at",
        "requests",
        "failures",
        "input_tokens",
        "output_tokens",
    ] {
        assert!(row.get(field).is_some(), "missing {field} in {row}");
    }
    assert_eq!(row["state"], "healthy");
    assert_eq!(row["requests"], 0);
    assert!(row.get("key_value").is_none() && row.get("ciphertext").is_none());
    let config = app
        .admin_with(&token, Method::GET, &format!("/proxy-configs/{id}"), None)
        .await
        .json();
    assert_eq!(
        (
            config["key_count"].clone(),
            config["active_key_count"].clone()
        ),
        (json!(1), json!(1))
    );
}

#[actix_web::test]
async fn the_same_key_twice_in_one_pool_is_a_conflict() {
    let app = spawn_app().await;
    let token = app.login().await;
    let id = app.create_llm_service(&token, "openai").await["id"]
        .as_i64()
        .unwrap();
    app.add_key(&token, id, KEY_A).await;
    let again = app
        .admin_with(
            &token,
            Method::POST,
            &format!("/proxy-configs/{id}/keys"),
            Some(json!({"key_value": KEY_A})),
        )
        .await;
    assert_eq!(again.status, 409);
    assert_eq!(again.json()["error"]["field"], "key_value");
    // Another pool may hold the same key.
    let other = app.create_llm_service(&token, "other").await["id"]
        .as_i64()
        .unwrap();
    app.add_key(&token, other, KEY_A).await;
}

#[actix_web::test]
async fn batch_import_counts_successes_duplicates_and_failures() {
    let app = spawn_app().await;
    let token = app.login().await;
    let id = app.create_llm_service(&token, "openai").await["id"]
        .as_i64()
        .unwrap();
    app.add_key(&token, id, KEY_A).await;
    let keys = json!([
        format!("{KEY_B}\nsk-new-key-0000000001\n\n"),
        "",
        "   ",
        "sk-new-key-0000000001",
        KEY_A,
        "sk-has a-space-0000000",
        "\r\nsk-new-key-0000000002\r\n",
    ]);
    let response = app
        .admin_with(
            &token,
            Method::POST,
            &format!("/proxy-configs/{id}/keys/batch"),
            Some(json!({"keys": keys})),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let report = response.json();
    assert_eq!(report["success_count"], 3, "{report}");
    assert_eq!(report["skipped_count"], 2, "{report}");
    assert_eq!(report["failed_count"], 1, "{report}");
    assert_eq!(report["failed_keys"][0]["key_masked"], "sk-has*****000");
    assert!(!response.text().contains("sk-has a-space"));

    let text_form = app
        .admin_with(
            &token,
            Method::POST,
            &format!("/proxy-configs/{id}/keys/batch"),
            Some(json!({"keys": "sk-text-form-000000001\nsk-text-form-000000002\n"})),
        )
        .await
        .json();
    assert_eq!(text_form["success_count"], 2);
    let rows = app
        .admin_with(
            &token,
            Method::GET,
            &format!("/proxy-configs/{id}/keys"),
            None,
        )
        .await
        .json();
    assert_eq!(rows.as_array().unwrap().len(), 6);

    let bad = app
        .admin_with(
            &token,
            Method::POST,
            &format!("/proxy-configs/{id}/keys/batch"),
            Some(json!({"keys": [1, 2]})),
        )
        .await;
    assert_eq!(
        (bad.status, bad.json()["error"]["field"].clone()),
        (400, json!("keys[0]"))
    );
}

#[actix_web::test]
async fn patch_disables_and_reenables_and_delete_removes() {
    let app = spawn_app().await;
    let token = app.login().await;
    let id = app.create_llm_service(&token, "openai").await["id"]
        .as_i64()
        .unwrap();
    let key_id = app.add_key(&token, id, KEY_A).await["id"].as_i64().unwrap();
    app.add_key(&token, id, KEY_B).await;
    let path = format!("/keys/{key_id}");

    let disabled = app
        .admin_with(
            &token,
            Method::PATCH,
            &path,
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.text());
    assert_eq!(disabled.json()["state"], "disabled");
    let config = app
        .admin_with(&token, Method::GET, &format!("/proxy-configs/{id}"), None)
        .await
        .json();
    assert_eq!(
        (
            config["key_count"].clone(),
            config["active_key_count"].clone()
        ),
        (json!(2), json!(1))
    );

    let enabled = app
        .admin_with(
            &token,
            Method::PATCH,
            &path,
            Some(json!({"is_active": true, "weight": 7})),
        )
        .await;
    assert_eq!(enabled.json()["state"], "healthy");
    assert_eq!(enabled.json()["weight"], 7);
    let cleared = app
        .admin_with(&token, Method::PATCH, &path, Some(json!({"rpm_limit": 5})))
        .await
        .json();
    assert_eq!(cleared["rpm_limit"], 5);
    let cleared = app
        .admin_with(
            &token,
            Method::PATCH,
            &path,
            Some(json!({"rpm_limit": null})),
        )
        .await
        .json();
    assert_eq!(cleared["rpm_limit"], Value::Null);

    for (body, field) in [
        (json!({"weight": 0}), "weight"),
        (json!({"weight": "x"}), "weight"),
        (json!({"key_value": "x"}), "key_value"),
        (json!({"rpm_limit": 0}), "rpm_limit"),
    ] {
        let response = app
            .admin_with(&token, Method::PATCH, &path, Some(body.clone()))
            .await;
        assert_eq!(
            (response.status, response.json()["error"]["field"].clone()),
            (400, json!(field)),
            "{body}"
        );
    }

    assert_eq!(
        app.admin_with(&token, Method::DELETE, &path, None)
            .await
            .status,
        204
    );
    assert_eq!(
        app.admin_with(&token, Method::DELETE, &path, None)
            .await
            .status,
        404
    );
    let cleared = app
        .admin_with(
            &token,
            Method::DELETE,
            &format!("/proxy-configs/{id}/keys"),
            None,
        )
        .await;
    assert_eq!(
        (cleared.status, cleared.json()),
        (200, json!({"deleted_count": 1}))
    );
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
async fn key_validation_names_the_field() {
    let app = spawn_app().await;
    let token = app.login().await;
    let id = app.create_llm_service(&token, "openai").await["id"]
        .as_i64()
        .unwrap();
    for (body, field) in [
        (json!({}), "key_value"),
        (json!({"key_value": "   "}), "key_value"),
        (json!({"key_value": "two words"}), "key_value"),
        (json!({"key_value": 42}), "key_value"),
        (json!({"key_value": KEY_A, "weight": 1001}), "weight"),
        (json!({"key_value": KEY_A, "owner": "me"}), "owner"),
    ] {
        let response = app
            .admin_with(
                &token,
                Method::POST,
                &format!("/proxy-configs/{id}/keys"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (response.status, response.json()["error"]["field"].clone()),
            (400, json!(field)),
            "{body}"
        );
    }
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

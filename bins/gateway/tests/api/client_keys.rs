use actix_web::http::Method;
use serde_json::{json, Value};
use testkit::spawn_app;

#[actix_web::test]
async fn full_key_is_shown_once_then_only_masked() {
    let app = spawn_app().await;
    let token = app.login().await;
    let created = app
        .admin_with(
            &token,
            Method::POST,
            "/client-keys",
            Some(
                json!({"name": "ci", "allowed_slugs": ["openai"], "rpm_limit": 100,
                        "expires_at": "2099-01-01T00:00:00+01:00"}),
            ),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let body = created.json();
    let full = body["key"].as_str().unwrap().to_owned();
    assert!(full.starts_with("rk-") && full.len() == 43, "{full}");
    assert_eq!(
        body["key_masked"],
        format!("{}*****{}", &full[..6], &full[40..])
    );
    assert_eq!(body["allowed_slugs"], json!(["openai"]));
    assert_eq!(body["expires_at"], "2098-12-31T23:00:00Z");
    assert_eq!(body["is_active"], true);

    let listed = app
        .admin_with(&token, Method::GET, "/client-keys", None)
        .await;
    assert!(!listed.text().contains(&full));
    let row = &listed.json()[0];
    assert!(row.get("key").is_none() && row.get("key_hash").is_none());
    for field in ["requests", "input_tokens", "output_tokens", "last_used_at"] {
        assert!(row.get(field).is_some(), "{field}");
    }
}

#[actix_web::test]
async fn patch_updates_and_null_clears() {
    let app = spawn_app().await;
    let token = app.login().await;
    let id = app
        .admin_with(
            &token,
            Method::POST,
            "/client-keys",
            Some(json!({"name": "team", "allowed_slugs": ["a"]})),
        )
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    let path = format!("/client-keys/{id}");
    let revoked = app
        .admin_with(
            &token,
            Method::PATCH,
            &path,
            Some(json!({"is_active": false, "rpm_limit": 5})),
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    assert_eq!(
        (
            revoked.json()["is_active"].clone(),
            revoked.json()["rpm_limit"].clone()
        ),
        (json!(false), json!(5))
    );
    let cleared = app
        .admin_with(
            &token,
            Method::PATCH,
            &path,
            Some(json!({"allowed_slugs": null, "rpm_limit": null})),
        )
        .await
        .json();
    assert_eq!(cleared["allowed_slugs"], Value::Null);
    assert_eq!(cleared["rpm_limit"], Value::Null);
    assert_eq!(
        cleared["is_active"], false,
        "absent fields stay as they were"
    );

    for (body, field) in [
        (json!({"expires_at": "2000-01-01T00:00:00Z"}), "expires_at"),
        (json!({"allowed_slugs": ["NOT OK"]}), "allowed_slugs"),
        (json!({"key": "rk-mine"}), "key"),
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
        app.admin_with(&token, Method::GET, "/client-keys", None)
            .await
            .json(),
        json!([])
    );
}

#[actix_web::test]
async fn create_validation_names_the_field() {
    let app = spawn_app().await;
    let token = app.login().await;
    for (body, field) in [
        (json!({}), "name"),
        (json!({"name": "x", "rpm_limit": 0}), "rpm_limit"),
        (json!({"name": "x", "expires_at": "tomorrow"}), "expires_at"),
        (json!({"name": "x", "allowed_slugs": "a"}), "allowed_slugs"),
    ] {
        let response = app
            .admin_with(&token, Method::POST, "/client-keys", Some(body.clone()))
            .await;
        assert_eq!(
            (response.status, response.json()["error"]["field"].clone()),
            (400, json!(field)),
            "{body}"
        );
    }
}

use actix_web::http::Method;
use testkit::spawn_app;

#[actix_web::test]
async fn openapi_document_lists_every_admin_route() {
    let app = spawn_app().await;
    let response = app
        .send(Method::GET, "/api/docs/openapi.json", None, None)
        .await;
    assert_eq!(response.status, 200);
    let doc = response.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/admin/login", &["post"][..]),
        ("/api/admin/app-config", &["get"]),
        ("/api/admin/proxy-configs", &["get", "post"]),
        ("/api/admin/proxy-configs/{id}", &["get", "put", "delete"]),
        ("/api/admin/proxy-configs/{id}/status", &["put"]),
        (
            "/api/admin/proxy-configs/{id}/keys",
            &["get", "post", "delete"],
        ),
        ("/api/admin/proxy-configs/{id}/keys/batch", &["post"]),
        ("/api/admin/keys/{key_id}", &["patch", "delete"]),
        ("/api/admin/client-keys", &["get", "post"]),
        ("/api/admin/client-keys/{id}", &["patch", "delete"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
    ] {
        for method in methods {
            assert!(
                paths.get(path).and_then(|p| p.get(*method)).is_some(),
                "{method} {path} missing"
            );
        }
    }
    assert!(doc["components"]["schemas"].get("ConfigView").is_some());
    assert!(doc["components"]["securitySchemes"].get("bearer").is_some());
}

/// docs/admin-api.md is the OpenAPI document rendered as a table; it fails
/// here when a route changes without it. `UPDATE_DOCS=1` rewrites it.
#[actix_web::test]
async fn the_admin_api_reference_is_the_openapi_document() {
    let app = spawn_app().await;
    let doc = app
        .send(Method::GET, "/api/docs/openapi.json", None, None)
        .await
        .json();
    let rendered = render_reference(&doc);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/admin-api.md");
    if std::env::var("UPDATE_DOCS").is_ok_and(|v| v == "1") {
        std::fs::write(path, &rendered).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == rendered,
        "docs/admin-api.md is not the OpenAPI document: run `UPDATE_DOCS=1 cargo test -p gateway --test api docs::` and commit it"
    );
}

fn render_reference(doc: &serde_json::Value) -> String {
    let mut out = String::from(
        "# Admin API reference\n\n\
         Generated from the OpenAPI document the gateway serves at `GET /api/docs/openapi.json` (a test fails when\n\
         they differ; `UPDATE_DOCS=1 cargo test -p gateway --test api docs::` rewrites this file). Behaviour, errors\n\
         and decisions are in [api.md](api.md); request and response schemas are in the document itself.\n\n\
         | method | path | what | auth | request body | answers |\n|---|---|---|---|---|---|\n",
    );
    let schema_name = |value: &serde_json::Value| -> String {
        let content = &value["content"]["application/json"]["schema"];
        let reference = content["$ref"]
            .as_str()
            .or_else(|| content["items"]["$ref"].as_str());
        match reference {
            Some(r) => {
                let name = r.rsplit('/').next().unwrap_or(r);
                if content["type"] == "array" {
                    format!("`[{name}]`")
                } else {
                    format!("`{name}`")
                }
            }
            None if content.is_null() => String::new(),
            None => "JSON".to_owned(),
        }
    };
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            // utoipa splits a doc comment at its first line break: join it back.
            let summary = operation["summary"].as_str().unwrap_or("");
            let description = operation["description"].as_str().unwrap_or("");
            let first_paragraph = description.split("\n\n").next().unwrap_or("");
            let what = format!("{summary} {first_paragraph}")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .replace('|', "\\|");
            let secured = operation["security"]
                .as_array()
                .is_some_and(|schemes| !schemes.is_empty());
            let auth = if secured { "admin" } else { "—" };
            let body = operation
                .get("requestBody")
                .map(schema_name)
                .unwrap_or_default();
            let mut answers: Vec<String> = operation["responses"]
                .as_object()
                .map(|r| {
                    r.iter()
                        .map(|(code, response)| {
                            let schema = schema_name(response);
                            if schema.is_empty() {
                                code.clone()
                            } else {
                                format!("{code} {schema}")
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            answers.sort();
            out.push_str(&format!(
                "| {} | `{path}` | {what} | {auth} | {body} | {} |\n",
                method.to_uppercase(),
                answers.join(", ")
            ));
        }
    }
    out
}

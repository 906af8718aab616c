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

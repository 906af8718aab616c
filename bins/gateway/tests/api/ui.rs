//! The embedded web UI: served at `/` and `/ui/…` with security headers and
//! content-hash caching (issue 7). The browser tests live in `tests/ui/`.

use actix_web::http::Method;
use testkit::spawn_app;

#[actix_web::test]
async fn the_page_and_its_assets_are_served_with_security_and_cache_headers() {
    let app = spawn_app().await;
    let page = app.call(Method::GET, "/", &[], None).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type").unwrap(),
        "text/html; charset=utf-8"
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(page.header("x-frame-options").unwrap(), "DENY");
    assert_eq!(page.header("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(page.header("referrer-policy").unwrap(), "no-referrer");
    assert_eq!(page.header("cache-control").unwrap(), "no-cache");

    // The entry script is addressed by its content hash and may be cached for good.
    let html = page.text();
    let start = html.find("/ui/app.js?v=").expect("versioned script");
    let url: String = html[start..].chars().take_while(|c| *c != '"').collect();
    let script = app.call(Method::GET, &url, &[], None).await;
    assert_eq!(script.status, 200);
    assert_eq!(
        script.header("content-type").unwrap(),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        script.header("cache-control").unwrap(),
        "public, max-age=31536000, immutable"
    );
    let etag = script.header("etag").unwrap();
    assert!(
        url.ends_with(etag.trim_matches('"')),
        "the version is the ETag"
    );

    // Modules imported without a version are revalidated by ETag.
    let module = app.call(Method::GET, "/ui/api.js", &[], None).await;
    assert_eq!(module.header("cache-control").unwrap(), "no-cache");
    let module_etag = module.header("etag").unwrap();
    let again = app
        .call(
            Method::GET,
            "/ui/api.js",
            &[("if-none-match", &module_etag)],
            None,
        )
        .await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let stale = app
        .call(Method::GET, "/ui/app.js?v=0000000000000000", &[], None)
        .await;
    assert_eq!(
        stale.header("cache-control").unwrap(),
        "no-cache",
        "an old version is not cached for good"
    );

    let missing = app.call(Method::GET, "/ui/nope.js", &[], None).await;
    assert_eq!(missing.status, 404);
    assert!(missing.header("content-security-policy").is_some());
    let css = app.call(Method::GET, "/ui/style.css", &[], None).await;
    assert_eq!(
        css.header("content-type").unwrap(),
        "text/css; charset=utf-8"
    );
}

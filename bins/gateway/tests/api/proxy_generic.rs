//! The generic REST proxy (SPEC §4): key injection, faithful forwarding of
//! methods, paths, repeated query parameters and headers, binary bodies.

use actix_web::http::Method;
use serde_json::{json, Value};
use testkit::{spawn_app_with, MockUpstream, TestApp, TestOptions};

const CLIENT_KEY: &str = "generic-client-key";
const UPSTREAM_KEY: &str = "upstream-generic-key-0001";

async fn setup(extra: Value) -> (TestApp, MockUpstream) {
    let mock = MockUpstream::start();
    let app = spawn_app_with(TestOptions::default().env("GLOBAL_PROXY_KEYS", CLIENT_KEY)).await;
    let token = app.login().await;
    let mut body = json!({"name": "gen", "slug": "gen", "config_type": "generic", "target_url": format!("{}/base", mock.address)});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let id = app.create_service(&token, body).await;
    app.add_key(&token, id, UPSTREAM_KEY).await;
    (app, mock)
}

#[actix_web::test]
async fn header_injection_and_faithful_forwarding() {
    let (app, mock) =
        setup(json!({"api_key_location": "header", "api_key_name": "X-Api-Token"})).await;
    let response = app
        .call(
            Method::PUT,
            "/proxy/gen/echo/a%20b/c?x=1&y=2&x=3&empty=",
            &[
                ("x-proxy-key", CLIENT_KEY),
                ("x-multi", "one"),
                ("x-multi", "two"),
                ("x-api-token", "client-supplied"),
            ],
            Some(b"payload".to_vec()),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), "payload");
    assert_eq!(response.headers.get("x-echo-method").unwrap(), "PUT");
    let recorded = &mock.recorded()[0];
    assert_eq!(recorded.path, "/base/echo/a%20b/c");
    assert_eq!(recorded.query, "x=1&y=2&x=3&empty=");
    assert_eq!(recorded.header_values("x-multi"), vec!["one", "two"]);
    assert_eq!(
        recorded.header_values("x-api-token"),
        vec![UPSTREAM_KEY],
        "the client's value is replaced"
    );
    assert!(
        recorded.header_values("x-proxy-key").is_empty(),
        "X-Proxy-Key is removed"
    );
    assert!(!response.text().contains(UPSTREAM_KEY));
}

#[actix_web::test]
async fn bearer_injection() {
    let (app, mock) = setup(json!({"api_key_location": "bearer"})).await;
    let response = app
        .call(
            Method::GET,
            "/proxy/gen/echo",
            &[
                ("x-proxy-key", CLIENT_KEY),
                ("authorization", "Bearer client"),
            ],
            None,
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        mock.recorded()[0].header_values("authorization"),
        vec![format!("Bearer {UPSTREAM_KEY}")]
    );
}

#[actix_web::test]
async fn query_injection_replaces_the_clients_value() {
    let (app, mock) = setup(json!({"api_key_location": "query", "api_key_name": "appid"})).await;
    let response = app
        .call(
            Method::GET,
            "/proxy/gen/echo?q=london&appid=mine&q=paris",
            &[("x-proxy-key", CLIENT_KEY)],
            None,
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        mock.recorded()[0].query,
        format!("q=london&q=paris&appid={UPSTREAM_KEY}")
    );
}

#[actix_web::test]
async fn method_mismatch_is_405() {
    let (app, mock) = setup(json!({"api_key_location": "bearer", "method": "POST"})).await;
    let response = app
        .call(
            Method::GET,
            "/proxy/gen/echo",
            &[("x-proxy-key", CLIENT_KEY)],
            None,
        )
        .await;
    assert_eq!(response.status, 405);
    assert_eq!(response.json()["error"]["code"], "method_not_allowed");
    assert_eq!(response.headers.get("allow").unwrap(), "POST");
    assert!(mock.recorded().is_empty());
}

#[actix_web::test]
async fn binary_upload_and_download_are_byte_exact() {
    let (app, mock) = setup(json!({"api_key_location": "bearer"})).await;
    let upload: Vec<u8> = (0..5 * 1024 * 1024)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let response = app
        .call(
            Method::POST,
            "/proxy/gen/echo/upload",
            &[
                ("x-proxy-key", CLIENT_KEY),
                ("content-type", "application/octet-stream"),
            ],
            Some(upload.clone()),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        mock.recorded()[0].body.as_ref(),
        upload.as_slice(),
        "upstream received the exact bytes"
    );
    assert_eq!(
        response.body.as_ref(),
        upload.as_slice(),
        "client received the exact bytes"
    );

    let download = app
        .call(
            Method::GET,
            "/proxy/gen/bytes/3000000",
            &[("x-proxy-key", CLIENT_KEY)],
            None,
        )
        .await;
    assert_eq!(download.status, 200);
    let expected: Vec<u8> = (0..3_000_000).map(|i| (i % 251) as u8).collect();
    assert_eq!(download.body.as_ref(), expected.as_slice());
    assert_eq!(download.headers.get("content-length").unwrap(), "3000000");
}

#[actix_web::test]
async fn upstream_errors_are_relayed_as_they_are() {
    let (app, mock) = setup(json!({"api_key_location": "bearer"})).await;
    mock.push_fault(testkit::Fault {
        status: 418,
        body: "teapot".into(),
        headers: vec![("x-up".into(), "1".into())],
        ..Default::default()
    });
    let response = app
        .call(
            Method::GET,
            "/proxy/gen/echo",
            &[("x-proxy-key", CLIENT_KEY)],
            None,
        )
        .await;
    assert_eq!(
        (response.status, response.text()),
        (418, "teapot".to_owned())
    );
    assert_eq!(response.headers.get("x-up").unwrap(), "1");
}

#[actix_web::test]
async fn hop_by_hop_headers_are_not_forwarded() {
    use std::io::{Read, Write};
    let (app, mock) = setup(json!({"api_key_location": "bearer"})).await;
    // A raw request: HTTP clients manage Connection themselves.
    let port = app.port;
    let raw = actix_web::rt::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let request = format!(
            "GET /proxy/gen/echo HTTP/1.1\r\nHost: gw\r\nX-Proxy-Key: {CLIENT_KEY}\r\nConnection: close, x-hop\r\n\
             X-Hop: private\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic eA==\r\nX-Kept: yes\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    })
    .await
    .unwrap();
    assert!(
        raw.starts_with("HTTP/1.1 200"),
        "raw answer: {raw:?}\nmock saw: {:?}",
        mock.recorded()
    );
    let recorded = &mock.recorded()[0];
    for name in [
        "x-hop",
        "keep-alive",
        "te",
        "proxy-authorization",
        "x-proxy-key",
    ] {
        assert!(
            recorded.header_values(name).is_empty(),
            "{name} was forwarded: {}",
            recorded.as_text()
        );
    }
    assert_eq!(recorded.header_values("x-kept"), vec!["yes"]);
    assert_ne!(
        recorded.header_values("host"),
        vec!["gw"],
        "Host names the upstream, not the gateway"
    );
}

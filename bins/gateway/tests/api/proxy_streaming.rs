//! Streams are relayed event by event, as they arrive.

use actix_web::http::Method;
use serde_json::{json, Value};
use testkit::{spawn_app_with, MockUpstream, TestOptions};

const CLIENT_KEY: &str = "streaming-client-key";

/// Splits chunks into SSE events with their arrival time; returns (arrived_ms, data).
fn events(chunks: &[(u128, actix_web::web::Bytes)]) -> Vec<(u128, Value)> {
    let mut out = Vec::new();
    let mut buffer = String::new();
    for (arrived, bytes) in chunks {
        buffer.push_str(&String::from_utf8_lossy(bytes));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            for line in event.lines() {
                if let Some(data) = line.strip_prefix("data: ") {
                    if let Ok(value) = serde_json::from_str::<Value>(data) {
                        out.push((*arrived, value));
                    }
                }
            }
        }
    }
    out
}

fn assert_timely(events: &[(u128, Value)]) {
    assert_eq!(events.len(), 20, "{events:?}");
    let mut distinct_arrivals = std::collections::BTreeSet::new();
    for (arrived, data) in events {
        let sent = data["sent_ms"].as_u64().unwrap() as u128;
        let late = arrived.saturating_sub(sent);
        assert!(
            late <= 20,
            "event {data} arrived {late} ms after it was sent"
        );
        distinct_arrivals.insert(*arrived / 25);
    }
    assert!(
        distinct_arrivals.len() >= 15,
        "events must arrive separately, not in bursts: {distinct_arrivals:?}"
    );
}

#[actix_web::test]
async fn sse_events_arrive_as_they_are_sent_on_both_proxies() {
    let mock = MockUpstream::start();
    let app = spawn_app_with(TestOptions::default().env("GLOBAL_PROXY_KEYS", CLIENT_KEY)).await;
    let token = app.login().await;
    let generic = app
        .create_service(
            &token,
            json!({"name": "g", "slug": "g", "config_type": "generic",
            "target_url": mock.address, "api_key_location": "bearer"}),
        )
        .await;
    app.add_key(&token, generic, "sk-stream-generic-000001")
        .await;
    let llm = app
        .create_service(
            &token,
            json!({"name": "l", "slug": "l", "config_type": "llm",
            "target_base_url": format!("{}/v1", mock.address), "api_format": "openai_compatible"}),
        )
        .await;
    app.add_key(&token, llm, "sk-stream-llm-000000001").await;

    let (status, chunks) = app
        .call_streaming(
            Method::GET,
            "/proxy/g/sse?events=20&interval_ms=50",
            &[("x-proxy-key", CLIENT_KEY)],
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_timely(&events(&chunks));

    let bearer = format!("Bearer {CLIENT_KEY}");
    let body = json!({"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let (status, chunks) = app
        .call_streaming(
            Method::POST,
            "/llm/l/v1/chat/completions?events=19&interval_ms=50",
            &[("authorization", &bearer)],
            Some(body.to_string().into_bytes()),
        )
        .await;
    assert_eq!(status, 200);
    let all = events(&chunks);
    assert_timely(&all);
    let text: String = all
        .iter()
        .filter_map(|(_, v)| v["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(text.starts_with("tok0 tok1 "), "{text}");
    let raw: String = chunks
        .iter()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert!(
        raw.ends_with("data: [DONE]\n\n"),
        "passthrough keeps the upstream framing"
    );
}

#[actix_web::test]
async fn a_client_that_goes_away_cancels_the_upstream_stream() {
    use futures_util::StreamExt;
    let mock = MockUpstream::start();
    let app = spawn_app_with(TestOptions::default().env("GLOBAL_PROXY_KEYS", CLIENT_KEY)).await;
    let token = app.login().await;
    let id = app
        .create_service(
            &token,
            json!({"name": "l", "slug": "l", "config_type": "llm",
            "target_base_url": format!("{}/v1", mock.address), "api_format": "openai_compatible"}),
        )
        .await;
    app.add_key(&token, id, "sk-stream-cancel-0000001").await;
    let body = json!({"model": "m", "stream": true, "messages": []}).to_string();
    let mut response = awc::Client::default()
        .post(format!(
            "{}/llm/l/v1/chat/completions?events=100&interval_ms=100",
            app.address
        ))
        .insert_header(("authorization", format!("Bearer {CLIENT_KEY}")))
        .send_body(body)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let first = response.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("tok0"));
    drop(response);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while mock.cancelled_streams() == 0 && std::time::Instant::now() < deadline {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        mock.cancelled_streams(),
        1,
        "the upstream stream must be dropped when the client leaves"
    );
}

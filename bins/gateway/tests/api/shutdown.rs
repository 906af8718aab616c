//! Graceful shutdown (SPEC §7): on SIGTERM the real binary stops accepting
//! connections and lets every in-flight stream finish, then exits 0.

use futures_util::StreamExt;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::MockUpstream;

const BIN: &str = env!("CARGO_BIN_EXE_gateway");
const CLIENT_KEY: &str = "shutdown-client-key";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn post(client: &awc::Client, url: &str, auth: Option<&str>, body: Value) -> Value {
    let mut request = client.post(url);
    if let Some(auth) = auth {
        request = request.insert_header(("authorization", auth));
    }
    let mut response = request.send_json(&body).await.unwrap();
    response.json::<Value>().await.unwrap()
}

#[actix_web::test]
async fn sigterm_lets_50_streams_finish_refuses_new_connections_and_exits_0() {
    let mock = MockUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("BACKEND_PORT", port.to_string())
        .env("BIND_ADDRESS", "127.0.0.1")
        .env("ADMIN_PASSWORD", "shutdown-admin")
        .env("GLOBAL_PROXY_KEYS", CLIENT_KEY)
        .env("LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .finish();
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the gateway never came up");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    let token = post(
        &client,
        &format!("{base}/api/admin/login"),
        None,
        json!({"username": "admin", "password": "shutdown-admin"}),
    )
    .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let auth = format!("Bearer {token}");
    let service = post(
        &client,
        &format!("{base}/api/admin/proxy-configs"),
        Some(&auth),
        json!({"name": "s", "slug": "s", "config_type": "llm", "api_format": "openai_compatible",
            "target_base_url": format!("{}/v1", mock.address)}),
    )
    .await;
    post(
        &client,
        &format!(
            "{base}/api/admin/proxy-configs/{}/keys/batch",
            service["id"]
        ),
        Some(&auth),
        json!({"keys": ["sk-shutdown-0000000001", "sk-shutdown-0000000002"]}),
    )
    .await;

    // 50 streams of 10 events 300 ms apart (about 3 s each).
    let streams: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            let url = format!("{base}/llm/s/v1/chat/completions?events=10&interval_ms=300");
            actix_web::rt::spawn(async move {
                let mut response = client
                    .post(url)
                    .insert_header(("authorization", format!("Bearer {CLIENT_KEY}")))
                    .send_json(&json!({"model": "m", "stream": true,
                        "messages": [{"role": "user", "content": "hi"}]}))
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let mut body = Vec::new();
                while let Some(chunk) = response.next().await {
                    body.extend_from_slice(&chunk.unwrap());
                }
                (status, String::from_utf8(body).unwrap())
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while mock.recorded().len() < 50 {
        assert!(Instant::now() < deadline, "the 50 streams did not start");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }

    let stopping = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "new connections are refused while draining"
    );
    for stream in streams {
        let (status, body) = stream.await.unwrap();
        assert_eq!(status, 200);
        assert!(body.contains("tok9"), "the stream finished: {body}");
        assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    }
    let exit = actix_web::rt::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(stopping.elapsed() < Duration::from_secs(30));
}

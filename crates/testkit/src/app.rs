//! `spawn_app()`: the gateway as the binary builds it, on port 0, over a
//! temporary data directory.

use actix_web::dev::ServerHandle;
use actix_web::http::header::HeaderMap;
use actix_web::http::Method;
use actix_web::web::Bytes;
use gateway::settings::RawSettings;
use gateway::{Application, Settings};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Password every test app's admin gets unless a test overrides it.
pub const ADMIN_PASSWORD: &str = "test-admin-password";

/// Options of [`spawn_app_with`].
#[derive(Default, Clone)]
pub struct TestOptions {
    /// Extra or overriding variables (`DATABASE_PATH`, `BACKEND_PORT` are set by default).
    pub env: Vec<(String, String)>,
    /// Reuse this data directory (to test restarts); a new one by default.
    pub data_dir: Option<Arc<tempfile::TempDir>>,
    /// Count (and stall) the repository's batched writes.
    pub spy: Option<Arc<crate::Spy>>,
}

impl TestOptions {
    /// Adds a variable.
    #[must_use]
    pub fn env(mut self, var: &str, value: &str) -> Self {
        self.env.push((var.to_owned(), value.to_owned()));
        self
    }
}

/// A running gateway.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The bound port.
    pub port: u16,
    /// The data directory (kept alive as long as the app).
    pub data_dir: Arc<tempfile::TempDir>,
    /// Admin password in effect.
    pub admin_password: String,
    handle: ServerHandle,
    /// The serving task: it ends after shutdown work (the usage flush) is done.
    running: std::sync::Mutex<Option<actix_web::rt::task::JoinHandle<std::io::Result<()>>>>,
    client: awc::Client,
}

/// An answer, fully read.
#[derive(Debug)]
pub struct TestResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Bytes,
}

impl TestResponse {
    /// A header's value, when present and text.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The body as JSON (`Null` when it is not JSON).
    #[must_use]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body as text.
    #[must_use]
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Spawns a gateway with default test options.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(TestOptions::default()).await
}

/// Spawns a gateway; panics with the startup error if it cannot start.
pub async fn spawn_app_with(options: TestOptions) -> TestApp {
    crate::logs::init();
    let data_dir = options
        .data_dir
        .unwrap_or_else(|| Arc::new(tempfile::tempdir().expect("temp dir")));
    let mut raw = RawSettings::new();
    raw.insert("BACKEND_PORT".into(), "0".into());
    raw.insert("BIND_ADDRESS".into(), "127.0.0.1".into());
    raw.insert("ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into());
    raw.insert(
        "DATABASE_PATH".into(),
        db_path(data_dir.path()).display().to_string(),
    );
    for (var, value) in options.env {
        raw.insert(var, value);
    }
    let settings = Settings::from_raw(&raw).expect("test settings");
    let spy = options.spy.clone();
    let application = Application::build_with(settings, |repo| match spy {
        Some(spy) => crate::SpyRepository::wrap(repo, spy),
        None => repo,
    })
    .await
    .expect("gateway starts");
    let admin_password = match application.generated_admin_password() {
        Some(generated) => secrecy::ExposeSecret::expose_secret(generated).to_owned(),
        None => raw.get("ADMIN_PASSWORD").cloned().unwrap_or_default(),
    };
    let port = application.port();
    let handle = application.handle();
    let running = actix_web::rt::spawn(application.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        data_dir,
        admin_password,
        handle,
        running: std::sync::Mutex::new(Some(running)),
        client: awc::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .finish(),
    }
}

/// Where a test app keeps its SQLite file inside `dir`.
#[must_use]
pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("data").join("api_key_rotator.db")
}

impl TestApp {
    /// Stops the server gracefully and waits for it and its shutdown work.
    pub async fn stop(&self) {
        self.handle.stop(true).await;
        let running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(running) = running {
            let _ = running.await;
        }
    }

    /// Sends a request; `token` becomes a bearer token, `body` a JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> TestResponse {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut headers = Vec::new();
        if let Some(bearer) = &bearer {
            headers.push(("Authorization", bearer.as_str()));
        }
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        self.call(method, path, &headers, body).await
    }

    /// Sends any request with extra headers (repeated names allowed) and a raw body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> TestResponse {
        let mut response = self.start(method, path, headers, body).await;
        let body = response
            .body()
            .limit(64 * 1024 * 1024)
            .await
            .expect("body read");
        TestResponse {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body,
        }
    }

    /// Sends a request and returns the response with its body unread.
    async fn start(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> awc::ClientResponse {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        for (name, value) in headers {
            request = request.append_header((*name, *value));
        }
        match body {
            Some(bytes) => request.send_body(bytes).await,
            None => request.send().await,
        }
        .expect("request sent")
    }

    /// A streaming request: returns the status and each body chunk with the
    /// time (ms since the Unix epoch) it arrived.
    pub async fn call_streaming(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> (u16, Vec<(u128, Bytes)>) {
        use futures_util::StreamExt;
        let mut response = self.start(method, path, headers, body).await;
        let status = response.status().as_u16();
        let mut chunks = Vec::new();
        while let Some(chunk) = response.next().await {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0);
            chunks.push((now, chunk.expect("chunk")));
        }
        (status, chunks)
    }

    /// Creates a service from a JSON body and returns its id.
    pub async fn create_service(&self, token: &str, body: Value) -> i64 {
        let response = self
            .admin_with(token, Method::POST, "/proxy-configs", Some(body))
            .await;
        assert_eq!(response.status, 201, "create service: {}", response.text());
        response.json()["id"].as_i64().expect("id")
    }

    /// Logs in as admin and returns the token.
    pub async fn login(&self) -> String {
        let body = json!({"username": "admin", "password": self.admin_password});
        let response = self
            .send(
                Method::POST,
                "/api/admin/login",
                None,
                Some(body.to_string().into_bytes()),
            )
            .await;
        assert_eq!(response.status, 200, "login failed: {}", response.text());
        response.json()["access_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// An admin call with a fresh token and a JSON body.
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> TestResponse {
        let token = self.login().await;
        self.admin_with(&token, method, path, body).await
    }

    /// An admin call with a given token.
    pub async fn admin_with(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> TestResponse {
        let path = format!("/api/admin{path}");
        self.send(
            method,
            &path,
            Some(token),
            body.map(|b| b.to_string().into_bytes()),
        )
        .await
    }

    /// Creates an OpenAI-compatible LLM service and returns it.
    pub async fn create_llm_service(&self, token: &str, slug: &str) -> Value {
        let body = json!({"name": format!("Service {slug}"), "slug": slug, "config_type": "llm",
                          "target_base_url": "https://api.openai.com/v1", "api_format": "openai_compatible"});
        let response = self
            .admin_with(token, Method::POST, "/proxy-configs", Some(body))
            .await;
        assert_eq!(response.status, 201, "create service: {}", response.text());
        response.json()
    }

    /// Adds a key to a service and returns the key row.
    pub async fn add_key(&self, token: &str, config_id: i64, key: &str) -> Value {
        let response = self
            .admin_with(
                token,
                Method::POST,
                &format!("/proxy-configs/{config_id}/keys"),
                Some(json!({"key_value": key})),
            )
            .await;
        assert_eq!(response.status, 201, "add key: {}", response.text());
        response.json()
    }
}

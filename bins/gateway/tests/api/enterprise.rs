//! Enterprise: several gateway processes share one MariaDB database and one
//! Redis. Rotation is fair across them, and an admin change made on one is
//! obeyed by the others within a second.

use actix_web::http::Method;
use domain::testing::{service_url, unique_name, with_database};
use futures_util::future::join_all;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testkit::MockUpstream;

const BIN: &str = env!("CARGO_BIN_EXE_gateway");
const CLIENT_KEY: &str = "enterprise-global-client-key";
const KEYS: [&str; 3] = [
    "sk-ent-key-0000000000001",
    "sk-ent-key-0000000000002",
    "sk-ent-key-0000000000003",
];

/// Gateway processes, killed when dropped (also when a test fails).
struct Instances(Vec<(Child, u16)>);

impl Drop for Instances {
    fn drop(&mut self) {
        for (child, _) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Instances {
    fn ports(&self) -> Vec<u16> {
        self.0.iter().map(|(_, port)| *port).collect()
    }
}

/// Starts `n` gateway processes at once with `env` (plus the common test
/// settings), each logging to `<logs>/<port>.log`.
fn spawn_instances(n: usize, env: &[(&str, String)], logs: &std::path::Path) -> Instances {
    Instances(
        (0..n)
            .map(|_| {
                let port = free_port();
                let log = std::fs::File::create(logs.join(format!("{port}.log"))).unwrap();
                let child = Command::new(BIN)
                    .env_clear()
                    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                    .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                    .envs([
                        ("ADMIN_PASSWORD", "enterprise-admin"),
                        ("GLOBAL_PROXY_KEYS", CLIENT_KEY),
                        ("BIND_ADDRESS", "127.0.0.1"),
                        ("LOG_LEVEL", "warn"),
                        ("PROXY_CONNECT_TIMEOUT", "2"),
                    ])
                    .env("BACKEND_PORT", port.to_string())
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .unwrap();
                (child, port)
            })
            .collect(),
    )
}

async fn admin_login(port: u16) -> String {
    let body = json!({"username": "admin", "password": "enterprise-admin"});
    let (status, login, text) = send(Method::POST, port, "/api/admin/login", &[], Some(body)).await;
    assert_eq!(status, 200, "{text}");
    format!("Bearer {}", login["access_token"].as_str().unwrap())
}

/// Creates the `shared` service on `port` with the three keys.
async fn create_shared_service(port: u16, admin: &str, upstream: &str) -> (Value, Vec<i64>) {
    let admin = [("authorization", admin)];
    let body = json!({"name": "shared", "slug": "shared", "config_type": "llm",
                      "target_base_url": format!("{upstream}/v1"), "api_format": "openai_compatible"});
    let (status, service, text) = send(
        Method::POST,
        port,
        "/api/admin/proxy-configs",
        &admin,
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let id = service["id"].as_i64().unwrap();
    let mut key_ids = Vec::new();
    for key in KEYS {
        let path = format!("/api/admin/proxy-configs/{id}/keys");
        let (status, row, _) = send(
            Method::POST,
            port,
            &path,
            &admin,
            Some(json!({"key_value": key})),
        )
        .await;
        assert_eq!(status, 201);
        key_ids.push(row["id"].as_i64().unwrap());
    }
    (service, key_ids)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn send(
    method: Method,
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, Value, String) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let mut request = client.request(method, format!("http://127.0.0.1:{port}{path}"));
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    let mut response = match body {
        Some(body) => request.send_json(&body).await,
        None => request.send().await,
    }
    .unwrap();
    let bytes = response.body().await.unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (
        response.status().as_u16(),
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

async fn wait_healthy(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if awc::Client::default()
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("instance on port {port} never became healthy (its log is in the test's temp dir)");
}

async fn chat(port: u16, auth: &str) -> u16 {
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
    send(
        Method::POST,
        port,
        "/llm/shared/v1/chat/completions",
        &[("authorization", auth)],
        Some(body),
    )
    .await
    .0
}

#[actix_web::test]
async fn three_instances_share_rotation_and_obey_changes_within_a_second() {
    let Some(mysql) = service_url("TEST_MYSQL_URL") else {
        return;
    };
    let Some(redis) = service_url("TEST_REDIS_URL") else {
        return;
    };
    let database = unique_name("akr_multi");
    let server = Database::connect(&mysql).await.unwrap();
    server
        .execute_unprepared(&format!("CREATE DATABASE `{database}`"))
        .await
        .unwrap();
    let prefix = unique_name("akr_multi");
    let encryption_key = app::secrets::KeyCipher::generate_key_base64();
    let mock = MockUpstream::start();
    let other_mock = MockUpstream::start();
    let logs = tempfile::tempdir().unwrap();

    let env = vec![
        ("DATABASE_URL", with_database(&mysql, &database)),
        ("REDIS_URL", redis.clone()),
        ("REDIS_KEY_PREFIX", prefix.clone()),
        ("ENCRYPTION_KEY", encryption_key),
    ];
    let instances = spawn_instances(3, &env, logs.path());
    let ports: Vec<u16> = instances.ports();
    // All three start at once and race to migrate the empty database.
    for port in &ports {
        wait_healthy(*port).await;
    }
    let [a, b, c] = [ports[0], ports[1], ports[2]];
    let (status, config, _) = send(Method::GET, b, "/api/admin/app-config", &[], None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            config["build"].clone(),
            config["database"].clone(),
            config["cache"].clone()
        ),
        (json!("enterprise"), json!("mysql"), json!("redis"))
    );

    let admin = admin_login(a).await;
    let (service, key_ids) = create_shared_service(a, &admin, &mock.address).await;
    let id = service["id"].as_i64().unwrap();
    let admin = [("authorization", admin.as_str())];
    let (_, client, _) = send(
        Method::POST,
        a,
        "/api/admin/client-keys",
        &admin,
        Some(json!({"name": "shared-client"})),
    )
    .await;
    let client_auth = format!("Bearer {}", client["key"].as_str().unwrap());
    let global_auth = format!("Bearer {CLIENT_KEY}");

    // The other instances learned about the service through Redis.
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    for port in [b, c] {
        assert_eq!(
            chat(port, &global_auth).await,
            200,
            "instance {port} must know the new service within 1 s"
        );
    }

    // 300 requests spread over the three instances, 16 at a time: exact shares.
    mock.clear();
    let per_client = 300 / 15;
    let clients = (0..15).map(|worker| {
        let auth = global_auth.clone();
        let ports = ports.clone();
        async move {
            for i in 0..per_client {
                assert_eq!(chat(ports[(worker + i) % 3], &auth).await, 200);
            }
        }
    });
    join_all(clients).await;
    let counts = mock.count_by_key();
    let shares: Vec<usize> = KEYS
        .iter()
        .map(|k| counts.get(*k).copied().unwrap_or(0))
        .collect();
    assert_eq!(shares, vec![100, 100, 100], "{counts:?}");

    // Disable a key on A: B and C stop using it within a second.
    let (status, _, _) = send(
        Method::PATCH,
        a,
        &format!("/api/admin/keys/{}", key_ids[0]),
        &admin,
        Some(json!({"is_active": false})),
    )
    .await;
    assert_eq!(status, 200);
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    mock.clear();
    for i in 0..12 {
        assert_eq!(chat([b, c][i % 2], &global_auth).await, 200);
    }
    assert_eq!(
        mock.count_by_key().get(KEYS[0]),
        None,
        "{:?}",
        mock.count_by_key()
    );

    // Revoke a client key on A: B and C refuse it within a second.
    assert_eq!(chat(b, &client_auth).await, 200);
    let (status, _, _) = send(
        Method::PATCH,
        a,
        &format!("/api/admin/client-keys/{}", client["id"]),
        &admin,
        Some(json!({"is_active": false})),
    )
    .await;
    assert_eq!(status, 200);
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    for port in [b, c] {
        assert_eq!(chat(port, &client_auth).await, 401);
    }

    // Point the service elsewhere on A: B and C follow within a second.
    let mut changed = service.clone();
    changed["target_base_url"] = json!(format!("{}/v1", other_mock.address));
    let (status, _, text) = send(
        Method::PUT,
        a,
        &format!("/api/admin/proxy-configs/{id}"),
        &admin,
        Some(changed),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    for port in [b, c] {
        assert_eq!(chat(port, &global_auth).await, 200);
    }
    assert_eq!(
        other_mock.recorded().len(),
        2,
        "both instances must call the new upstream"
    );

    // rpm limits hold across instances: a client key limited to 5 requests a
    // minute gets 5 answers from A, B and C together, then 429; an upstream
    // key limited to 2 calls a minute serves 2 of them.
    let (status, limited, _) = send(
        Method::POST,
        a,
        "/api/admin/client-keys",
        &admin,
        Some(json!({"name": "limited", "rpm_limit": 5})),
    )
    .await;
    assert_eq!(status, 201);
    let limited_auth = format!("Bearer {}", limited["key"].as_str().unwrap());
    let (status, _, _) = send(
        Method::PATCH,
        a,
        &format!("/api/admin/keys/{}", key_ids[1]),
        &admin,
        Some(json!({"rpm_limit": 2})),
    )
    .await;
    assert_eq!(status, 200);
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    crate::proxy_limits::clear_of_minute_boundary().await;
    other_mock.clear();
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(chat(ports[i % 3], &limited_auth).await);
    }
    assert_eq!(statuses, vec![200, 200, 200, 200, 200, 429]);
    assert_eq!(
        other_mock.count_by_key().get(KEYS[1]).copied().unwrap_or(0),
        2,
        "{:?}",
        other_mock.count_by_key()
    );

    drop(instances);
    server
        .execute_unprepared(&format!("DROP DATABASE `{database}`"))
        .await
        .unwrap();
    cleanup_redis(&redis, &prefix).await;
}

#[test]
fn a_shared_database_without_encryption_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", "mysql://root@127.0.0.1:1/none")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("ENCRYPTION_KEY") && stderr.contains("gateway gen-key"),
        "{stderr}"
    );
}

async fn cleanup_redis(url: &str, prefix: &str) {
    let Ok(client) = redis::Client::open(url) else {
        return;
    };
    if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await;
        }
    }
}

fn warnings(logs: &std::path::Path, port: u16) -> usize {
    std::fs::read_to_string(logs.join(format!("{port}.log")))
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains("WARN"))
        .count()
}

#[actix_web::test]
async fn outages_of_redis_and_of_the_database_are_survived() {
    let Some(mysql) = service_url("TEST_MYSQL_URL") else {
        return;
    };
    let Some(redis) = service_url("TEST_REDIS_URL") else {
        return;
    };
    let database = unique_name("akr_outage");
    let server = Database::connect(&mysql).await.unwrap();
    server
        .execute_unprepared(&format!("CREATE DATABASE `{database}`"))
        .await
        .unwrap();
    let prefix = unique_name("akr_outage");
    let mock = MockUpstream::start();
    let logs = tempfile::tempdir().unwrap();
    // The gateways reach MariaDB and Redis through proxies the test can cut.
    let mysql_proxy = testkit::FaultProxy::start("127.0.0.1:3306");
    let redis_proxy = testkit::FaultProxy::start("127.0.0.1:6379");
    let user = mysql
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('@').next())
        .unwrap_or("root")
        .to_owned();
    let env = vec![
        (
            "DATABASE_URL",
            format!("mysql://{user}@127.0.0.1:{}/{database}", mysql_proxy.port),
        ),
        (
            "REDIS_URL",
            format!("redis://127.0.0.1:{}", redis_proxy.port),
        ),
        ("REDIS_KEY_PREFIX", prefix.clone()),
        (
            "ENCRYPTION_KEY",
            app::secrets::KeyCipher::generate_key_base64(),
        ),
    ];
    let instances = spawn_instances(2, &env, logs.path());
    let ports = instances.ports();
    for port in &ports {
        wait_healthy(*port).await;
    }
    let [a, b] = [ports[0], ports[1]];
    let admin = admin_login(a).await;
    create_shared_service(a, &admin, &mock.address).await;
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    let auth = format!("Bearer {CLIENT_KEY}");
    let warnings_before = warnings(logs.path(), a);

    // Redis cut: both keep proxying, each rotating on its own.
    redis_proxy.cut();
    for i in 0..30 {
        assert_eq!(
            chat(ports[i % 2], &auth).await,
            200,
            "request {i} during the Redis outage"
        );
    }
    let (status, ready, _) = send(Method::GET, a, "/readyz", &[], None).await;
    assert_eq!(
        (status, ready["status"].clone()),
        (200, json!("degraded")),
        "{ready}"
    );
    assert!(ready["cache"]["degraded"].is_string(), "{ready}");
    for i in 0..30 {
        assert_eq!(chat(ports[i % 2], &auth).await, 200);
    }
    let outage_warnings = warnings(logs.path(), a) - warnings_before;
    assert!(
        (1..=2).contains(&outage_warnings),
        "one warning per outage (cache and change channel), not one per request: {outage_warnings}"
    );

    // Redis back: shared rotation resumes without a restart.
    redis_proxy.restore();
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    for port in [a, b, a, b] {
        assert_eq!(chat(port, &auth).await, 200);
    }
    mock.clear();
    for i in 0..30 {
        assert_eq!(chat(ports[i % 2], &auth).await, 200);
    }
    let counts = mock.count_by_key();
    let shares: Vec<usize> = KEYS
        .iter()
        .map(|k| counts.get(*k).copied().unwrap_or(0))
        .collect();
    assert_eq!(
        shares,
        vec![10, 10, 10],
        "shared rotation must resume: {counts:?}"
    );
    let (status, ready, _) = send(Method::GET, b, "/readyz", &[], None).await;
    assert_eq!(
        (status, ready["status"].clone()),
        (200, json!("ok")),
        "{ready}"
    );

    // Database cut: proxying continues from the cached configuration; admin writes answer 503.
    mysql_proxy.cut();
    for i in 0..10 {
        assert_eq!(
            chat(ports[i % 2], &auth).await,
            200,
            "request {i} during the database outage"
        );
    }
    let admin_header = [("authorization", admin.as_str())];
    let during = json!({"name": "during"});
    let (status, _, text) = send(
        Method::POST,
        a,
        "/api/admin/client-keys",
        &admin_header,
        Some(during),
    )
    .await;
    assert_eq!(status, 503, "{text}");
    let (status, _, _) = send(Method::GET, a, "/readyz", &[], None).await;
    assert_eq!(status, 503);

    // Database back: writes work again without a restart.
    mysql_proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let after = json!({"name": "after"});
        let (status, _, text) = send(
            Method::POST,
            a,
            "/api/admin/client-keys",
            &admin_header,
            Some(after),
        )
        .await;
        if status == 201 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "admin writes did not recover: {status} {text}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(250)).await;
    }

    drop(instances);
    server
        .execute_unprepared(&format!("DROP DATABASE `{database}`"))
        .await
        .unwrap();
    cleanup_redis(&redis, &prefix).await;
}

/// Runs the binary with `env` and returns its stderr; it must fail.
fn failing_start(env: &[(&str, String)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(
            "ENCRYPTION_KEY",
            app::secrets::KeyCipher::generate_key_base64(),
        )
        .env("PROXY_CONNECT_TIMEOUT", "2")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(!output.status.success(), "{env:?} must not start");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.to_lowercase().contains("error"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line expected: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[actix_web::test]
async fn bad_enterprise_settings_fail_with_one_line_naming_the_variable() {
    let Some(mysql) = service_url("TEST_MYSQL_URL") else {
        return;
    };
    let Some(redis) = service_url("TEST_REDIS_URL") else {
        return;
    };
    let closed = free_port();

    // Unreachable database host.
    let stderr = failing_start(&[
        ("DATABASE_URL", format!("mysql://root@127.0.0.1:{closed}/x")),
        ("REDIS_URL", redis.clone()),
    ]);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");

    // A database user without the privileges to migrate.
    let database = unique_name("akr_noprivs");
    let user = unique_name("akr_np");
    let server = Database::connect(&mysql).await.unwrap();
    server
        .execute_unprepared(&format!("CREATE DATABASE `{database}`"))
        .await
        .unwrap();
    server
        .execute_unprepared(&format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'"))
        .await
        .unwrap();
    server
        .execute_unprepared(&format!(
            "CREATE USER '{user}'@'localhost' IDENTIFIED BY 'pw'"
        ))
        .await
        .unwrap();
    for host in ["%", "localhost"] {
        server
            .execute_unprepared(&format!(
                "GRANT SELECT ON `{database}`.* TO '{user}'@'{host}'"
            ))
            .await
            .unwrap();
    }
    let stderr = failing_start(&[
        (
            "DATABASE_URL",
            format!("mysql://{user}:pw@127.0.0.1:3306/{database}"),
        ),
        ("REDIS_URL", redis.clone()),
    ]);
    assert!(
        stderr.contains("privileges") && !stderr.contains(":pw@"),
        "{stderr}"
    );
    for host in ["%", "localhost"] {
        server
            .execute_unprepared(&format!("DROP USER '{user}'@'{host}'"))
            .await
            .unwrap();
    }
    server
        .execute_unprepared(&format!("DROP DATABASE `{database}`"))
        .await
        .unwrap();

    // A Redis that requires a password that was not given.
    let port = free_port();
    let mut protected = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--requirepass",
            "s3cret",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server is installed with the machine's Redis");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let stderr = failing_start(&[
        ("DATABASE_URL", with_database(&mysql, "test")),
        ("REDIS_URL", format!("redis://127.0.0.1:{port}")),
    ]);
    let _ = protected.kill();
    let _ = protected.wait();
    assert!(
        stderr.contains("REDIS_URL") && stderr.to_lowercase().contains("auth"),
        "{stderr}"
    );
}

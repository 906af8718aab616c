//! The real binary: first start with no configuration at all, the CLI, and
//! start-up failures that must be one clear line.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_gateway");

/// The binary with an empty environment (PATH kept), run in `dir`.
fn gateway(dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    command
}

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    gateway(dir)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

async fn wait_healthy(url: &str) -> bool {
    let client = awc::Client::default();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(response) = client.get(url).send().await {
            if response.status() == 200 {
                return true;
            }
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn terminate(child: &mut std::process::Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(35);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway did not stop within 35 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts the gateway with no configuration, as `cargo run --release` does on a fresh clone.
fn start_default(dir: &Path, stdout_file: &str) -> std::process::Child {
    let stdout = std::fs::File::create(dir.join(stdout_file)).unwrap();
    gateway(dir)
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Without the enterprise feature, asking for MySQL or Redis names the feature;
/// with it, MySQL without ENCRYPTION_KEY and an unreachable Redis name their variables.
#[cfg(not(feature = "enterprise"))]
const MYSQL_EXPECTED: &str = "--features enterprise";
#[cfg(not(feature = "enterprise"))]
const REDIS_EXPECTED: &str = "--features enterprise";
#[cfg(feature = "enterprise")]
const MYSQL_EXPECTED: &str = "ENCRYPTION_KEY";
#[cfg(feature = "enterprise")]
const REDIS_EXPECTED: &str = "REDIS_URL";

#[test]
fn the_default_build_contains_no_redis_or_mysql_driver() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "gateway",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8_lossy(&output.stdout);
    assert!(tree.contains("infra-sqlite"), "{tree}");
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        for forbidden in [
            "redis",
            "deadpool-redis",
            "sqlx-mysql",
            "mysql",
            "infra-mysql",
            "infra-redis",
            "sqlx-postgres",
        ] {
            assert_ne!(name, forbidden, "the default build depends on {forbidden}");
        }
    }
}

#[actix_web::test]
async fn first_start_uses_the_defaults_and_prints_the_password_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = start_default(dir.path(), "first.txt");
    let healthy = wait_healthy("http://127.0.0.1:8000/healthz").await;
    let status = terminate(&mut child);
    assert!(healthy, "GET :8000/healthz never answered 200");
    assert!(
        status.success(),
        "SIGTERM must end the gateway cleanly: {status}"
    );
    let first = std::fs::read_to_string(dir.path().join("first.txt")).unwrap();
    assert_eq!(first.matches("Admin password: ").count(), 1, "{first}");
    assert!(dir.path().join("data/api_key_rotator.db").exists());
    assert!(dir.path().join("data/secret.key").exists());

    let mut child = start_default(dir.path(), "second.txt");
    let healthy = wait_healthy("http://127.0.0.1:8000/healthz").await;
    terminate(&mut child);
    assert!(healthy);
    let second = std::fs::read_to_string(dir.path().join("second.txt")).unwrap();
    assert!(
        !second.contains("Admin password"),
        "printed again: {second}"
    );
}

#[test]
fn bad_configuration_fails_with_one_line_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a-file"), "not a directory").unwrap();
    for (env, expected) in [
        (vec![("BACKEND_PORT", "eighty")], "BACKEND_PORT"),
        (vec![("MAX_BODY_BYTES", "0")], "MAX_BODY_BYTES"),
        (vec![("ENCRYPTION_KEY", "too-short")], "ENCRYPTION_KEY"),
        (
            vec![("DATABASE_PATH", "a-file/data/db.sqlite")],
            "DATABASE_PATH",
        ),
        (
            vec![("DB_TYPE", "mysql"), ("DB_HOST", "127.0.0.1")],
            MYSQL_EXPECTED,
        ),
        (vec![("REDIS_URL", "redis://127.0.0.1:1")], REDIS_EXPECTED),
        (vec![("CACHE_TYPE", "memcached")], "CACHE_TYPE"),
    ] {
        let output = run(dir.path(), &["serve"], &env);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{env:?} must fail");
        let error_lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.to_lowercase().contains("error"))
            .collect();
        assert_eq!(error_lines.len(), 1, "{env:?}: {stderr}");
        assert!(error_lines[0].contains(expected), "{env:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // Nothing was created by the failed starts.
    assert!(!dir.path().join("data").exists());
}

#[test]
fn cli_version_help_gen_key_and_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let version = run(dir.path(), &["--version"], &[]);
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    let help = String::from_utf8_lossy(&run(dir.path(), &["--help"], &[]).stdout).into_owned();
    for command in ["serve", "migrate", "gen-key", "--config"] {
        assert!(help.contains(command), "{help}");
    }
    let key = run(dir.path(), &["gen-key"], &[]);
    let key = String::from_utf8_lossy(&key.stdout).trim().to_owned();
    assert!(app::secrets::KeyCipher::from_base64(&key).is_ok(), "{key}");

    let db = [("DATABASE_PATH", "./state/rotator.db")];
    let first = run(dir.path(), &["migrate"], &db);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&first.stdout).trim(),
        "applied 3 migration(s)"
    );
    let again = run(dir.path(), &["migrate"], &db);
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        "applied 0 migration(s)"
    );
    assert!(dir.path().join("state/rotator.db").exists());
}

#[test]
fn a_toml_config_file_is_read_and_env_wins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gateway.toml"),
        "backend_port = \"not-a-port\"\n",
    )
    .unwrap();
    let output = run(dir.path(), &["--config", "gateway.toml", "migrate"], &[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("BACKEND_PORT"));
    let output = run(
        dir.path(),
        &["--config", "gateway.toml", "migrate"],
        &[("BACKEND_PORT", "9000")],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = run(dir.path(), &["--config", "missing.toml", "migrate"], &[]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing.toml"));
}

/// Issue 8: with `LOG_FORMAT=json` each proxied request is one JSON log line
/// (request id, service, client, masked key, status, attempts, latency), and
/// `EXPOSE_KEY_ID=true` tags the answer with the key's id.
#[actix_web::test]
async fn json_logs_carry_one_line_per_proxied_request() {
    let mock = testkit::MockUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log_path = dir.path().join("gateway.log");
    let mut child = gateway(dir.path())
        .envs([
            ("BACKEND_PORT", port.to_string()),
            ("BIND_ADDRESS", "127.0.0.1".to_owned()),
            ("ADMIN_PASSWORD", "json-logs-admin".to_owned()),
            ("GLOBAL_PROXY_KEYS", "json-logs-client".to_owned()),
            ("LOG_FORMAT", "json".to_owned()),
            ("LOG_LEVEL", "info".to_owned()),
            ("EXPOSE_KEY_ID", "true".to_owned()),
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    assert!(wait_healthy(&format!("{base}/healthz")).await);
    let client = awc::Client::default();
    let login: serde_json::Value = client
        .post(format!("{base}/api/admin/login"))
        .send_json(&serde_json::json!({"username": "admin", "password": "json-logs-admin"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = format!("Bearer {}", login["access_token"].as_str().unwrap());
    let mut created = client
        .post(format!("{base}/api/admin/proxy-configs"))
        .insert_header(("authorization", bearer.as_str()))
        .send_json(
            &serde_json::json!({"name": "j", "slug": "j", "config_type": "llm",
            "api_format": "openai_compatible", "target_base_url": format!("{}/v1", mock.address)}),
        )
        .await
        .unwrap();
    let config: serde_json::Value = created.json().await.unwrap();
    let mut key = client
        .post(format!(
            "{base}/api/admin/proxy-configs/{}/keys",
            config["id"]
        ))
        .insert_header(("authorization", bearer.as_str()))
        .send_json(&serde_json::json!({"key_value": "sk-json-logs-0000000000001"}))
        .await
        .unwrap();
    let key: serde_json::Value = key.json().await.unwrap();
    let response = client
        .post(format!("{base}/llm/j/v1/chat/completions"))
        .insert_header(("authorization", "Bearer json-logs-client"))
        .insert_header(("x-request-id", "json-logs-request-1"))
        .send_json(
            &serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("x-rotator-key-id")
            .unwrap()
            .to_str()
            .unwrap(),
        key["id"].to_string()
    );
    assert_eq!(
        response.headers().get("x-request-id").unwrap(),
        "json-logs-request-1"
    );
    assert!(terminate(&mut child).success());
    let logs = std::fs::read_to_string(&log_path).unwrap();
    let line = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["message"] == "proxied request")
        .unwrap_or_else(|| panic!("no JSON line for the request in:\n{logs}"));
    let fields = &line["fields"];
    assert_eq!(line["level"], "INFO");
    assert_eq!(fields["request_id"], "json-logs-request-1");
    assert_eq!(fields["service"], "j");
    assert_eq!(fields["client"], "global");
    assert_eq!(fields["status"], 200);
    assert_eq!(fields["attempts"], 1);
    assert!(fields["latency_ms"].is_u64(), "{line}");
    assert!(fields["key"].as_str().unwrap().contains("*****"), "{line}");
    assert!(
        !logs.contains("sk-json-logs-0000000000001"),
        "no key in the logs"
    );
}

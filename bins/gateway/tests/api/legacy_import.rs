//! `gateway import-legacy`: a SQLite database in the original Go project's
//! schema (GORM: `proxy_configs`, `api_keys` with plain `key_value`), built
//! here, is imported by the real binary; the keys are stored encrypted and
//! the imported services proxy with them.

use actix_web::http::Method;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sea_orm::sqlx::Executor;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use testkit::{spawn_app_with, MockUpstream, TestOptions};

const BIN: &str = env!("CARGO_BIN_EXE_gateway");
const WEATHER_KEY: &str = "wx-legacy-key-aaaa1111";
const WEATHER_OFF_KEY: &str = "wx-legacy-key-bbbb2222";
const OPENAI_KEY: &str = "sk-legacy-openai-0001";
const CLIENT_KEY: &str = "legacy-client-key";

/// The tables as GORM's SQLite dialect created them in the Go project.
const LEGACY_SCHEMA: &str = r#"
CREATE TABLE `proxy_configs` (`id` integer,`name` text NOT NULL,`slug` text NOT NULL,
  `config_type` text NOT NULL,`api_key_location` text NOT NULL,`api_key_name` text NOT NULL,
  `is_active` numeric DEFAULT true,`created_at` datetime,`updated_at` datetime,`method` text,
  `target_url` text,`target_base_url` text,`api_format` text DEFAULT "openai_compatible",
  PRIMARY KEY (`id`));
CREATE UNIQUE INDEX `idx_proxy_configs_slug` ON `proxy_configs`(`slug`);
CREATE TABLE `api_keys` (`id` integer,`key_value` text NOT NULL,`is_active` numeric DEFAULT true,
  `proxy_config_id` integer,PRIMARY KEY (`id`),
  CONSTRAINT `fk_proxy_configs_api_keys` FOREIGN KEY (`proxy_config_id`)
  REFERENCES `proxy_configs`(`id`) ON DELETE CASCADE);
"#;

async fn build_legacy_database(path: &Path, mock: &str) {
    let pool = SqlitePoolOptions::new()
        // The Go driver left foreign keys unenforced, so orphaned keys exist in the wild.
        .connect_with(
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .foreign_keys(false),
        )
        .await
        .unwrap();
    pool.execute(LEGACY_SCHEMA).await.unwrap();
    let now = "2025-03-01 10:00:00.000000000+00:00";
    let services = format!(
        "INSERT INTO proxy_configs (id, name, slug, config_type, api_key_location, api_key_name, is_active, created_at, updated_at, method, target_url, target_base_url, api_format) VALUES
         (1, 'Weather', 'weather', 'generic', 'query', 'appid', true, '{now}', '{now}', 'GET', '{mock}/base', NULL, NULL),
         (2, 'OpenAI', 'openai-legacy', 'llm', 'header', 'Authorization', true, '{now}', '{now}', NULL, NULL, '{mock}/v1', NULL),
         (3, 'Broken', 'Not A Slug!', 'llm', 'header', 'Authorization', true, '{now}', '{now}', NULL, NULL, '{mock}/v1', 'openai_compatible'),
         (4, 'Gemini', 'gemini-old', 'llm', 'query', 'key', false, '{now}', '{now}', NULL, NULL, 'https://generativelanguage.googleapis.com', 'gemini_native')"
    );
    pool.execute(services.as_str()).await.unwrap();
    let keys = format!(
        "INSERT INTO api_keys (id, key_value, is_active, proxy_config_id) VALUES
         (1, '{WEATHER_KEY}', true, 1), (2, '{WEATHER_OFF_KEY}', false, 1), (3, '{WEATHER_KEY}', true, 1),
         (4, '{OPENAI_KEY}', true, 2), (5, 'sk-broken-service-key-9', true, 3),
         (6, '   ', true, 4), (7, 'AIza-legacy-gemini-key-3', true, 4),
         (8, 'sk-orphan-key-of-nothing', true, 99)"
    );
    pool.execute(keys.as_str()).await.unwrap();
    pool.close().await;
}

fn import(data_dir: &Path, legacy: &Path) -> Output {
    Command::new(BIN)
        .current_dir(data_dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_PATH", testkit::app::db_path(data_dir))
        .args(["import-legacy", &legacy.display().to_string()])
        .output()
        .unwrap()
}

fn files_contain(dir: &Path, needle: &str) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    })
}

#[actix_web::test]
async fn a_legacy_database_is_imported_encrypted_and_a_second_run_changes_nothing() {
    let mock = MockUpstream::start();
    let legacy_dir = tempfile::tempdir().unwrap();
    let legacy = legacy_dir.path().join("legacy.db");
    build_legacy_database(&legacy, &mock.address).await;
    let legacy_before = std::fs::read(&legacy).unwrap();
    let data_dir = Arc::new(tempfile::tempdir().unwrap());

    let first = import(data_dir.path(), &legacy);
    let out = String::from_utf8_lossy(&first.stdout);
    let err = String::from_utf8_lossy(&first.stderr);
    assert_eq!(
        first.status.code(),
        Some(1),
        "a refused row fails the run: {out}{err}"
    );
    assert!(
        out.contains("imported  weather (id ")
            && out.contains("2 key(s), 1 duplicate(s) skipped, 0 refused"),
        "{out}"
    );
    assert!(out.contains("imported  openai-legacy"), "{out}");
    assert!(
        out.contains("refused   Not A Slug! (legacy id 3): slug"),
        "{out}"
    );
    assert!(out.contains("imported  gemini-old"), "{out}");
    assert!(
        out.contains("refused key *****: must not be empty"),
        "{out}"
    );
    assert!(
        out.contains("3 service(s) imported, 0 already present, 1 refused"),
        "{out}"
    );
    for key in [WEATHER_KEY, OPENAI_KEY, "AIza-legacy-gemini-key-3"] {
        assert!(
            !out.contains(key) && !err.contains(key),
            "a key was printed"
        );
        assert!(
            !files_contain(&data_dir.path().join("data"), key),
            "{key} is stored in plain text"
        );
    }
    assert_eq!(
        std::fs::read(&legacy).unwrap(),
        legacy_before,
        "the legacy file is only read"
    );

    // The gateway over the imported database: the services are there and proxy with the legacy keys.
    let app = spawn_app_with(TestOptions {
        data_dir: Some(Arc::clone(&data_dir)),
        ..TestOptions::default().env("GLOBAL_PROXY_KEYS", CLIENT_KEY)
    })
    .await;
    let token = app.login().await;
    let configs = app
        .admin_with(&token, Method::GET, "/proxy-configs", None)
        .await
        .json();
    let summary: Vec<(String, bool, u64, u64)> = configs
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["slug"].as_str().unwrap().to_owned(),
                c["is_active"].as_bool().unwrap(),
                c["key_count"].as_u64().unwrap(),
                c["active_key_count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("weather".to_owned(), true, 2, 1),
            ("openai-legacy".to_owned(), true, 1, 1),
            ("gemini-old".to_owned(), false, 1, 1),
        ]
    );
    let gemini = &configs[2];
    assert_eq!(gemini["api_format"], "gemini_native");
    assert_eq!(
        configs[1]["api_format"], "openai_compatible",
        "NULL meant openai_compatible"
    );

    let weather = app
        .call(
            Method::GET,
            "/proxy/weather/echo/today?city=Oslo",
            &[("x-proxy-key", CLIENT_KEY)],
            None,
        )
        .await;
    assert_eq!(weather.status, 200, "{}", weather.text());
    let chat = app
        .call(
            Method::POST,
            "/llm/openai-legacy/v1/chat/completions",
            &[
                ("authorization", &format!("Bearer {CLIENT_KEY}")),
                ("content-type", "application/json"),
            ],
            Some(
                br#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#.to_vec(),
            ),
        )
        .await;
    assert_eq!(chat.status, 200, "{}", chat.text());
    let recorded = mock.recorded();
    assert_eq!(recorded[0].path, "/base/echo/today");
    assert_eq!(recorded[0].query, format!("city=Oslo&appid={WEATHER_KEY}"));
    assert_eq!(
        recorded[1].header_values("authorization"),
        vec![format!("Bearer {OPENAI_KEY}").as_str()],
        "LLM services place keys the native way, as the Go adapters did"
    );
    app.stop().await;

    // Again: every slug exists now, so nothing changes.
    let second = import(data_dir.path(), &legacy);
    let out = String::from_utf8_lossy(&second.stdout);
    assert!(out.contains("exists    weather"), "{out}");
    assert!(
        out.contains("0 service(s) imported, 3 already present, 1 refused"),
        "{out}"
    );
}

#[test]
fn a_file_that_is_not_a_legacy_database_is_named_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = import(dir.path(), &dir.path().join("nope.db"));
    assert_eq!(missing.status.code(), Some(1));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("nope.db") && err.contains("no such file"),
        "{err}"
    );

    let not_sqlite = dir.path().join("notes.txt");
    std::fs::write(&not_sqlite, "just text, not a database at all").unwrap();
    let output = import(dir.path(), &not_sqlite);
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(err.contains("notes.txt"), "{err}");
    assert!(
        !dir.path().join("data").exists(),
        "no gateway database was created"
    );
}

//! The SQLite repository against the shared repository contract, plus the
//! SQLite-specific set-up (WAL mode, data directory errors).

use infra_sqlite::{connect, SqliteConfig, SqliteError};

#[tokio::test]
async fn sqlite_repository_honours_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let repo = connect(&SqliteConfig::new(dir.path().join("data/test.db")))
        .await
        .unwrap();
    domain::testing::repository_contract::run(&repo).await;
}

#[tokio::test]
async fn the_database_runs_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.db");
    let repo = connect(&SqliteConfig::new(&path)).await.unwrap();
    domain::ports::KeyRepository::put_setting(&repo, "x", "y")
        .await
        .unwrap();
    let header = std::fs::read(&path).unwrap();
    // Bytes 18 and 19 of the header are 2 for WAL (1 for rollback journal).
    assert_eq!((header[18], header[19]), (2, 2));
}

#[tokio::test]
async fn an_unusable_data_directory_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), b"x").unwrap();
    let err = connect(&SqliteConfig::new(dir.path().join("file/sub/db.sqlite")))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, SqliteError::CreateDir { .. }), "{err}");
    assert!(err.to_string().contains("DATABASE_PATH"), "{err}");
}

/// A database logged by the one-row-per-request table (before packed
/// batches) keeps its rows through the upgrade, in order and whole.
#[tokio::test]
async fn request_log_rows_of_the_old_table_survive_the_upgrade() {
    use domain::request_log::RequestLogQuery;
    use migrations::MigratorTrait;
    use sea_orm::{ConnectionTrait, Database, Statement};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let old = Database::connect(&url).await.unwrap();
    migrations::Migrator::up(&old, Some(2)).await.unwrap();
    for n in 0..3 {
        old.execute(Statement::from_string(
            old.get_database_backend(),
            format!(
                "INSERT INTO request_logs (at, request_id, service_id, service, client_key_id, \
                 client_key, key_id, key_hint, client_format, upstream_format, model, status, \
                 attempts, latency_ms, ttfb_ms, input_tokens, output_tokens) VALUES \
                 ({at}, 'req-{n}', 4, 'svc', NULL, 'team', 9, 'sk-a***z', 'openai', \
                 'anthropic_native', 'm', 200, 2, 30, 12, 5, 7)",
                at = 1_700_000_000_000_i64 + n
            ),
        ))
        .await
        .unwrap();
    }
    old.close().await.unwrap();

    let repo = connect(&SqliteConfig::new(&path)).await.unwrap();
    let rows = domain::ports::KeyRepository::list_request_logs(
        &repo,
        &RequestLogQuery {
            limit: 10,
            ..RequestLogQuery::default()
        },
    )
    .await
    .unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids, ["req-2", "req-1", "req-0"]);
    let newest = &rows[0];
    assert_eq!(
        (
            newest.service_id,
            newest.client_key_id,
            newest.key_hint.as_deref()
        ),
        (Some(4), None, Some("sk-a***z"))
    );
    assert_eq!(
        (newest.attempts, newest.ttfb_ms, newest.output_tokens),
        (2, Some(12), 7)
    );
    assert_eq!(
        domain::time_fmt::unix_millis(&newest.time),
        1_700_000_000_002
    );
}

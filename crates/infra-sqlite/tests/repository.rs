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
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let old = sea_orm::Database::connect(&url).await.unwrap();
    migrations::testing::log_old_rows(&old).await.unwrap();
    old.close().await.unwrap();
    let repo = connect(&SqliteConfig::new(&path)).await.unwrap();
    migrations::testing::assert_old_rows_carried_over(&repo).await;
}

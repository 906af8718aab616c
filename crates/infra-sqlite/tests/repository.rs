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

//! The PostgreSQL repository against the shared repository contract, in a
//! database of its own (`TEST_POSTGRES_URL`).

use domain::testing::{repository_contract, service_url};
use infra_postgres::{connect, PostgresConfig, PostgresError};
use infra_sql::PoolSettings;
use migrations::testing::Scratch;

fn config(scratch: &Scratch) -> PostgresConfig {
    PostgresConfig {
        url: scratch.url.clone().into(),
        pool: PoolSettings::default(),
    }
}

#[tokio::test]
async fn postgres_repository_honours_the_contract() {
    let Some(scratch) = Scratch::create("TEST_POSTGRES_URL", "akr_test").await else {
        return;
    };
    let repo = connect(&config(&scratch)).await.unwrap();
    repository_contract::run(&repo).await;
    // Migrations are idempotent.
    assert_eq!(
        infra_postgres::migrate(&config(&scratch)).await.unwrap().1,
        0
    );
    scratch.drop_database().await;
}

#[tokio::test]
async fn wrong_credentials_are_one_clear_error() {
    let Some(url) = service_url("TEST_POSTGRES_URL") else {
        return;
    };
    let scheme_end = url.find("://").unwrap() + 3;
    let host = &url[scheme_end..]
        .split_once('@')
        .map_or(&url[scheme_end..], |(_, h)| h);
    let bad = format!("postgres://nobody_akr:wrong-password@{host}");
    let config = PostgresConfig {
        url: bad.into(),
        pool: PoolSettings::default(),
    };
    let err = connect(&config).await.err().unwrap();
    assert!(matches!(err, PostgresError::Connect(_)), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("DATABASE_URL") && !message.contains("wrong-password"),
        "{message}"
    );
}

/// A database logged by the one-row-per-request table (before packed
/// batches) keeps its rows through the upgrade, in order and whole.
#[tokio::test]
async fn request_log_rows_of_the_old_table_survive_the_upgrade() {
    let Some(scratch) = Scratch::create("TEST_POSTGRES_URL", "akr_upgrade").await else {
        return;
    };
    scratch.log_old_rows().await;
    let repo = connect(&config(&scratch)).await.unwrap();
    migrations::testing::assert_old_rows_carried_over(&repo).await;
    scratch.drop_database().await;
}

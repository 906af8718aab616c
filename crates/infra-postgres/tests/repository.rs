//! The PostgreSQL repository against the shared repository contract, in a
//! database of its own (`TEST_POSTGRES_URL`).

use domain::testing::{repository_contract, service_url, unique_name, with_database};
use infra_postgres::{connect, PostgresConfig, PostgresError};
use infra_sql::PoolSettings;
use sea_orm::{ConnectionTrait, Database};

#[tokio::test]
async fn postgres_repository_honours_the_contract() {
    let Some(url) = service_url("TEST_POSTGRES_URL") else {
        return;
    };
    let name = unique_name("akr_test");
    let server = Database::connect(&url).await.unwrap();
    server
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    let config = PostgresConfig {
        url: with_database(&url, &name).into(),
        pool: PoolSettings::default(),
    };
    let repo = connect(&config).await.unwrap();
    repository_contract::run(&repo).await;
    // Migrations are idempotent.
    assert_eq!(infra_postgres::migrate(&config).await.unwrap().1, 0);
    server
        .execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
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

//! The MySQL/MariaDB repository against the shared repository contract, in a
//! database of its own (`TEST_MYSQL_URL`).

use domain::testing::{repository_contract, service_url, unique_name, with_database};
use infra_mysql::{connect, MysqlConfig, MysqlError};
use infra_sql::PoolSettings;
use sea_orm::{ConnectionTrait, Database};

#[tokio::test]
async fn mysql_repository_honours_the_contract() {
    let Some(url) = service_url("TEST_MYSQL_URL") else {
        return;
    };
    let name = unique_name("akr_test");
    let server = Database::connect(&url).await.unwrap();
    server
        .execute_unprepared(&format!("CREATE DATABASE `{name}`"))
        .await
        .unwrap();
    let config = MysqlConfig {
        url: with_database(&url, &name).into(),
        pool: PoolSettings::default(),
    };
    let repo = connect(&config).await.unwrap();
    repository_contract::run(&repo).await;
    // Migrations are idempotent.
    assert_eq!(infra_mysql::migrate(&config).await.unwrap().1, 0);
    server
        .execute_unprepared(&format!("DROP DATABASE `{name}`"))
        .await
        .unwrap();
}

#[tokio::test]
async fn wrong_credentials_are_one_clear_error() {
    let Some(url) = service_url("TEST_MYSQL_URL") else {
        return;
    };
    let scheme_end = url.find("://").unwrap() + 3;
    let host = &url[scheme_end..]
        .split_once('@')
        .map_or(&url[scheme_end..], |(_, h)| h);
    let bad = format!("mysql://nobody_akr:wrong-password@{host}");
    let config = MysqlConfig {
        url: bad.into(),
        pool: PoolSettings::default(),
    };
    let err = connect(&config).await.err().unwrap();
    assert!(matches!(err, MysqlError::Connect(_)), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("DATABASE_URL") && !message.contains("wrong-password"),
        "{message}"
    );
}

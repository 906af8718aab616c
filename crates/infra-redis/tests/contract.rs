//! The Redis cache against the shared rotation-cache contract, under a key
//! prefix of its own (`TEST_REDIS_URL`).

use domain::testing::{cache_contract, service_url, unique_name};
use infra_redis::{RedisConfig, RedisRotationCache};
use std::time::Duration;

fn config(url: String, prefix: &str) -> RedisConfig {
    RedisConfig {
        url: url.into(),
        prefix: prefix.to_owned(),
        connect_timeout: Duration::from_secs(3),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cache_honours_the_contract() {
    let Some(url) = service_url("TEST_REDIS_URL") else {
        return;
    };
    let prefix = unique_name("akr_test");
    let cache = RedisRotationCache::connect(&config(url.clone(), &prefix))
        .await
        .unwrap();
    // Let the change listener subscribe before the contract publishes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    cache_contract::run(&cache, 1).await;
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(&keys)
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_wrong_password_or_host_is_one_clear_error() {
    let Some(_) = service_url("TEST_REDIS_URL") else {
        return;
    };
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = RedisRotationCache::connect(&config(
        format!("redis://:secret-pw@127.0.0.1:{closed}"),
        "x",
    ))
    .await
    .err()
    .unwrap();
    let message = err.to_string();
    assert!(
        message.contains("REDIS_URL") && !message.contains("secret-pw"),
        "{message}"
    );
}

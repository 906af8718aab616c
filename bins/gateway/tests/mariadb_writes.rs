//! Issue 8, acceptance 2, on MariaDB itself: over 1000 proxied requests the
//! server executes at most one usage UPDATE per table and one request-log
//! INSERT per flush interval (`Com_update`, `Com_insert`). A test binary of
//! its own, so no other test shares the server's counters while it runs.
#![cfg(feature = "enterprise")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::http::Method;
use domain::testing::{service_url, unique_name, with_database};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::json;
use std::time::Instant;
use testkit::{spawn_app_with, MockUpstream, TestOptions};

async fn counters(db: &DatabaseConnection) -> (u64, u64) {
    let rows = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_insert', 'Com_update')",
        ))
        .await
        .unwrap();
    let mut insert = 0;
    let mut update = 0;
    for row in rows {
        let name: String = row.try_get_by_index(0).unwrap();
        let value: String = row.try_get_by_index(1).unwrap();
        let value: u64 = value.parse().unwrap();
        match name.as_str() {
            "Com_insert" => insert = value,
            "Com_update" => update = value,
            _ => {}
        }
    }
    (insert, update)
}

#[actix_web::test]
async fn a_thousand_requests_cost_mariadb_one_statement_per_table_per_flush() {
    let Some(url) = service_url("TEST_MYSQL_URL") else {
        return;
    };
    let admin = Database::connect(&url).await.unwrap();
    let database = unique_name("akr_writes");
    admin
        .execute_unprepared(&format!("CREATE DATABASE `{database}`"))
        .await
        .unwrap();
    let mock = MockUpstream::start();
    let app = spawn_app_with(
        TestOptions::default()
            .env("DATABASE_URL", &with_database(&url, &database))
            .env("CACHE_TYPE", "memory")
            .env(
                "ENCRYPTION_KEY",
                "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=",
            )
            .env("GLOBAL_PROXY_KEYS", "writes-client-key")
            .env("LOG_LEVEL", "warn"),
    )
    .await;
    let token = app.login().await;
    let service = app
        .create_service(
            &token,
            json!({"name": "w", "slug": "w", "config_type": "llm", "api_format": "openai_compatible",
                "target_base_url": format!("{}/sim/v1", mock.address)}),
        )
        .await;
    for i in 0..3 {
        app.add_key(&token, service, &format!("sk-writes-key-00000000{i}"))
            .await;
    }
    let created = app
        .admin_with(
            &token,
            Method::POST,
            "/client-keys",
            Some(json!({"name": "w"})),
        )
        .await
        .json();
    let bearer = format!("Bearer {}", created["key"].as_str().unwrap());
    let headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    let body = br#"{"model":"sim-model","messages":[{"role":"user","content":"hi"}]}"#.to_vec();

    let (insert_before, update_before) = counters(&admin).await;
    let started = Instant::now();
    for _ in 0..20 {
        let calls = (0..50).map(|_| {
            app.call(
                Method::POST,
                "/llm/w/v1/chat/completions",
                &headers,
                Some(body.clone()),
            )
        });
        for response in futures_util::future::join_all(calls).await {
            assert_eq!(response.status, 200, "{}", response.text());
        }
    }
    app.stop().await;
    let seconds = started.elapsed().as_secs_f64();
    let (insert_after, update_after) = counters(&admin).await;
    let inserts = insert_after - insert_before;
    let updates = update_after - update_before;
    let flushes_of_usage = (seconds / 5.0).ceil() as u64 + 1;
    let flushes_of_log = seconds.ceil() as u64 + 1;
    eprintln!("1000 requests in {seconds:.1} s: {inserts} INSERT, {updates} UPDATE statements");
    // Usage: one UPDATE for upstream_keys and one for client_keys per flush.
    assert!(
        updates <= 2 * flushes_of_usage,
        "{updates} UPDATEs in {seconds:.1} s"
    );
    assert!(
        inserts <= flushes_of_log,
        "{inserts} INSERTs in {seconds:.1} s"
    );
    assert!(inserts >= 1 && updates >= 2, "the writes did happen");

    let rows = admin
        .query_one(Statement::from_string(
            admin.get_database_backend(),
            format!("SELECT CAST(SUM(row_count) AS SIGNED) FROM `{database}`.request_log_batches"),
        ))
        .await
        .unwrap()
        .unwrap();
    let logged: i64 = rows.try_get_by_index(0).unwrap();
    assert_eq!(logged, 1000);
    admin
        .execute_unprepared(&format!("DROP DATABASE `{database}`"))
        .await
        .unwrap();
}

//! The behaviour every [`KeyRepository`] must have.

use crate::client_key::{ClientKeyRequest, NewClientKey};
use crate::ports::{KeyInsert, KeyRepository, RepoError, ResealedKey, UsageBatch, UsageDelta};
use crate::request_log::packed::pack_entries;
use crate::request_log::{RequestLogEntry, RequestLogQuery};
use crate::time_fmt::{from_unix_millis, now};
use crate::{ClientKeyPatch, KeyPatch, NewUpstreamKey, ProxyConfigDraft, ProxyTarget, Slug};
use serde_json::json;

fn draft(name: &str, slug: &str) -> ProxyConfigDraft {
    let body = json!({"name": name, "slug": slug, "config_type": "llm", "target_base_url": "https://x/v1",
                      "api_format": "openai_compatible", "model_map": {"a": "b"}});
    match ProxyConfigDraft::from_json(body) {
        Ok(draft) => draft,
        Err(e) => panic!("test draft is invalid: {e}"),
    }
}

fn new_key(n: u8) -> NewUpstreamKey {
    NewUpstreamKey {
        ciphertext: vec![n; 40],
        fingerprint: format!("fp-{n}"),
        key_masked: format!("sk-00{n}*****xyz"),
        is_active: true,
        weight: u32::from(n),
        rpm_limit: None,
    }
}

fn ok<T>(result: Result<T, RepoError>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what}: {e}"),
    }
}

/// Runs every check against a fresh, empty repository.
pub async fn run(repo: &dyn KeyRepository) {
    ok(repo.ping().await, "ping");
    configs(repo).await;
    keys(repo).await;
    request_logs(repo).await;
    client_keys(repo).await;
    settings(repo).await;
}

async fn configs(repo: &dyn KeyRepository) {
    let created = ok(repo.create_config(&draft("Alpha", "alpha")).await, "create");
    assert_eq!(created.slug.as_str(), "alpha");
    assert_eq!(
        ok(repo.get_config(created.id).await, "get"),
        created,
        "get returns what create returned"
    );
    let ProxyTarget::Llm(llm) = &created.target else {
        panic!("llm target expected")
    };
    assert_eq!(llm.model_map.get("a").map(String::as_str), Some("b"));

    assert_eq!(
        repo.create_config(&draft("Other", "alpha")).await,
        Err(RepoError::Duplicate("slug".into()))
    );
    assert_eq!(
        repo.create_config(&draft("Alpha", "other")).await,
        Err(RepoError::Duplicate("name".into()))
    );

    let beta = ok(
        repo.create_config(&draft("Beta", "beta")).await,
        "create beta",
    );
    let renamed = ok(
        repo.update_config(beta.id, &draft("Beta 2", "beta-2"))
            .await,
        "update",
    );
    assert_eq!(
        (renamed.name.as_str(), renamed.slug.as_str()),
        ("Beta 2", "beta-2")
    );
    assert_eq!(renamed.created_at, beta.created_at);
    assert_eq!(
        repo.update_config(beta.id, &draft("x", "alpha")).await,
        Err(RepoError::Duplicate("slug".into()))
    );
    assert_eq!(
        repo.update_config(9999, &draft("x", "x")).await,
        Err(RepoError::NotFound)
    );

    let inactive = ok(repo.set_config_active(beta.id, false).await, "deactivate");
    assert!(!inactive.is_active);
    let listed = ok(repo.list_configs().await, "list");
    assert_eq!(
        listed.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![created.id, beta.id]
    );

    ok(repo.delete_config(beta.id).await, "delete");
    assert_eq!(repo.get_config(beta.id).await, Err(RepoError::NotFound));
    assert_eq!(repo.delete_config(beta.id).await, Err(RepoError::NotFound));
    ok(repo.delete_config(created.id).await, "delete alpha");
}

async fn keys(repo: &dyn KeyRepository) {
    let config = ok(repo.create_config(&draft("Keys", "keys")).await, "create");
    let results = ok(
        repo.insert_keys(config.id, &[new_key(1), new_key(2), new_key(1)])
            .await,
        "insert",
    );
    let [KeyInsert::Inserted(first), KeyInsert::Inserted(second), KeyInsert::Duplicate] =
        results[..]
    else {
        panic!("expected inserted, inserted, duplicate: {results:?}");
    };
    let again = ok(
        repo.insert_keys(config.id, &[new_key(2), new_key(3)]).await,
        "insert again",
    );
    assert!(
        matches!(again[..], [KeyInsert::Duplicate, KeyInsert::Inserted(_)]),
        "{again:?}"
    );
    assert_eq!(
        repo.insert_keys(9999, &[new_key(4)]).await,
        Err(RepoError::NotFound)
    );

    let listed = ok(repo.list_keys(config.id).await, "list");
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0].key.id, first);
    assert_eq!(
        listed[0].ciphertext,
        vec![1; 40],
        "ciphertext round-trips byte for byte"
    );
    assert_eq!(listed[1].key.weight, 2);
    assert_eq!(repo.list_keys(9999).await, Err(RepoError::NotFound));

    let patch = KeyPatch {
        is_active: Some(false),
        weight: Some(9),
        rpm_limit: Some(Some(30)),
    };
    let updated = ok(repo.update_key(second, &patch).await, "update key");
    assert_eq!(
        (
            updated.key.is_active,
            updated.key.weight,
            updated.key.rpm_limit
        ),
        (false, 9, Some(30))
    );
    let cleared = ok(
        repo.update_key(
            second,
            &KeyPatch {
                rpm_limit: Some(None),
                ..KeyPatch::default()
            },
        )
        .await,
        "clear",
    );
    assert_eq!((cleared.key.rpm_limit, cleared.key.weight), (None, 9));
    // Re-encryption is all or nothing: an unknown id undoes the whole batch.
    let resealed = |id, n: u8| ResealedKey {
        id,
        ciphertext: vec![n; 44],
        fingerprint: format!("fp-new-{n}"),
    };
    assert_eq!(
        repo.reseal_keys(&[resealed(first, 7), resealed(999_999, 8)])
            .await,
        Err(RepoError::NotFound)
    );
    let unchanged = ok(repo.get_key(first).await, "get after a failed reseal");
    assert_eq!(unchanged.ciphertext, vec![1; 40], "rolled back");
    ok(
        repo.reseal_keys(&[resealed(first, 7), resealed(second, 8)])
            .await,
        "reseal",
    );
    let (a, b) = (
        ok(repo.get_key(first).await, "get a"),
        ok(repo.get_key(second).await, "get b"),
    );
    assert_eq!((a.ciphertext, b.ciphertext), (vec![7; 44], vec![8; 44]));
    assert_eq!(
        repo.insert_keys(
            config.id,
            &[NewUpstreamKey {
                fingerprint: "fp-new-7".into(),
                ..new_key(6)
            }]
        )
        .await,
        Ok(vec![KeyInsert::Duplicate]),
        "duplicates are found by the new fingerprint"
    );

    let counts = ok(repo.key_counts().await, "counts");
    let count = counts
        .iter()
        .find(|(id, _)| *id == config.id)
        .map(|(_, c)| *c)
        .unwrap_or_default();
    assert_eq!((count.total, count.active), (3, 2));

    let when = from_unix_millis(1_900_000_000_000);
    let delta = UsageDelta {
        requests: 3,
        failures: 1,
        input_tokens: 10,
        output_tokens: 20,
        last_used_at: Some(when),
    };
    let batch = UsageBatch {
        keys: vec![(first, delta), (424_242, delta)],
        client_keys: vec![],
    };
    ok(repo.record_usage(&batch).await, "usage");
    ok(repo.record_usage(&batch).await, "usage twice");
    let usage = ok(repo.get_key(first).await, "get key").key.usage;
    assert_eq!(
        (
            usage.requests,
            usage.failures,
            usage.input_tokens,
            usage.output_tokens
        ),
        (6, 2, 20, 40)
    );
    // One batch, different rows, different amounts: each row gets its own.
    let other = UsageDelta {
        requests: 5,
        failures: 0,
        input_tokens: 1,
        output_tokens: 2,
        last_used_at: Some(from_unix_millis(1_800_000_000_000)),
    };
    ok(
        repo.record_usage(&UsageBatch {
            keys: vec![(first, delta), (second, other)],
            client_keys: vec![],
        })
        .await,
        "usage of two keys",
    );
    let a = ok(repo.get_key(first).await, "get key").key.usage;
    let b = ok(repo.get_key(second).await, "get key").key.usage;
    assert_eq!((a.requests, a.failures, a.input_tokens), (9, 3, 30));
    assert_eq!(
        (b.requests, b.failures, b.input_tokens, b.output_tokens),
        (5, 0, 1, 2)
    );

    ok(repo.delete_key(first).await, "delete key");
    assert_eq!(repo.get_key(first).await, Err(RepoError::NotFound));
    assert_eq!(repo.delete_key(first).await, Err(RepoError::NotFound));
    assert_eq!(ok(repo.delete_keys_of(config.id).await, "clear"), 2);
    assert_eq!(
        ok(repo.list_keys(config.id).await, "list after clear").len(),
        0
    );

    ok(
        repo.insert_keys(config.id, &[new_key(5)]).await,
        "insert before cascade",
    );
    ok(repo.delete_config(config.id).await, "delete config");
    let remaining = ok(repo.list_all_keys().await, "all keys");
    assert!(
        remaining.iter().all(|k| k.key.config_id != config.id),
        "keys are deleted with their config"
    );
}

async fn client_keys(repo: &dyn KeyRepository) {
    let expires = now() + std::time::Duration::from_secs(3600);
    let request = ClientKeyRequest {
        name: "ci".into(),
        allowed_slugs: Some(vec![Slug::new("a").unwrap_or_else(|e| panic!("{e}"))]),
        expires_at: Some(expires),
        rpm_limit: Some(10),
    };
    let new_key = NewClientKey {
        request,
        key_masked: "rk-abc*****xyz".into(),
        key_hash: "h1".into(),
    };
    let created = ok(repo.create_client_key(&new_key).await, "create client key");
    assert_eq!(created.key_hash, "h1");
    assert_eq!(created.key.expires_at, Some(expires));
    assert!(created.key.is_active);

    let patch = ClientKeyPatch {
        is_active: Some(false),
        allowed_slugs: Some(None),
        expires_at: Some(None),
        ..Default::default()
    };
    let updated = ok(
        repo.update_client_key(created.key.id, &patch).await,
        "update client key",
    );
    assert!(!updated.key.is_active);
    assert_eq!(
        (
            updated.key.allowed_slugs,
            updated.key.expires_at,
            updated.key.rpm_limit
        ),
        (None, None, Some(10))
    );

    let delta = UsageDelta {
        requests: 2,
        input_tokens: 5,
        output_tokens: 7,
        last_used_at: Some(now()),
        ..Default::default()
    };
    ok(
        repo.record_usage(&UsageBatch {
            keys: vec![],
            client_keys: vec![(created.key.id, delta)],
        })
        .await,
        "usage",
    );
    let listed = ok(repo.list_client_keys().await, "list client keys");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].key.requests, listed[0].key.output_tokens),
        (2, 7)
    );
    assert!(listed[0].key.last_used_at.is_some());

    ok(
        repo.delete_client_key(created.key.id).await,
        "delete client key",
    );
    assert_eq!(
        repo.delete_client_key(created.key.id).await,
        Err(RepoError::NotFound)
    );
    assert_eq!(
        repo.update_client_key(created.key.id, &patch)
            .await
            .map(|_| ()),
        Err(RepoError::NotFound)
    );
}

async fn settings(repo: &dyn KeyRepository) {
    assert_eq!(ok(repo.get_setting("missing").await, "get"), None);
    ok(repo.put_setting("s", "one").await, "put");
    ok(repo.put_setting("s", "two").await, "replace");
    assert_eq!(
        ok(repo.get_setting("s").await, "get").as_deref(),
        Some("two")
    );
    assert_eq!(
        ok(repo.put_setting_if_absent("t", "first").await, "if absent"),
        "first"
    );
    assert_eq!(
        ok(
            repo.put_setting_if_absent("t", "second").await,
            "if absent again"
        ),
        "first"
    );
}

fn log_row(n: u16, service: &str, client: &str, status: u16, at_ms: i64) -> RequestLogEntry {
    RequestLogEntry {
        id: 0,
        time: from_unix_millis(at_ms),
        request_id: format!("req-{n}"),
        service_id: Some(1),
        service: service.to_owned(),
        client_key_id: None,
        client_key: client.to_owned(),
        key_id: Some(i64::from(n)),
        key_hint: Some("sk-abc*****xyz".to_owned()),
        client_format: Some("openai".to_owned()),
        upstream_format: Some("anthropic_native".to_owned()),
        model: Some("m".to_owned()),
        status,
        attempts: 2,
        latency_ms: 12,
        ttfb_ms: Some(5),
        input_tokens: 7,
        output_tokens: 3,
    }
}

async fn request_logs(repo: &dyn KeyRepository) {
    let base = 1_700_000_000_000;
    // 30 rows: services a/b alternate, clients x/y every three, one 5xx in five.
    let rows: Vec<RequestLogEntry> = (0..30u16)
        .map(|n| {
            log_row(
                n,
                if n % 2 == 0 { "a" } else { "b" },
                if n % 3 == 0 { "x" } else { "y" },
                if n % 5 == 0 { 502 } else { 200 },
                base + i64::from(n) * 1000,
            )
        })
        .collect();
    ok(
        repo.insert_request_logs(&pack_entries(&rows)).await,
        "insert request logs",
    );
    ok(repo.insert_request_logs(&[]).await, "insert nothing");
    let all = |q: RequestLogQuery| async move { ok(repo.list_request_logs(&q).await, "list logs") };
    let page = all(RequestLogQuery {
        limit: 10,
        ..RequestLogQuery::default()
    })
    .await;
    assert_eq!(page.len(), 10);
    assert_eq!(page[0].request_id, "req-29", "newest first");
    assert_eq!(
        page[0],
        RequestLogEntry {
            id: page[0].id,
            ..rows[29].clone()
        },
        "every field kept"
    );
    let next = all(RequestLogQuery {
        limit: 10,
        before_id: Some(page[9].id),
        ..RequestLogQuery::default()
    })
    .await;
    assert_eq!(
        next[0].request_id, "req-19",
        "the cursor continues where the page ended"
    );
    let a_5xx = all(RequestLogQuery {
        limit: 100,
        service: Some("a".into()),
        status_class: Some(5),
        ..RequestLogQuery::default()
    })
    .await;
    let ids: Vec<&str> = a_5xx.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids, ["req-20", "req-10", "req-0"]);
    let x = all(RequestLogQuery {
        limit: 100,
        client_key: Some("x".into()),
        ..RequestLogQuery::default()
    })
    .await;
    assert_eq!(x.len(), 10);
    let window = all(RequestLogQuery {
        limit: 100,
        since: Some(from_unix_millis(base + 5000)),
        until: Some(from_unix_millis(base + 8000)),
        ..RequestLogQuery::default()
    })
    .await;
    assert_eq!(window.len(), 3, "since inclusive, until exclusive");

    // Older than 10 s after base: rows 0..9 go; then only the newest 15 stay.
    let pruned = ok(
        repo.prune_request_logs(from_unix_millis(base + 10_000), 15)
            .await,
        "prune",
    );
    assert_eq!(pruned, 15);
    let left = all(RequestLogQuery {
        limit: 100,
        ..RequestLogQuery::default()
    })
    .await;
    assert_eq!(left.len(), 15);
    assert_eq!(left.last().map(|r| r.request_id.as_str()), Some("req-15"));
    assert_eq!(
        ok(
            repo.prune_request_logs(from_unix_millis(0), 100).await,
            "prune none"
        ),
        0
    );

    // More rows than one statement takes: all land, fields intact.
    let bulk: Vec<RequestLogEntry> = (0..2345u16)
        .map(|n| log_row(n, "bulk", "z", 200, base + 100_000 + i64::from(n)))
        .collect();
    ok(
        repo.insert_request_logs(&pack_entries(&bulk)).await,
        "insert a large batch",
    );
    let landed = all(RequestLogQuery {
        service: Some("bulk".to_owned()),
        limit: 5000,
        ..RequestLogQuery::default()
    })
    .await;
    assert_eq!(landed.len(), 2345);
    assert_eq!(
        landed.first().map(|r| r.request_id.as_str()),
        Some("req-2344")
    );
    assert_eq!(landed.last().map(|r| r.request_id.as_str()), Some("req-0"));
    let found = landed.iter().find(|r| r.request_id == "req-1000").cloned();
    let expected = RequestLogEntry {
        id: found.as_ref().map_or(0, |r| r.id),
        ..bulk[1000].clone()
    };
    assert_eq!(found, Some(expected), "a row of the second statement");

    // Many one-row batches: a filtered page reads past the first round of
    // batches, and pruning by count crosses batches.
    let singles: Vec<_> = (0..150u16)
        .flat_map(|n| {
            let service = if n == 0 { "rare" } else { "common" };
            pack_entries(&[log_row(n, service, "z", 200, base + 200_000 + i64::from(n))])
        })
        .collect();
    ok(repo.insert_request_logs(&singles).await, "insert singles");
    let rare = all(RequestLogQuery {
        service: Some("rare".to_owned()),
        limit: 10,
        ..RequestLogQuery::default()
    })
    .await;
    assert_eq!(rare.len(), 1, "found behind 149 newer batches");
    let newest = all(RequestLogQuery {
        limit: 100,
        ..RequestLogQuery::default()
    })
    .await;
    let older = all(RequestLogQuery {
        limit: 100,
        before_id: newest.last().map(|r| r.id),
        ..RequestLogQuery::default()
    })
    .await;
    let ids: Vec<i64> = newest.iter().chain(&older).map(|r| r.id).collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "pages continue without overlap"
    );
    assert_eq!(older.first().map(|r| r.request_id.as_str()), Some("req-49"));
    let pruned = ok(
        repo.prune_request_logs(from_unix_millis(0), 100).await,
        "prune across batches",
    );
    assert_eq!(pruned, 15 + 2345 + 50);
    let left = all(RequestLogQuery {
        limit: 500,
        ..RequestLogQuery::default()
    })
    .await;
    assert_eq!(left.len(), 100);
    assert_eq!(left.last().map(|r| r.request_id.as_str()), Some("req-50"));

    // Two instances pruning at once: exactly the rows past the limit go
    // (how many each reports may overlap).
    let newer: Vec<RequestLogEntry> = (0..200u16)
        .map(|n| log_row(n, "newer", "z", 200, base + 300_000 + i64::from(n)))
        .collect();
    let newer = pack_entries(&newer);
    assert_eq!(newer.len(), 1, "one batch of 200 rows");
    ok(repo.insert_request_logs(&newer).await, "insert newer");
    let prunes = vec![
        repo.prune_request_logs(from_unix_millis(0), 150),
        repo.prune_request_logs(from_unix_millis(0), 150),
    ];
    for pruned in super::cache_contract::join_all(prunes).await {
        ok(pruned, "concurrent prune");
    }
    let left = all(RequestLogQuery {
        limit: 500,
        ..RequestLogQuery::default()
    })
    .await;
    assert_eq!(left.len(), 150, "the newest 150 rows stay");
    assert_eq!(left.last().map(|r| r.request_id.as_str()), Some("req-50"));
}

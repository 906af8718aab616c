//! The behaviour every [`KeyRepository`] must have.

use crate::client_key::{ClientKeyRequest, NewClientKey};
use crate::ports::{KeyInsert, KeyRepository, RepoError, UsageBatch, UsageDelta};
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

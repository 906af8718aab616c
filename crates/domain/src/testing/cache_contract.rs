//! The behaviour every [`RotationCache`] must have.

use crate::ports::{CacheError, ChangeEvent, RateBucket, RateDecision, RotationCache};
use crate::time_fmt::from_unix_millis;
use crate::{KeyHealth, KeyOutcome, KeyState};
use std::time::Duration;

fn ok<T>(result: Result<T, CacheError>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what}: {e}"),
    }
}

/// Runs every check. `ids` must be unused by other concurrent users of the
/// same store (services, keys and client keys are addressed by these ids).
pub async fn run(cache: &dyn RotationCache, ids: i64) {
    ok(cache.ping().await, "ping");

    let service = ids;
    for expected in 0..5 {
        assert_eq!(ok(cache.next_counter(service).await, "counter"), expected);
    }
    assert_eq!(
        ok(cache.next_counter(service + 1).await, "other counter"),
        0,
        "counters are per service"
    );

    let (counter, health) = ok(
        cache
            .next_counter_with_health(service, &[ids, ids + 1])
            .await,
        "counter with health",
    );
    assert_eq!(counter, 5, "the combined call advances the same counter");
    assert_eq!(health, vec![KeyHealth::default(), KeyHealth::default()]);
    assert_eq!(
        ok(
            cache.next_counter_with_health(service, &[]).await,
            "no keys"
        )
        .0,
        6
    );
    assert_eq!(ok(cache.next_counter(service).await, "counter after"), 7);

    let t0 = from_unix_millis(1_800_000_000_000);
    let key = ids;
    assert_eq!(
        ok(cache.key_health(&[key]).await, "health")[0],
        KeyHealth::default(),
        "unknown keys are healthy"
    );
    let outcome = KeyOutcome::RateLimited {
        retry_after: Some(Duration::from_secs(7)),
        status: 429,
        error: "slow".into(),
    };
    let health = ok(cache.record_outcome(key, &outcome, t0).await, "record");
    assert_eq!(health.state, KeyState::CoolingDown);
    assert_eq!(health.cooldown_until, Some(t0 + Duration::from_secs(7)));
    let shorter = KeyOutcome::RateLimited {
        retry_after: Some(Duration::from_secs(1)),
        status: 429,
        error: "slow".into(),
    };
    let health = ok(
        cache.record_outcome(key, &shorter, t0).await,
        "record shorter",
    );
    assert_eq!(
        health.cooldown_until,
        Some(t0 + Duration::from_secs(7)),
        "a cooldown never shrinks"
    );
    let read = ok(cache.key_health(&[key + 1, key]).await, "read back");
    assert_eq!(read, vec![KeyHealth::default(), health]);
    ok(cache.reset_health(key).await, "reset");
    assert_eq!(
        ok(cache.key_health(&[key]).await, "after reset")[0],
        KeyHealth::default()
    );

    let bucket = RateBucket::ClientKey(ids);
    for _ in 0..2 {
        assert_eq!(
            ok(cache.acquire_rate(bucket, 2, t0).await, "rate"),
            RateDecision::Allowed
        );
    }
    let limited = ok(
        cache
            .acquire_rate(bucket, 2, t0 + Duration::from_secs(15))
            .await,
        "rate limited",
    );
    assert_eq!(
        limited,
        RateDecision::Limited {
            retry_after: Duration::from_secs(45)
        }
    );
    let next_minute = t0 + Duration::from_secs(60);
    assert_eq!(
        ok(
            cache.acquire_rate(bucket, 2, next_minute).await,
            "next window"
        ),
        RateDecision::Allowed
    );
    let other = RateBucket::UpstreamKey(ids);
    assert_eq!(
        ok(cache.acquire_rate(other, 1, t0).await, "other bucket"),
        RateDecision::Allowed
    );

    let mut subscription = cache.subscribe();
    ok(
        cache.publish(ChangeEvent::Service(service)).await,
        "publish",
    );
    assert_eq!(
        subscription.next().await,
        Some(ChangeEvent::Service(service))
    );

    concurrent_picks_get_every_value_once(cache, service + 2, key).await;
}

/// Picks made at the same time (which an implementation may coalesce) each
/// get their own counter value, with no gap and no repeat, and see the
/// health of the keys they asked about.
async fn concurrent_picks_get_every_value_once(
    cache: &dyn RotationCache,
    service: i64,
    cooling_key: i64,
) {
    let outcome = KeyOutcome::RateLimited {
        retry_after: Some(Duration::from_secs(3600)),
        status: 429,
        error: "slow".into(),
    };
    ok(
        cache
            .record_outcome(cooling_key, &outcome, crate::time_fmt::now())
            .await,
        "cool a key",
    );
    let pool = [cooling_key + 1, cooling_key];
    let picks: Vec<_> = (0..40)
        .map(|_| cache.next_counter_with_health(service, &pool))
        .collect();
    let mut counters = Vec::new();
    for result in join_all(picks).await {
        let (counter, health) = ok(result, "concurrent pick");
        assert_eq!(health.len(), 2);
        assert_eq!(health[0], KeyHealth::default());
        assert_eq!(
            health[1].state,
            KeyState::CoolingDown,
            "health of the right key"
        );
        counters.push(counter);
    }
    counters.sort_unstable();
    assert_eq!(counters, (0..40).collect::<Vec<u64>>());
    ok(cache.reset_health(cooling_key).await, "reset after");
}

/// Polls every future until all are done (the contract avoids depending on
/// an async utility crate).
pub(crate) async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for (future, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

//! Coalescing of concurrent picks for one service into one Redis round trip.
//!
//! While one pick for a service is on the wire, later picks for the same
//! service queue up; when it returns, the first queued pick leads the next
//! round trip for all of them with one `INCRBY n`, and hands each waiter one
//! value of the range it got back. Every pick still gets its own counter
//! value, contiguous with the others, so rotation stays exact across
//! instances; under low load a pick travels alone, exactly as before, and
//! under high load Redis sees one command per batch instead of one per request.

use domain::ports::CacheError;
use domain::{ConfigId, KeyHealth, KeyId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::oneshot;

/// What one round trip for a batch returned: the first counter value of the
/// batch's range, and the health of the keys the leader asked about.
pub(crate) struct BatchResult {
    pub ids: Arc<[KeyId]>,
    pub health: Arc<[KeyHealth]>,
}

/// A message to a queued pick.
enum Turn {
    /// This pick's counter value and the batch's health reading.
    Served(u64, Arc<BatchResult>),
    /// The round trip failed for the whole batch.
    Failed(CacheError),
    /// The previous leader is done: this pick leads the next round trip.
    Lead,
}

#[derive(Default)]
struct Slot {
    busy: bool,
    waiting: Vec<oneshot::Sender<Turn>>,
}

/// Per-service queues of picks waiting for a round trip.
#[derive(Default)]
pub(crate) struct PickBatcher {
    slots: Mutex<HashMap<ConfigId, Slot>>,
}

/// What a pick got: its counter value and a health reading for `ids`.
pub(crate) struct Picked {
    pub counter: u64,
    pub batch: Arc<BatchResult>,
}

impl PickBatcher {
    fn with_slot<T>(&self, service: ConfigId, f: impl FnOnce(&mut Slot) -> T) -> T {
        // A panic while holding this lock cannot leave a slot half-updated in
        // a way that matters more than losing the queue, so poisoning is ignored.
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        f(slots.entry(service).or_default())
    }

    /// Runs `round_trip(n)` — which must reserve `n` consecutive counter
    /// values and return the first — for this pick and every pick queued
    /// behind it, or waits for the current round trip and takes a value from it.
    pub(crate) async fn pick<F, Fut>(
        &self,
        service: ConfigId,
        round_trip: F,
    ) -> Result<Picked, CacheError>
    where
        F: Fn(u64) -> Fut,
        Fut: std::future::Future<Output = Result<(u64, BatchResult), CacheError>>,
    {
        let queued = self.with_slot(service, |slot| {
            if slot.busy {
                let (tx, rx) = oneshot::channel();
                slot.waiting.push(tx);
                Some(rx)
            } else {
                slot.busy = true;
                None
            }
        });
        if let Some(rx) = queued {
            match rx.await {
                Ok(Turn::Served(counter, batch)) => return Ok(Picked { counter, batch }),
                Ok(Turn::Failed(error)) => return Err(error),
                Ok(Turn::Lead) => {}
                // The leader was cancelled before it could serve this pick: go alone.
                Err(_) => {
                    let (first, result) = round_trip(1).await?;
                    return Ok(Picked {
                        counter: first,
                        batch: Arc::new(result),
                    });
                }
            }
        }
        let mut leadership = Leadership {
            batcher: self,
            service,
        };
        let followers = leadership.take_waiting();
        let size = u64::try_from(followers.len()).unwrap_or(u64::MAX - 1) + 1;
        let outcome = round_trip(size).await;
        match outcome {
            Ok((first, result)) => {
                let batch = Arc::new(result);
                for (offset, follower) in (1..).zip(followers) {
                    let _ = follower.send(Turn::Served(first + offset, Arc::clone(&batch)));
                }
                Ok(Picked {
                    counter: first,
                    batch,
                })
            }
            Err(error) => {
                for follower in followers {
                    let _ = follower.send(Turn::Failed(error.clone()));
                }
                Err(error)
            }
        }
        // `leadership` drops here (or on cancellation) and passes the lead on.
    }
}

/// Held by the pick leading a round trip; on drop — normal or cancelled —
/// hands the lead to the first pick still waiting, or frees the slot.
struct Leadership<'a> {
    batcher: &'a PickBatcher,
    service: ConfigId,
}

impl Leadership<'_> {
    fn take_waiting(&mut self) -> Vec<oneshot::Sender<Turn>> {
        self.batcher
            .with_slot(self.service, |slot| std::mem::take(&mut slot.waiting))
    }
}

impl Drop for Leadership<'_> {
    fn drop(&mut self) {
        self.batcher.with_slot(self.service, |slot| {
            while !slot.waiting.is_empty() {
                let next = slot.waiting.remove(0);
                // A waiter that went away cannot lead; try the next one.
                if next.send(Turn::Lead).is_ok() {
                    return;
                }
            }
            slot.busy = false;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn result() -> BatchResult {
        BatchResult {
            ids: Arc::from(Vec::new()),
            health: Arc::from(Vec::new()),
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn concurrent_picks_share_round_trips_and_get_distinct_consecutive_values() {
        let batcher = Arc::new(PickBatcher::default());
        let counter = Arc::new(AtomicU64::new(0));
        let round_trips = Arc::new(AtomicU64::new(0));
        let local = tokio::task::LocalSet::new();
        let values = local
            .run_until(async {
                let mut handles = Vec::new();
                for _ in 0..50 {
                    let batcher = Arc::clone(&batcher);
                    let counter = Arc::clone(&counter);
                    let round_trips = Arc::clone(&round_trips);
                    handles.push(tokio::task::spawn_local(async move {
                        batcher
                            .pick(1, |n| {
                                let counter = Arc::clone(&counter);
                                let round_trips = Arc::clone(&round_trips);
                                async move {
                                    round_trips.fetch_add(1, Ordering::SeqCst);
                                    tokio::task::yield_now().await;
                                    Ok((counter.fetch_add(n, Ordering::SeqCst), result()))
                                }
                            })
                            .await
                            .map(|p| p.counter)
                    }));
                }
                let mut values = Vec::new();
                for handle in handles {
                    values.push(handle.await.unwrap().unwrap());
                }
                values
            })
            .await;
        let mut sorted = values.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>(), "every value once");
        let trips = round_trips.load(Ordering::SeqCst);
        assert!(
            trips < 50,
            "picks were coalesced: {trips} round trips for 50"
        );
        assert!(!batcher.slots.lock().unwrap()[&1].busy, "slot freed");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_failed_round_trip_fails_its_batch_and_the_next_pick_tries_again() {
        let batcher = PickBatcher::default();
        let failing = batcher
            .pick(2, |_| async {
                Err::<(u64, BatchResult), _>(CacheError::Unavailable("down".into()))
            })
            .await;
        assert!(failing.is_err());
        let next = batcher
            .pick(2, |_| async { Ok((7, result())) })
            .await
            .unwrap();
        assert_eq!(next.counter, 7);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_cancelled_leader_passes_the_lead_on() {
        let batcher = Arc::new(PickBatcher::default());
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let stuck = {
                    let batcher = Arc::clone(&batcher);
                    tokio::task::spawn_local(async move {
                        batcher
                            .pick(3, |_| async {
                                std::future::pending::<Result<(u64, BatchResult), CacheError>>()
                                    .await
                            })
                            .await
                            .map(|p| p.counter)
                    })
                };
                tokio::task::yield_now().await;
                let follower = {
                    let batcher = Arc::clone(&batcher);
                    tokio::task::spawn_local(async move {
                        batcher
                            .pick(3, |_| async { Ok((11, result())) })
                            .await
                            .map(|p| p.counter)
                    })
                };
                tokio::task::yield_now().await;
                stuck.abort();
                let value = tokio::time::timeout(std::time::Duration::from_secs(5), follower)
                    .await
                    .expect("the follower was not left waiting")
                    .unwrap()
                    .unwrap();
                assert_eq!(value, 11);
            })
            .await;
    }
}

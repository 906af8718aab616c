//! Upstream latency per service over the last hour, for `/stats` p50/p99:
//! sixty one-minute slots of a fixed log-scale histogram per service.

use crate::IdMap;
use domain::ConfigId;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Upper bounds of the buckets, in milliseconds (the last is open).
const BOUNDS_MS: [u64; 24] = [
    1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1_000, 1_500, 2_000,
    3_000, 5_000, 10_000, 30_000,
];
const BUCKETS: usize = BOUNDS_MS.len() + 1;
const SLOTS: usize = 60;

#[derive(Clone, Copy)]
struct Slot {
    minute: u64,
    counts: [u32; BUCKETS],
}

struct Window {
    slots: [Slot; SLOTS],
}

/// Percentiles over the last hour, in milliseconds (bucket upper bounds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Percentiles {
    /// Median.
    pub p50_ms: Option<u64>,
    /// 99th percentile.
    pub p99_ms: Option<u64>,
}

/// Latency windows of every service.
#[derive(Default)]
pub struct LatencyWindows {
    services: Mutex<IdMap<ConfigId, Window>>,
}

fn bucket(latency: Duration) -> usize {
    let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    BOUNDS_MS
        .iter()
        .position(|b| ms <= *b)
        .unwrap_or(BOUNDS_MS.len())
}

impl LatencyWindows {
    /// Records one answer's latency at `minute` (minutes since the epoch).
    pub fn observe(&self, service: ConfigId, latency: Duration, minute: u64) {
        let mut services = self.services.lock().unwrap_or_else(PoisonError::into_inner);
        let window = services.entry(service).or_insert_with(|| Window {
            slots: [Slot {
                minute: 0,
                counts: [0; BUCKETS],
            }; SLOTS],
        });
        let slot = &mut window.slots[(minute % SLOTS as u64) as usize];
        if slot.minute != minute {
            *slot = Slot {
                minute,
                counts: [0; BUCKETS],
            };
        }
        slot.counts[bucket(latency)] += 1;
    }

    /// p50 and p99 of `service` over the hour ending at `minute`.
    #[must_use]
    pub fn percentiles(&self, service: ConfigId, minute: u64) -> Percentiles {
        let services = self.services.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(window) = services.get(&service) else {
            return Percentiles::default();
        };
        let mut counts = [0u64; BUCKETS];
        for slot in &window.slots {
            if slot.minute + (SLOTS as u64) > minute && slot.minute <= minute {
                for (sum, n) in counts.iter_mut().zip(slot.counts) {
                    *sum += u64::from(n);
                }
            }
        }
        let total: u64 = counts.iter().sum();
        let at = |q: f64| -> Option<u64> {
            if total == 0 {
                return None;
            }
            let rank = ((total as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, n) in counts.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    return Some(BOUNDS_MS.get(i).copied().unwrap_or(u64::MAX));
                }
            }
            None
        };
        Percentiles {
            p50_ms: at(0.5),
            p99_ms: at(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_cover_the_last_hour_only() {
        let windows = LatencyWindows::default();
        for i in 0..100u64 {
            windows.observe(
                1,
                Duration::from_millis(if i < 98 { 12 } else { 900 }),
                1000,
            );
        }
        let p = windows.percentiles(1, 1010);
        assert_eq!(
            p,
            Percentiles {
                p50_ms: Some(15),
                p99_ms: Some(1_000)
            }
        );
        assert_eq!(
            windows.percentiles(1, 1060),
            Percentiles::default(),
            "an hour later it is gone"
        );
        assert_eq!(windows.percentiles(2, 1000), Percentiles::default());
    }
}

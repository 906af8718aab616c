//! Rotation: which key serves the n-th request, and in which order the
//! others are tried when it fails.
//!
//! The pick is a pure function of a shared counter, so every instance that
//! shares the counter (one Redis INCR in enterprise) shares the rotation.

use crate::values::RotationStrategy;

/// Schedules longer than this are scaled down proportionally.
const MAX_SCHEDULE_LEN: u64 = 1 << 16;

/// A precomputed rotation over one pool of keys (rebuilt when the pool changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    strategy: RotationStrategy,
    len: usize,
    /// For `weighted`: one smooth weighted round-robin cycle of key indices.
    schedule: Vec<usize>,
}

impl Rotation {
    /// Prepares a rotation over keys with these weights (in pool order).
    #[must_use]
    pub fn new(strategy: RotationStrategy, weights: &[u32]) -> Self {
        let schedule = match strategy {
            RotationStrategy::Weighted => smooth_weighted_schedule(weights),
            RotationStrategy::RoundRobin | RotationStrategy::Random => Vec::new(),
        };
        Self {
            strategy,
            len: weights.len(),
            schedule,
        }
    }

    /// Number of keys in the pool.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the pool is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The index that serves request number `counter` (`random` is used by
    /// the random strategy only). `None` for an empty pool.
    #[must_use]
    pub fn pick(&self, counter: u64, random: u64) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let len = self.len as u64;
        let index = match self.strategy {
            RotationStrategy::RoundRobin => counter % len,
            RotationStrategy::Random => random % len,
            RotationStrategy::Weighted => {
                let slot = counter % self.schedule.len().max(1) as u64;
                return self.schedule.get(slot as usize).copied().or(Some(0));
            }
        };
        usize::try_from(index).ok()
    }

    /// Every index once: the pick first, then the rest of the ring in order.
    /// The failover loop walks this and skips unusable keys.
    pub fn candidates(&self, counter: u64, random: u64) -> impl Iterator<Item = usize> + '_ {
        let start = self.pick(counter, random).unwrap_or(0);
        (0..self.len).map(move |offset| (start + offset) % self.len)
    }
}

/// One cycle of smooth weighted round robin (nginx's algorithm): each key
/// appears `weight` times, spread as evenly as possible.
#[must_use]
pub fn smooth_weighted_schedule(weights: &[u32]) -> Vec<usize> {
    let weights = reduce(weights);
    let total: i64 = weights.iter().map(|w| i64::from(*w)).sum();
    let mut current = vec![0i64; weights.len()];
    let mut schedule = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for _ in 0..total {
        let mut best = 0;
        for (i, w) in weights.iter().enumerate() {
            current[i] += i64::from(*w);
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        schedule.push(best);
    }
    schedule
}

/// Divides weights by their gcd and scales very long cycles down (keeping
/// every key at least once); zero weights count as one.
fn reduce(weights: &[u32]) -> Vec<u32> {
    let weights: Vec<u32> = weights.iter().map(|w| (*w).max(1)).collect();
    let divisor = weights.iter().copied().fold(0, gcd).max(1);
    let mut reduced: Vec<u32> = weights.iter().map(|w| w / divisor).collect();
    let total: u64 = reduced.iter().map(|w| u64::from(*w)).sum();
    if total > MAX_SCHEDULE_LEN {
        reduced = reduced
            .iter()
            .map(|w| u32::try_from((u64::from(*w) * MAX_SCHEDULE_LEN / total).max(1)).unwrap_or(1))
            .collect();
    }
    reduced
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(rotation: &Rotation, requests: u64) -> Vec<u64> {
        let mut counts = vec![0; rotation.len()];
        for n in 0..requests {
            counts[rotation.pick(n, n.wrapping_mul(2_654_435_761)).unwrap()] += 1;
        }
        counts
    }

    #[test]
    fn round_robin_is_exactly_fair() {
        let r = Rotation::new(RotationStrategy::RoundRobin, &[1, 1, 1]);
        assert_eq!(counts(&r, 300), vec![100, 100, 100]);
    }

    #[test]
    fn weighted_follows_weights_exactly_per_cycle() {
        let r = Rotation::new(RotationStrategy::Weighted, &[1, 2, 3]);
        assert_eq!(counts(&r, 600), vec![100, 200, 300]);
    }

    #[test]
    fn smooth_schedule_interleaves() {
        assert_eq!(
            smooth_weighted_schedule(&[5, 1, 1]),
            vec![0, 0, 1, 0, 2, 0, 0]
        );
        assert_eq!(smooth_weighted_schedule(&[2, 4]), vec![1, 0, 1]);
    }

    #[test]
    fn huge_weights_stay_bounded() {
        let weights = vec![1000; 1000];
        assert!(smooth_weighted_schedule(&weights).len() as u64 <= MAX_SCHEDULE_LEN);
        let weights: Vec<u32> = (1..=1000).collect();
        let schedule = smooth_weighted_schedule(&weights);
        assert!(schedule.len() as u64 <= MAX_SCHEDULE_LEN + 1000);
        assert!((0..1000).all(|i| schedule.contains(&i)));
    }

    #[test]
    fn candidates_visit_every_key_once_starting_at_the_pick() {
        let r = Rotation::new(RotationStrategy::RoundRobin, &[1, 1, 1, 1]);
        assert_eq!(r.candidates(5, 0).collect::<Vec<_>>(), vec![1, 2, 3, 0]);
        let empty = Rotation::new(RotationStrategy::RoundRobin, &[]);
        assert_eq!(empty.pick(1, 1), None);
        assert_eq!(empty.candidates(1, 1).count(), 0);
    }
}

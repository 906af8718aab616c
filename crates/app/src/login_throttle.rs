//! Rate limiting of failed admin logins, per client address.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed attempts allowed per window before the client is locked out.
pub const MAX_FAILURES: u32 = 5;
/// Length of the window (and of the lock-out).
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Bound on remembered clients, so a flood of addresses cannot grow memory.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    window_start: Instant,
}

/// Counts failed logins per client; the lock is never held across an await.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, Failures>>,
}

impl LoginThrottle {
    /// `Err(retry_after)` when `client` is locked out at `now`.
    ///
    /// # Errors
    /// The time until the lock-out ends.
    pub fn check(&self, client: &str, now: Instant) -> Result<(), Duration> {
        let map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match map.get(client) {
            Some(f) if f.count >= MAX_FAILURES && now < f.window_start + WINDOW => {
                Err(f.window_start + WINDOW - now)
            }
            _ => Ok(()),
        }
    }

    /// Records a failed attempt.
    pub fn record_failure(&self, client: &str, now: Instant) {
        let mut map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_TRACKED {
            map.retain(|_, f| now < f.window_start + WINDOW);
        }
        let entry = map.entry(client.to_owned()).or_insert(Failures {
            count: 0,
            window_start: now,
        });
        if now >= entry.window_start + WINDOW {
            *entry = Failures {
                count: 0,
                window_start: now,
            };
        }
        entry.count = entry.count.saturating_add(1);
    }

    /// Forgets a client's failures after a successful login.
    pub fn record_success(&self, client: &str) {
        let mut map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.remove(client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_out_after_max_failures_until_the_window_ends() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(throttle.check("1.2.3.4", t0).is_ok());
            throttle.record_failure("1.2.3.4", t0);
        }
        assert!(throttle.check("1.2.3.4", t0).is_err());
        assert!(throttle.check("5.6.7.8", t0).is_ok());
        assert!(throttle.check("1.2.3.4", t0 + WINDOW).is_ok());
    }

    #[test]
    fn success_clears() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            throttle.record_failure("c", t0);
        }
        throttle.record_success("c");
        assert!(throttle.check("c", t0).is_ok());
    }
}

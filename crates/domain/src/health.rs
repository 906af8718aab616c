//! Key health: states and the pure transition policy of SPEC §5.5.

use crate::time_fmt;
use crate::Timestamp;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The state of a key as shown to admins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Usable.
    #[default]
    Healthy,
    /// Skipped until `cooldown_until`.
    CoolingDown,
    /// Rejected by the upstream too often; re-probed in the background.
    Invalid,
    /// Disabled by an admin.
    Disabled,
}

/// Health of one key, shared by all instances through the rotation cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyHealth {
    /// Current state.
    pub state: KeyState,
    /// End of the current cooldown.
    #[serde(with = "time_fmt::rfc3339_option", default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub cooldown_until: Option<Timestamp>,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// Last upstream status seen with this key.
    pub last_status: Option<u16>,
    /// Last error, short and masked.
    pub last_error: Option<String>,
    /// Last time it served a request.
    #[serde(with = "time_fmt::rfc3339_option", default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub last_used_at: Option<Timestamp>,
}

/// What the upstream's answer says about the key that served it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOutcome {
    /// 2xx: the key works.
    Success {
        /// Status returned.
        status: u16,
    },
    /// 429: cool down for `retry_after` if the upstream said, else back off.
    RateLimited {
        /// Upstream's hint.
        retry_after: Option<Duration>,
        /// Status returned.
        status: u16,
        /// Short masked description.
        error: String,
    },
    /// 401/403: cool down 10 s; invalid on the third in a row.
    Rejected {
        /// Status returned.
        status: u16,
        /// Short masked description.
        error: String,
    },
    /// 5xx, connect error, timeout: short cooldown doubling to 60 s.
    Transient {
        /// Status, if any answer came.
        status: Option<u16>,
        /// Short masked description.
        error: String,
    },
    /// A rule said the key is dead (for example `insufficient_quota`).
    Invalid {
        /// Status returned.
        status: u16,
        /// Short masked description.
        error: String,
    },
}

const AUTH_COOLDOWN: Duration = Duration::from_secs(10);
const AUTH_FAILURES_BEFORE_INVALID: u32 = 3;
const RATE_LIMIT_BASE: Duration = Duration::from_secs(1);
const TRANSIENT_BASE: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

impl KeyHealth {
    /// The state at `now`, taking admin disabling and expired cooldowns into account.
    #[must_use]
    pub fn effective(&self, now: Timestamp, is_active: bool) -> KeyHealth {
        let mut view = self.clone();
        if !is_active {
            view.state = KeyState::Disabled;
        } else if view.state == KeyState::CoolingDown
            && view.cooldown_until.is_none_or(|until| until <= now)
        {
            view.state = KeyState::Healthy;
        }
        view
    }

    /// Whether the key may serve a request at `now`.
    #[must_use]
    pub fn is_usable(&self, now: Timestamp) -> bool {
        match self.state {
            KeyState::Healthy => true,
            KeyState::CoolingDown => self.cooldown_until.is_none_or(|until| until <= now),
            KeyState::Invalid | KeyState::Disabled => false,
        }
    }

    /// Applies an outcome observed at `now`. A cooldown never shortens an
    /// existing one: the deadline is the later of the two.
    #[must_use]
    pub fn apply(&self, outcome: &KeyOutcome, now: Timestamp) -> KeyHealth {
        let mut next = self.clone();
        next.last_used_at = Some(now);
        match outcome {
            KeyOutcome::Success { status } => {
                next.state = KeyState::Healthy;
                next.consecutive_failures = 0;
                next.cooldown_until = None;
                next.last_status = Some(*status);
                next.last_error = None;
                return next;
            }
            KeyOutcome::RateLimited {
                retry_after,
                status,
                error,
            } => {
                let backoff = backoff(RATE_LIMIT_BASE, self.consecutive_failures);
                next.cool_down(now, retry_after.unwrap_or(backoff));
                next.record_failure(Some(*status), error);
            }
            KeyOutcome::Rejected { status, error } => {
                next.record_failure(Some(*status), error);
                if next.consecutive_failures >= AUTH_FAILURES_BEFORE_INVALID {
                    next.state = KeyState::Invalid;
                } else {
                    next.cool_down(now, AUTH_COOLDOWN);
                }
            }
            KeyOutcome::Transient { status, error } => {
                next.cool_down(now, backoff(TRANSIENT_BASE, self.consecutive_failures));
                next.record_failure(*status, error);
            }
            KeyOutcome::Invalid { status, error } => {
                next.record_failure(Some(*status), error);
                next.state = KeyState::Invalid;
            }
        }
        next
    }

    fn record_failure(&mut self, status: Option<u16>, error: &str) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.last_status = status;
        self.last_error = Some(error.to_owned());
    }

    fn cool_down(&mut self, now: Timestamp, duration: Duration) {
        let deadline = now + duration;
        let deadline = match self.cooldown_until {
            Some(existing) if existing > deadline => existing,
            _ => deadline,
        };
        self.cooldown_until = Some(deadline);
        if self.state != KeyState::Invalid {
            self.state = KeyState::CoolingDown;
        }
    }
}

fn backoff(base: Duration, previous_failures: u32) -> Duration {
    let factor = 1u32
        .checked_shl(previous_failures.min(16))
        .unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time_fmt::from_unix_millis;

    fn t0() -> Timestamp {
        from_unix_millis(1_800_000_000_000)
    }

    fn rate_limited(secs: Option<u64>) -> KeyOutcome {
        KeyOutcome::RateLimited {
            retry_after: secs.map(Duration::from_secs),
            status: 429,
            error: "rate limited".into(),
        }
    }

    #[test]
    fn retry_after_sets_the_deadline() {
        let h = KeyHealth::default().apply(&rate_limited(Some(7)), t0());
        assert_eq!(h.state, KeyState::CoolingDown);
        assert_eq!(h.cooldown_until, Some(t0() + Duration::from_secs(7)));
        assert!(!h.is_usable(t0() + Duration::from_secs(6)));
        assert!(h.is_usable(t0() + Duration::from_secs(7)));
    }

    #[test]
    fn a_shorter_cooldown_never_wins() {
        let h = KeyHealth::default().apply(&rate_limited(Some(60)), t0());
        let h = h.apply(&rate_limited(Some(1)), t0() + Duration::from_secs(1));
        assert_eq!(h.cooldown_until, Some(t0() + Duration::from_secs(60)));
    }

    #[test]
    fn third_rejection_makes_the_key_invalid() {
        let rejected = KeyOutcome::Rejected {
            status: 401,
            error: "unauthorized".into(),
        };
        let h = KeyHealth::default()
            .apply(&rejected, t0())
            .apply(&rejected, t0());
        assert_eq!(h.state, KeyState::CoolingDown);
        let h = h.apply(&rejected, t0());
        assert_eq!(h.state, KeyState::Invalid);
        assert!(!h.is_usable(t0() + Duration::from_secs(3600)));
    }

    #[test]
    fn transient_backoff_doubles_to_a_cap() {
        let transient = KeyOutcome::Transient {
            status: Some(502),
            error: "bad gateway".into(),
        };
        let mut h = KeyHealth::default();
        let mut last = Duration::ZERO;
        for expected in [5, 10, 20, 40, 60, 60] {
            let now = t0() + last + Duration::from_secs(1000);
            h = h.apply(&transient, now);
            assert_eq!(h.cooldown_until, Some(now + Duration::from_secs(expected)));
            last += Duration::from_secs(1000);
        }
    }

    #[test]
    fn success_resets_and_disabled_wins() {
        let h = KeyHealth::default().apply(&rate_limited(None), t0());
        let h = h.apply(&KeyOutcome::Success { status: 200 }, t0());
        assert_eq!(h.state, KeyState::Healthy);
        assert_eq!(h.consecutive_failures, 0);
        assert_eq!(h.effective(t0(), false).state, KeyState::Disabled);
    }

    #[test]
    fn expired_cooldown_reads_as_healthy() {
        let h = KeyHealth::default().apply(&rate_limited(Some(2)), t0());
        assert_eq!(
            h.effective(t0() + Duration::from_secs(3), true).state,
            KeyState::Healthy
        );
    }
}

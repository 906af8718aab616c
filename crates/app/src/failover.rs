//! What an upstream answer means for the request and for the key that served
//! it (SPEC §5.5): deliver it, or try the next key — charging either the
//! key budget (every usable key once) or the transient budget (`max_attempts`).

use domain::error_rules::{evaluate, ErrorAction, ErrorRule};
use domain::{KeyOutcome, Timestamp};
use std::time::Duration;

/// The longest cooldown an upstream hint may impose; larger or unreadable
/// hints fall back to the backoff policy's own durations.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Which failover budget a failure spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// A failure of this key (429, 401, 403, a rule's `failover_*`): the next
    /// usable key is tried, until each was tried once.
    Key,
    /// A failure of the upstream (5xx, connection refused, timeout): at most
    /// `max_attempts` calls in total.
    Transient,
}

/// The decision about one upstream answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Give this answer to the client; record `outcome` for the key if any
    /// (`None`: the key is not judged, e.g. a 400 "context too long").
    Deliver(Option<KeyOutcome>),
    /// Try the next key; record `outcome` for this one if any.
    Retry(Option<KeyOutcome>, Budget),
}

/// Judges an upstream answer by the service's error rules. `header` looks a
/// response header up by lower-case name.
pub fn judge<'a>(
    rules: &[ErrorRule],
    status: u16,
    header: impl Fn(&str) -> Option<&'a str>,
    body: &[u8],
    now: Timestamp,
) -> Verdict {
    if (200..300).contains(&status) {
        return Verdict::Deliver(Some(KeyOutcome::Success { status }));
    }
    let budget = if status >= 500 {
        Budget::Transient
    } else {
        Budget::Key
    };
    let error = short_error(status, body);
    match evaluate(rules, status, body) {
        None | Some(ErrorAction::Pass) => Verdict::Deliver(None),
        Some(ErrorAction::Failover) => Verdict::Retry(None, budget),
        Some(ErrorAction::FailoverInvalid) => {
            Verdict::Retry(Some(KeyOutcome::Invalid { status, error }), Budget::Key)
        }
        Some(ErrorAction::FailoverCooldown) => {
            let outcome = match status {
                429 => KeyOutcome::RateLimited {
                    retry_after: retry_after(&header, now),
                    status,
                    error,
                },
                401 | 403 => KeyOutcome::Rejected { status, error },
                _ => KeyOutcome::Transient {
                    status: Some(status),
                    error,
                },
            };
            Verdict::Retry(Some(outcome), budget)
        }
    }
}

/// A connection failure or timeout: a transient failure of the upstream.
#[must_use]
pub fn transport_failure(message: &str) -> Verdict {
    Verdict::Retry(
        Some(KeyOutcome::Transient {
            status: None,
            error: truncate(message),
        }),
        Budget::Transient,
    )
}

/// The upstream's hint of when to come back, from `retry-after-ms`,
/// `retry-after` (seconds or an HTTP date) or the `x-ratelimit-reset-*`
/// durations (`1s`, `6m0s`, `20ms`), the longest of those given. Garbage,
/// negative and past values are ignored; values over [`MAX_RETRY_AFTER`] are cut to it.
pub fn retry_after<'a>(
    header: &impl Fn(&str) -> Option<&'a str>,
    now: Timestamp,
) -> Option<Duration> {
    let millis = header("retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(|ms| seconds_to_duration(ms / 1000.0));
    let seconds = header("retry-after").and_then(|v| {
        let v = v.trim();
        match v.parse::<f64>() {
            Ok(secs) => seconds_to_duration(secs),
            Err(_) => http_date(v).and_then(|at| {
                let wait = at - now;
                seconds_to_duration(wait.as_seconds_f64())
            }),
        }
    });
    let resets = [
        "x-ratelimit-reset-requests",
        "x-ratelimit-reset-tokens",
        "x-ratelimit-reset",
    ]
    .iter()
    .filter_map(|name| header(name).and_then(go_duration))
    .max();
    [millis, seconds, resets]
        .into_iter()
        .flatten()
        .max()
        .map(|d| d.min(MAX_RETRY_AFTER))
}

fn seconds_to_duration(seconds: f64) -> Option<Duration> {
    (seconds.is_finite() && seconds > 0.0)
        .then(|| Duration::from_secs_f64(seconds.min(MAX_RETRY_AFTER.as_secs_f64())))
}

/// `Wed, 21 Oct 2015 07:28:00 GMT`.
fn http_date(text: &str) -> Option<Timestamp> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc2822).ok()
}

/// A Go-style duration as OpenAI sends it: `1s`, `6m0s`, `1h2m3.5s`, `20ms`;
/// a plain number counts as seconds.
fn go_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds_to_duration(seconds);
    }
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&i| i > 0)?;
        let value: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 0.000_001,
            _ => return None,
        };
        total += value * factor;
        rest = &rest[unit_end..];
    }
    seconds_to_duration(total)
}

/// A short description for the key's `last_error`: the status and the start
/// of the body, never more than 200 characters (bodies do not carry keys).
fn short_error(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(400)]);
    truncate(&format!("upstream answered {status}: {}", text.trim()))
}

fn truncate(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::error_rules::{builtin_rules, preset_rules};
    use domain::time_fmt::from_unix_millis;
    use domain::ApiFormat;

    fn now() -> Timestamp {
        // Wed, 21 Oct 2015 07:28:00 GMT minus 30 s.
        from_unix_millis(1_445_412_450_000)
    }

    fn with<'h>(
        headers: &'h [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<&'static str> + 'h {
        move |name| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    #[test]
    fn retry_after_in_every_form() {
        let at = |h: &[(&'static str, &'static str)]| retry_after(&with(h), now());
        assert_eq!(at(&[("retry-after", "7")]), Some(Duration::from_secs(7)));
        assert_eq!(
            at(&[("retry-after-ms", "1500")]),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            at(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            at(&[
                ("x-ratelimit-reset-requests", "1s"),
                ("x-ratelimit-reset-tokens", "6m0s")
            ]),
            Some(Duration::from_secs(360))
        );
        assert_eq!(
            at(&[("x-ratelimit-reset-tokens", "20ms")]),
            Some(Duration::from_millis(20))
        );
        assert_eq!(
            at(&[("x-ratelimit-reset-tokens", "1m2.5s")]),
            Some(Duration::from_secs_f64(62.5))
        );
    }

    #[test]
    fn garbage_negative_past_and_huge_hints() {
        let at = |h: &[(&'static str, &'static str)]| retry_after(&with(h), now());
        assert_eq!(at(&[]), None);
        assert_eq!(at(&[("retry-after", "soon")]), None);
        assert_eq!(at(&[("retry-after", "-5")]), None);
        assert_eq!(at(&[("retry-after", "NaN")]), None);
        assert_eq!(
            at(&[("retry-after", "Wed, 21 Oct 2015 07:00:00 GMT")]),
            None,
            "in the past"
        );
        assert_eq!(at(&[("x-ratelimit-reset-tokens", "5x")]), None);
        assert_eq!(at(&[("retry-after", "99999999999")]), Some(MAX_RETRY_AFTER));
        assert_eq!(at(&[("retry-after", "1e308")]), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn statuses_by_the_builtin_rules() {
        let rules = builtin_rules();
        let judge = |status, h: &[(&'static str, &'static str)]| {
            judge(&rules, status, with(h), b"{}", now())
        };
        assert_eq!(
            judge(200, &[]),
            Verdict::Deliver(Some(KeyOutcome::Success { status: 200 }))
        );
        assert!(
            matches!(judge(400, &[]), Verdict::Deliver(None)),
            "a client error is not the key's fault"
        );
        assert!(matches!(judge(404, &[]), Verdict::Deliver(None)));
        match judge(429, &[("retry-after", "7")]) {
            Verdict::Retry(Some(KeyOutcome::RateLimited { retry_after, .. }), Budget::Key) => {
                assert_eq!(retry_after, Some(Duration::from_secs(7)));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            judge(429, &[]),
            Verdict::Retry(
                Some(KeyOutcome::RateLimited {
                    retry_after: None,
                    ..
                }),
                Budget::Key
            )
        ));
        assert!(matches!(
            judge(401, &[]),
            Verdict::Retry(Some(KeyOutcome::Rejected { .. }), Budget::Key)
        ));
        assert!(matches!(
            judge(403, &[]),
            Verdict::Retry(Some(KeyOutcome::Rejected { .. }), Budget::Key)
        ));
        assert!(matches!(
            judge(503, &[]),
            Verdict::Retry(
                Some(KeyOutcome::Transient {
                    status: Some(503),
                    ..
                }),
                Budget::Transient
            )
        ));
        assert!(matches!(
            transport_failure("refused"),
            Verdict::Retry(
                Some(KeyOutcome::Transient { status: None, .. }),
                Budget::Transient
            )
        ));
    }

    #[test]
    fn provider_presets_tell_quota_from_rate_limits() {
        let rules = preset_rules(ApiFormat::OpenaiCompatible);
        let quota = judge(
            &rules,
            429,
            with(&[]),
            br#"{"error":{"code":"insufficient_quota"}}"#,
            now(),
        );
        assert!(
            matches!(
                quota,
                Verdict::Retry(Some(KeyOutcome::Invalid { status: 429, .. }), Budget::Key)
            ),
            "{quota:?}"
        );
        let limited = judge(
            &rules,
            429,
            with(&[]),
            br#"{"error":{"code":"rate_limit_exceeded"}}"#,
            now(),
        );
        assert!(matches!(
            limited,
            Verdict::Retry(Some(KeyOutcome::RateLimited { .. }), Budget::Key)
        ));
        let overloaded = judge(
            &preset_rules(ApiFormat::AnthropicNative),
            529,
            with(&[]),
            b"{}",
            now(),
        );
        assert_eq!(
            overloaded,
            Verdict::Retry(None, Budget::Transient),
            "overload is not the key's fault"
        );
    }

    #[test]
    fn last_error_is_short() {
        let body = vec![b'x'; 10_000];
        match judge(&builtin_rules(), 500, with(&[]), &body, now()) {
            Verdict::Retry(Some(KeyOutcome::Transient { error, .. }), _) => {
                assert!(error.chars().count() <= 200)
            }
            other => panic!("{other:?}"),
        }
    }
}

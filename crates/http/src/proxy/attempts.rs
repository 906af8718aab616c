//! Failover (SPEC §5.5): the same request goes to the next usable key while
//! nothing has reached the client — the decision is made on the answer's
//! head (and, for errors, its body), before any byte is relayed.

use super::exchange::Exchange;
use super::failure::Failure;
use super::upstream::{RequestBody, UpstreamClient, UpstreamRequest};
use super::ProxyState;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::web::{Bytes, BytesMut};
use app::failover::{self, Budget, Verdict};
use app::proxy::ProxyError;
use app::snapshot::{PoolKey, ServiceEntry};
use futures_util::StreamExt;
use secrecy::ExposeSecret;
use std::time::Duration;

/// Error answers are read (for the rules' `body_contains`) up to this size;
/// the rest of a larger one is dropped.
const ERROR_BODY_LIMIT: usize = 1 << 20;

/// What the attempts produced.
pub enum Answer {
    /// A 2xx from key `index`: the head arrived, the body is still to stream.
    Success {
        /// The upstream's response.
        response: awc::ClientResponse,
        /// The key that served it (index in the service's pool).
        index: usize,
    },
    /// A non-2xx answer for the client: passed by the rules, or the last
    /// failure once the budgets ran out.
    Error {
        /// Upstream status.
        status: StatusCode,
        /// Upstream headers (end-to-end ones).
        headers: Vec<(HeaderName, HeaderValue)>,
        /// Upstream body (up to [`ERROR_BODY_LIMIT`]).
        body: Bytes,
        /// The key that got it.
        index: usize,
    },
}

impl Answer {
    /// The key that produced the answer.
    #[must_use]
    pub fn index(&self) -> usize {
        match self {
            Answer::Success { index, .. } | Answer::Error { index, .. } => *index,
        }
    }
}

/// Sends the request built by `build` for each key of the service's plan in
/// turn until one answer is to be delivered.
///
/// # Errors
/// The proxy's refusals ([`ProxyError::NoAvailableKey`] when no key is
/// usable), a body over `MAX_BODY_BYTES` when it must be kept for retries, or
/// the last transport failure when no upstream answered.
pub async fn run(
    state: &ProxyState,
    client: &UpstreamClient,
    service: &ServiceEntry,
    exchange: &mut Exchange,
    body: RequestBody,
    build: impl Fn(&PoolKey) -> Result<UpstreamRequest, Failure>,
) -> Result<Answer, Failure> {
    let answer = attempt_keys(state, client, service, exchange, body, build).await;
    if let Ok(answer) = &answer {
        exchange.answered_by(&service.keys[answer.index()]);
    }
    exchange.calls_over(match &answer {
        Ok(Answer::Success { index, .. }) => Some(service.keys[*index].key.id),
        _ => None,
    });
    answer
}

async fn attempt_keys(
    state: &ProxyState,
    client: &UpstreamClient,
    service: &ServiceEntry,
    exchange: &mut Exchange,
    body: RequestBody,
    build: impl Fn(&PoolKey) -> Result<UpstreamRequest, Failure>,
) -> Result<Answer, Failure> {
    let telemetry = state.service.telemetry();
    let plan = state.service.plan(service).await?;
    // A body that may be sent more than once is kept in memory.
    let mut body = Some(if plan.order.len() > 1 {
        buffer(body, state.max_body_bytes).await?
    } else {
        body
    });
    let max_attempts = service.config.max_attempts.max(1);
    let mut transient_calls = 0;
    let mut last: Option<Result<Answer, Failure>> = None;
    let mut rate_limited: Option<Duration> = None;
    for &index in &plan.order {
        let key = &service.keys[index];
        if let Err(wait) = state.service.acquire_key(key).await {
            tracing::debug!(key_id = key.key.id, key = %key.key.key_masked, "key at its rpm_limit; skipped");
            rate_limited = Some(rate_limited.map_or(wait, |w| w.min(wait)));
            continue;
        }
        let request = build(key)?;
        if last.is_some() && telemetry.enabled {
            telemetry.usage.failover(service.config.id);
            if telemetry.metrics_enabled {
                telemetry
                    .metrics
                    .failovers
                    .get_or_create(&[("service", service.config.slug.to_string())])
                    .inc();
            }
        }
        exchange.attempt();
        let sent = client.send(request, next_body(&mut body)).await;
        let succeeded = matches!(&sent, Ok(response) if response.status().is_success());
        // A call that succeeded is counted by `run`, with the client key's request.
        if telemetry.enabled && !succeeded {
            telemetry
                .usage
                .failed_call(key.key.id, domain::time_fmt::now_millis());
        }
        let (verdict, answer) = match sent {
            Err(failure) => {
                let failure = failure.without_secret(key.secret.expose_secret());
                (
                    failover::transport_failure(&failure.to_string()),
                    Err(Failure::from(failure)),
                )
            }
            Ok(mut response) => {
                let status = response.status();
                if status.is_success() {
                    let outcome = domain::KeyOutcome::Success {
                        status: status.as_u16(),
                    };
                    state.service.record(service, &plan, index, &outcome).await;
                    return Ok(Answer::Success { response, index });
                }
                let error_body = read_limited(&mut response).await;
                let verdict = failover::judge(
                    &service.config.error_rules,
                    status.as_u16(),
                    |name| response.headers().get(name).and_then(|v| v.to_str().ok()),
                    &error_body,
                    domain::time_fmt::now(),
                );
                let headers = super::headers::forwardable(response.headers(), &[])
                    .map(|(n, v)| (n.clone(), v.clone()))
                    .collect();
                let status =
                    StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
                (
                    verdict,
                    Ok(Answer::Error {
                        status,
                        headers,
                        body: error_body,
                        index,
                    }),
                )
            }
        };
        match verdict {
            Verdict::Deliver(outcome) => {
                if let Some(outcome) = outcome {
                    state.service.record(service, &plan, index, &outcome).await;
                }
                return answer;
            }
            Verdict::Retry(outcome, budget) => {
                if let Some(outcome) = &outcome {
                    state.service.record(service, &plan, index, outcome).await;
                }
                tracing::warn!(service = %service.config.slug, key_id = key.key.id, key = %key.key.key_masked,
                    budget = ?budget, "upstream failed with this key; failing over");
                last = Some(answer);
                if budget == Budget::Transient {
                    transient_calls += 1;
                    if transient_calls >= max_attempts {
                        break;
                    }
                }
            }
        }
    }
    // Every usable key was at its rpm_limit: come back when the first window ends.
    last.unwrap_or_else(|| {
        Err(Failure::Proxy(ProxyError::NoAvailableKey {
            slug: service.config.slug.to_string(),
            retry_after: rate_limited,
        }))
    })
}

/// The body for the next attempt: kept bodies are shared, a streamed one goes once.
fn next_body(body: &mut Option<RequestBody>) -> RequestBody {
    match body {
        Some(RequestBody::Bytes(bytes)) => RequestBody::Bytes(bytes.clone()),
        other => other.take().unwrap_or(RequestBody::Empty),
    }
}

/// Reads a streamed body into memory, refusing more than `limit` bytes.
async fn buffer(body: RequestBody, limit: usize) -> Result<RequestBody, Failure> {
    match body {
        RequestBody::Stream { payload, .. } => Ok(RequestBody::Bytes(
            super::read_payload(payload, limit).await?,
        )),
        other => Ok(other),
    }
}

/// An error answer's body, up to [`ERROR_BODY_LIMIT`]; a body cut by the
/// network is judged on what arrived.
async fn read_limited(response: &mut awc::ClientResponse) -> Bytes {
    let mut buf = BytesMut::new();
    while let Some(Ok(chunk)) = response.next().await {
        let room = ERROR_BODY_LIMIT - buf.len();
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= ERROR_BODY_LIMIT {
            break;
        }
    }
    buf.freeze()
}

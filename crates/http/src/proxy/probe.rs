//! The key test call (SPEC §5.5): one cheap authenticated request with a
//! given key — the model listing for LLM services, a GET of the target for
//! generic ones — judged by the service's error rules. Used by
//! `POST /api/admin/keys/{key_id}/test` and by the background re-probe of
//! invalid keys.

use super::upstream::{RequestBody, UpstreamClient, UpstreamRequest};
use super::{headers, join, key_header, with_query};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use app::failover::{self, Verdict};
use app::snapshot::{PoolKey, ServiceEntry};
use domain::llm::LlmAdapter;
use domain::{ApiFormat, KeyLocation, KeyOutcome, ProxyTarget};
use secrecy::ExposeSecret;
use std::time::{Duration, Instant};

/// What a key test call found.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ProbeResult {
    /// The upstream accepted the key.
    pub ok: bool,
    /// Upstream status, when it answered.
    pub status: Option<u16>,
    /// Time to the answer's head.
    pub latency_ms: u64,
    /// Why not, when not.
    pub error: Option<String>,
    /// What to record for the key.
    #[serde(skip)]
    pub outcome: Option<KeyOutcome>,
}

/// Calls the upstream with `key` and judges the answer.
pub async fn probe(
    client: &UpstreamClient,
    service: &ServiceEntry,
    key: &PoolKey,
    timeout: Duration,
) -> ProbeResult {
    let started = Instant::now();
    let request = match request(service, key, timeout) {
        Ok(request) => request,
        Err(error) => {
            return ProbeResult {
                ok: false,
                status: None,
                latency_ms: 0,
                error: Some(error),
                outcome: None,
            }
        }
    };
    let sent = client.send(request, RequestBody::Empty).await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match sent {
        Err(failure) => {
            let error = failure
                .without_secret(key.secret.expose_secret())
                .to_string();
            ProbeResult {
                ok: false,
                status: None,
                latency_ms,
                outcome: match failover::transport_failure(&error) {
                    Verdict::Retry(outcome, _) | Verdict::Deliver(outcome) => outcome,
                },
                error: Some(error),
            }
        }
        Ok(mut response) => {
            let status = response.status().as_u16();
            let body = response.body().limit(64 * 1024).await.unwrap_or_default();
            let verdict = failover::judge(
                &service.config.error_rules,
                status,
                |name| response.headers().get(name).and_then(|v| v.to_str().ok()),
                &body,
                domain::time_fmt::now(),
            );
            match verdict {
                // Accepted: a success, or an answer the rules do not hold against the key.
                Verdict::Deliver(_) => ProbeResult {
                    ok: true,
                    status: Some(status),
                    latency_ms,
                    error: None,
                    outcome: Some(KeyOutcome::Success { status }),
                },
                Verdict::Retry(outcome, _) => ProbeResult {
                    ok: false,
                    status: Some(status),
                    latency_ms,
                    error: Some(format!("upstream answered {status}")),
                    outcome,
                },
            }
        }
    }
}

fn request(
    service: &ServiceEntry,
    key: &PoolKey,
    timeout: Duration,
) -> Result<UpstreamRequest, String> {
    let secret = key.secret.expose_secret();
    let (url, location, name, extra) = match &service.config.target {
        ProxyTarget::Llm(target) => {
            let adapter = adapters_llm::adapter_for(target.api_format);
            let placement = super::llm::placement(target, &adapter);
            let path = converters::models::path(target.api_format.native_client_format());
            let extra =
                (target.api_format == ApiFormat::AnthropicNative).then(headers::anthropic_version);
            (
                adapter.upstream_url(&target.target_base_url, path),
                placement.location,
                placement.name,
                extra,
            )
        }
        ProxyTarget::Generic(target) => (
            join(&target.target_url, ""),
            target.api_key_location,
            target.api_key_name.clone(),
            None,
        ),
    };
    let query = match location {
        KeyLocation::Query => headers::rewrite_query("", &[], Some((&name, secret))),
        KeyLocation::Header | KeyLocation::Bearer => String::new(),
    };
    let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
    if let Some(header) = key_header(location, &name, secret).map_err(|e| e.to_string())? {
        headers.push(header);
    }
    headers.extend(extra);
    Ok(UpstreamRequest {
        method: Method::GET,
        url: with_query(url, &query),
        headers,
        timeout,
    })
}

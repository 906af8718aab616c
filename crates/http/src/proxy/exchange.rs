//! One proxied request from arrival to the end of its answer: what the
//! request log, the metrics, the latency window and token usage need to know
//! about it. Finished when dropped — at the end of the handler for an answer
//! already complete, or when a relayed body ends (or its client leaves).

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use app::proxy::ClientIdentity;
use app::snapshot::{PoolKey, ServiceEntry};
use app::telemetry::{RequestLabels, ServiceMeters, Shared, Telemetry};
use app::usage::EndedRequest;
use converters::usage::UsageScanner;
use domain::chat::Usage;
use domain::request_log::first_chars;
use domain::request_log::packed::{RequestLogFields, MODEL_CHARS, SERVICE_CHARS};
use domain::{ApiFormat, ClientKeyId, ConfigId, KeyId};
use futures_util::Stream;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Header carrying the request id both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest client-chosen request id kept.
const REQUEST_ID_MAX: usize = 128;

/// A request in flight.
pub struct Exchange {
    telemetry: Arc<Telemetry>,
    started: Instant,
    /// Arrival, Unix milliseconds.
    at_ms: i64,
    request_id: String,
    /// The bytes a generated `request_id` spells (a client's id has none).
    request_id_bytes: Option<[u8; 16]>,
    service: Option<(ConfigId, Arc<ServiceMeters>)>,
    slug: String,
    client: Option<(Option<ClientKeyId>, String)>,
    key: Option<(KeyId, String)>,
    client_format: Option<&'static str>,
    upstream_format: Option<&'static str>,
    model: Option<Arc<str>>,
    status: u16,
    attempts: u32,
    first_sent: Option<Instant>,
    ttfb: Option<Duration>,
    /// The upstream calls are over: `Some(the key whose 2xx answer is
    /// delivered)`, `Some(None)` when none is. The serving key's call and
    /// the client key's request are counted when the request ends, with
    /// its tokens: one lock a request, where counting them at the answer's
    /// head took a second one.
    outcome: Option<Option<KeyId>>,
    scanner: Option<UsageScanner>,
    usage: Usage,
    stream: bool,
    done: bool,
}

/// A fresh request id: a per-process random seed mixed with a counter;
/// its 16 bytes and their lowercase hex.
fn new_request_id() -> ([u8; 16], String) {
    // foldhash, not SipHash: ids must not repeat or reveal a count, not
    // resist an attacker choosing inputs (~250 instructions less a request).
    // Its seed comes from std's random keys, once.
    static SEED: OnceLock<foldhash::fast::FixedState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = SEED.get_or_init(|| {
        foldhash::fast::FixedState::with_seed(std::hash::RandomState::new().hash_one(0u64))
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Not `format!`: that took ~1,000 instructions, over 1% of a proxied
    // request's.
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&seed.hash_one(n).to_be_bytes());
    raw[8..].copy_from_slice(&seed.hash_one(!n).to_be_bytes());
    (raw, domain::hex::lower(&raw))
}

/// The client's `X-Request-Id` when it is short, visible ASCII.
fn client_request_id(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(REQUEST_ID)?.to_str().ok()?.trim();
    (!value.is_empty()
        && value.len() <= REQUEST_ID_MAX
        && value.bytes().all(|b| b.is_ascii_graphic()))
    .then(|| value.to_owned())
}

impl Exchange {
    /// A request has arrived at a proxy route addressed to `slug`.
    #[must_use]
    pub fn start(telemetry: &Arc<Telemetry>, req: &HttpRequest, slug: &str) -> Self {
        if telemetry.metrics_enabled {
            telemetry.metrics.in_flight.inc();
        }
        let (request_id_bytes, request_id) = match client_request_id(req) {
            Some(id) => (None, id),
            None => {
                let (raw, id) = new_request_id();
                (Some(raw), id)
            }
        };
        Self {
            telemetry: Arc::clone(telemetry),
            started: Instant::now(),
            at_ms: domain::time_fmt::now_millis(),
            request_id,
            request_id_bytes,
            service: None,
            slug: first_chars(slug, SERVICE_CHARS).to_owned(),
            client: None,
            key: None,
            client_format: None,
            upstream_format: None,
            model: None,
            status: 0,
            attempts: 0,
            first_sent: None,
            ttfb: None,
            outcome: None,
            scanner: None,
            usage: Usage::default(),
            stream: false,
            // With telemetry off there is nothing to finish.
            done: !telemetry.enabled,
        }
    }

    /// The request id, echoed to the client.
    #[must_use]
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The service was found.
    pub fn service(&mut self, service: &ServiceEntry) {
        let meters = service
            .meters
            .get_or_init(|| Arc::new(self.telemetry.metrics.service_meters(&service.label)));
        self.service = Some((service.config.id, Arc::clone(meters)));
    }

    /// The caller was identified.
    pub fn client(&mut self, identity: &ClientIdentity) {
        self.client = Some((identity.client_key_id, identity.name.clone()));
    }

    /// The client key's id, when it is a managed one.
    #[must_use]
    pub fn client_key_id(&self) -> Option<ClientKeyId> {
        self.client.as_ref().and_then(|(id, _)| *id)
    }

    /// Formats on both sides (LLM proxy).
    pub fn formats(&mut self, client: &'static str, upstream: ApiFormat) {
        self.client_format = Some(client);
        self.upstream_format = Some(upstream.as_str());
    }

    /// The model, when the request named it.
    pub fn model(&mut self, model: Option<&str>) {
        if let Some(model) = model.filter(|m| !m.is_empty()) {
            self.model = Some(Arc::from(first_chars(model, MODEL_CHARS)));
        }
    }

    /// An upstream call is about to be made.
    pub fn attempt(&mut self) {
        self.attempts += 1;
        self.first_sent.get_or_insert_with(Instant::now);
    }

    /// The upstream calls are over; `served_by` is the key whose 2xx answer
    /// is delivered (`None`: no 2xx). Counted in usage when the request
    /// ends.
    pub fn calls_over(&mut self, served_by: Option<KeyId>) {
        self.outcome = Some(served_by);
    }

    /// The answer to deliver came from `key`.
    pub fn answered_by(&mut self, key: &PoolKey) {
        self.key = Some((key.key.id, key.key.key_masked.clone()));
        self.ttfb = Some(self.started.elapsed());
    }

    /// Tokens are read from the upstream's answer of `format` as it passes
    /// (and the model, when the request did not name it: the request's
    /// name is the one recorded, so the answer's is not looked for).
    pub fn scan(&mut self, format: ApiFormat, stream: bool) {
        if !self.done {
            let scanner = UsageScanner::new(format, stream);
            self.scanner = Some(if self.model.is_some() {
                scanner.without_model()
            } else {
                scanner
            });
        }
    }

    /// Tokens known from a converted answer.
    pub fn usage(&mut self, usage: Usage) {
        self.usage = usage;
    }

    /// Upstream bytes passing by.
    pub fn observe(&mut self, bytes: &Bytes) {
        if let Some(scanner) = &mut self.scanner {
            scanner.feed(bytes);
        }
    }

    /// Whether the last upstream bytes were seen to be whole stream events
    /// without a usage object.
    pub fn last_chunk_holds_no_usage(&self) -> bool {
        self.scanner
            .as_ref()
            .is_some_and(UsageScanner::last_chunk_holds_no_usage)
    }

    /// Tags the response (request id) and takes its status.
    pub fn respond(&mut self, response: &mut HttpResponse) {
        self.status = response.status().as_u16();
        if let Ok(value) = HeaderValue::from_str(&self.request_id) {
            response.headers_mut().insert(REQUEST_ID, value);
        }
    }

    /// Moves the record into a relayed body, which finishes it when it ends;
    /// this one is left spent.
    #[must_use]
    pub fn hand_over(&mut self, stream: bool) -> Exchange {
        if stream && self.telemetry.metrics_enabled && !self.done {
            self.telemetry.metrics.open_streams.inc();
        }
        let body = Exchange {
            telemetry: Arc::clone(&self.telemetry),
            started: self.started,
            at_ms: self.at_ms,
            request_id: self.request_id.clone(),
            request_id_bytes: self.request_id_bytes,
            service: self.service.take(),
            slug: std::mem::take(&mut self.slug),
            client: self.client.take(),
            key: self.key.take(),
            client_format: self.client_format,
            upstream_format: self.upstream_format,
            model: self.model.take(),
            status: self.status,
            attempts: self.attempts,
            first_sent: self.first_sent,
            ttfb: self.ttfb,
            outcome: self.outcome.take(),
            scanner: self.scanner.take(),
            usage: self.usage,
            stream,
            done: self.done,
        };
        self.done = true;
        body
    }

    /// Sets the status of an answer whose head is already decided.
    pub fn status(&mut self, status: u16) {
        self.status = status;
    }

    fn finish(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        // One clock read for both spans.
        let now = Instant::now();
        let latency = now.saturating_duration_since(self.started);
        // Once: the usage's end time, the log line and the record use it.
        let latency_ms = millis(latency);
        let mut usage = self.usage;
        if let Some(scanner) = self.scanner.take() {
            let reported = scanner.finish();
            usage.input_tokens = usage.input_tokens.max(reported.usage.input_tokens);
            usage.output_tokens = usage.output_tokens.max(reported.usage.output_tokens);
            if self.model.is_none() {
                self.model = reported.model;
            }
        }
        let telemetry = &*self.telemetry;
        let usage = believable(usage);
        let key_id = self.key.as_ref().map(|(id, _)| *id);
        if let Some(served_by) = self.outcome {
            let reported = usage.input_tokens > 0 || usage.output_tokens > 0;
            telemetry.usage.ended(&EndedRequest {
                served_by,
                client: self.client_key_id().map(|id| (id, served_by.is_none())),
                tokens_of: key_id.filter(|_| reported),
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
                // The end, without a second clock read.
                at_ms: self.at_ms.saturating_add_unsigned(latency_ms),
            });
        }
        let upstream_latency = self
            .first_sent
            .map(|sent| now.saturating_duration_since(sent));
        if let (Some((config_id, _)), Some(upstream)) = (&self.service, upstream_latency) {
            telemetry
                .latency
                .observe(*config_id, upstream, minute_of(self.at_ms));
        }
        if telemetry.metrics_enabled {
            self.metrics(telemetry, upstream_latency, usage);
        }
        let slug = self
            .service
            .as_ref()
            .map_or(self.slug.as_str(), |(_, meters)| &*meters.label.0);
        let client_name = self.client.as_ref().map_or("", |(_, name)| name.as_str());
        // Fields are only formatted when the line is enabled.
        tracing::info!(request_id = %self.request_id, service = %slug, client = %client_name,
            key_id = ?key_id, key = self.key.as_ref().map_or("-", |(_, hint)| hint.as_str()),
            status = self.status, attempts = self.attempts, latency_ms,
            "proxied request");
        if !telemetry.request_log.enabled() {
            return;
        }
        telemetry.request_log.record(&RequestLogFields {
            at_ms: self.at_ms,
            request_id: &self.request_id,
            request_id_bytes: self.request_id_bytes,
            service_id: self.service.as_ref().map(|(id, _)| *id),
            service: slug,
            client_key_id: self.client_key_id(),
            client_key: client_name,
            key_id,
            key_hint: self.key.as_ref().map(|(_, hint)| hint.as_str()),
            client_format: self.client_format,
            upstream_format: self.upstream_format,
            model: self.model.as_deref(),
            status: self.status,
            attempts: self.attempts,
            latency_ms,
            ttfb_ms: self.ttfb.map(millis),
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
        });
    }

    fn metrics(&self, telemetry: &Telemetry, upstream_latency: Option<Duration>, usage: Usage) {
        let metrics = &telemetry.metrics;
        metrics.in_flight.dec();
        if self.stream {
            metrics.open_streams.dec();
        }
        let (client_format, upstream_format) = (
            self.client_format.unwrap_or("-"),
            self.upstream_format.unwrap_or("-"),
        );
        let Some((_, meters)) = &self.service else {
            // Unknown slugs are not labels: anyone can send any path.
            metrics
                .requests
                .get_or_create(&RequestLabels {
                    service: Shared(unknown_service()),
                    client_format,
                    upstream_format,
                    status: self.status,
                })
                .inc();
            return;
        };
        meters.count_request(
            &metrics.requests,
            client_format,
            upstream_format,
            self.status,
        );
        // Latency and tokens are only known for a found service, whose
        // handles the exchange holds.
        if let Some(upstream) = upstream_latency {
            meters.upstream_latency.observe(upstream.as_secs_f64());
        }
        if let Some(ttfb) = self.ttfb {
            meters.upstream_ttfb.observe(ttfb.as_secs_f64());
        }
        if usage.input_tokens > 0 {
            meters.input_tokens.inc_by(usage.input_tokens);
        }
        if usage.output_tokens > 0 {
            meters.output_tokens.inc_by(usage.output_tokens);
        }
    }
}

/// The label of requests to no known service, shared.
fn unknown_service() -> Arc<str> {
    static UNKNOWN: OnceLock<Arc<str>> = OnceLock::new();
    Arc::clone(UNKNOWN.get_or_init(|| Arc::from("-")))
}

impl Drop for Exchange {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Most tokens one answer is taken to have used. Counts come from upstreams;
/// a broken one reporting, say, `u64::MAX` would otherwise overflow the
/// totals the database adds up (a BIGINT error on MariaDB and PostgreSQL,
/// which would hold every later usage flush back). Real answers stay far
/// below: 2³² is thousands of times the largest context windows.
const MAX_TOKENS_PER_ANSWER: u64 = 1 << 32;

fn believable(usage: Usage) -> Usage {
    Usage {
        input_tokens: usage.input_tokens.min(MAX_TOKENS_PER_ANSWER),
        output_tokens: usage.output_tokens.min(MAX_TOKENS_PER_ANSWER),
        ..usage
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn minute_of(at_ms: i64) -> u64 {
    u64::try_from(at_ms / 60_000).unwrap_or(0)
}

/// An upstream body that shows its bytes to the exchange, which finishes
/// when the body is dropped (its end, or the client leaving).
pub struct Metered<S> {
    inner: S,
    exchange: Exchange,
}

impl<S> Metered<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, exchange: Exchange) -> Self {
        Self { inner, exchange }
    }

    /// The exchange the bytes are shown to.
    pub fn exchange(&self) -> &Exchange {
        &self.exchange
    }
}

impl<S, E> Stream for Metered<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let item = Pin::new(&mut this.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(bytes))) = &item {
            this.exchange.observe(bytes);
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_32_lowercase_hex_digits_and_unique() {
        let made: Vec<([u8; 16], String)> = (0..1000).map(|_| new_request_id()).collect();
        for (raw, id) in &made {
            assert_eq!(*id, domain::hex::lower(raw), "the id spells its bytes");
        }
        let ids: Vec<String> = made.into_iter().map(|(_, id)| id).collect();
        for id in &ids {
            assert_eq!(id.len(), 32, "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{id}"
            );
        }
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        assert!(ids
            .iter()
            .any(|id| id.bytes().any(|b| b.is_ascii_alphabetic())));
    }

    #[test]
    fn absurd_token_counts_are_capped() {
        let usage = believable(Usage {
            input_tokens: u64::MAX,
            output_tokens: 12,
            ..Usage::default()
        });
        assert_eq!(usage.input_tokens, MAX_TOKENS_PER_ANSWER);
        assert_eq!(usage.output_tokens, 12);
    }
}

//! Prometheus metrics (`GET /metrics`), OpenMetrics text through
//! `prometheus-client`. Label values are bounded: service slugs of existing
//! services, format names, status codes, fixed reason names.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::{Arc, Mutex, PoisonError};

type Labels<const N: usize> = [(&'static str, String); N];

/// A shared label value (a service slug), cloned without allocating.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Shared(pub Arc<str>);

impl EncodeLabelValue for Shared {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&&*self.0, encoder)
    }
}

/// Labels of `gateway_requests_total`: built per request without allocating.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Service slug (`-` when unknown).
    pub service: Shared,
    /// Client format (`-` on the generic proxy).
    pub client_format: &'static str,
    /// Upstream format (`-` on the generic proxy).
    pub upstream_format: &'static str,
    /// Status sent.
    pub status: u16,
}

/// A service label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabel {
    /// Service slug.
    pub service: Shared,
}

/// Labels of `gateway_tokens_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    /// Service slug.
    pub service: Shared,
    /// `input` or `output`.
    pub direction: &'static str,
}

fn latency_histogram() -> Histogram {
    // 1 ms … ~65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// Every family the gateway exports.
pub struct Metrics {
    registry: Registry,
    /// Proxied requests by service, client format, upstream format and status.
    pub requests: Family<RequestLabels, Counter>,
    /// From the first byte sent upstream to the end of the answer.
    pub upstream_latency: Family<ServiceLabel, Histogram, fn() -> Histogram>,
    /// From the request's arrival to the upstream answer's head.
    pub upstream_ttfb: Family<ServiceLabel, Histogram, fn() -> Histogram>,
    /// Requests moved on to another key.
    pub failovers: Family<Labels<1>, Counter>,
    /// Keys put into a cooldown (or made invalid), by reason.
    pub cooldowns: Family<Labels<2>, Counter>,
    /// Keys by state, sampled at scrape time.
    pub key_states: Family<Labels<2>, Gauge>,
    /// Failed cache calls, by operation.
    pub cache_errors: Family<Labels<1>, Counter>,
    /// Failed database writes, by operation.
    pub database_errors: Family<Labels<1>, Counter>,
    /// Requests being proxied.
    pub in_flight: Gauge,
    /// Streamed answers being relayed.
    pub open_streams: Gauge,
    /// Request-log rows dropped because the queue was full.
    pub request_log_dropped: Counter,
    /// Tokens by service and direction.
    pub tokens: Family<TokenLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let metrics = Self {
            requests: Family::default(),
            upstream_latency: Family::new_with_constructor(latency_histogram),
            upstream_ttfb: Family::new_with_constructor(latency_histogram),
            failovers: Family::default(),
            cooldowns: Family::default(),
            key_states: Family::default(),
            cache_errors: Family::default(),
            database_errors: Family::default(),
            in_flight: Gauge::default(),
            open_streams: Gauge::default(),
            request_log_dropped: Counter::default(),
            tokens: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "gateway_requests",
            "Proxied requests by service, client format, upstream format and status",
            metrics.requests.clone(),
        );
        registry.register(
            "gateway_upstream_latency_seconds",
            "Upstream answer time, from sending to the end of the body",
            metrics.upstream_latency.clone(),
        );
        registry.register(
            "gateway_upstream_ttfb_seconds",
            "Time from the request's arrival to the upstream answer's head",
            metrics.upstream_ttfb.clone(),
        );
        registry.register(
            "gateway_failovers",
            "Requests moved on to another key after a failure",
            metrics.failovers.clone(),
        );
        registry.register(
            "gateway_key_cooldowns",
            "Keys put into a cooldown or made invalid, by reason",
            metrics.cooldowns.clone(),
        );
        registry.register(
            "gateway_keys",
            "Upstream keys by service and state",
            metrics.key_states.clone(),
        );
        registry.register(
            "gateway_cache_errors",
            "Failed calls to the rotation cache, by operation",
            metrics.cache_errors.clone(),
        );
        registry.register(
            "gateway_database_errors",
            "Failed database writes, by operation",
            metrics.database_errors.clone(),
        );
        registry.register(
            "gateway_in_flight_requests",
            "Requests being proxied",
            metrics.in_flight.clone(),
        );
        registry.register(
            "gateway_open_streams",
            "Streamed answers being relayed",
            metrics.open_streams.clone(),
        );
        registry.register(
            "gateway_request_log_dropped",
            "Request-log rows dropped because the database lagged",
            metrics.request_log_dropped.clone(),
        );
        registry.register(
            "gateway_tokens",
            "Tokens reported by upstreams, by service and direction",
            metrics.tokens.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }
}

/// One service's metric handles, looked up in their families once per
/// service (and snapshot) instead of once per request: each lookup takes
/// the family's lock and hashes the labels.
pub struct ServiceMeters {
    /// The service label.
    pub label: Shared,
    /// Its `gateway_upstream_latency_seconds`.
    pub upstream_latency: Histogram,
    /// Its `gateway_upstream_ttfb_seconds`.
    pub upstream_ttfb: Histogram,
    /// Its `gateway_tokens_total{direction="input"}`.
    pub input_tokens: Counter,
    /// Its `gateway_tokens_total{direction="output"}`.
    pub output_tokens: Counter,
    /// Its `gateway_requests_total` series met so far, by client format,
    /// upstream format and status: a service sees few, and finding one
    /// here hashes no labels.
    requests: Mutex<Vec<(RequestKind, Counter)>>,
}

/// The labels of a request series besides its service.
type RequestKind = (&'static str, &'static str, u16);

/// Series held per service; a service answering with more kinds than this
/// (unusual statuses) has the rest looked up in the family.
const HELD_REQUEST_SERIES: usize = 32;

/// Whether two request kinds are one. The names are `&'static str`s from
/// the formats' `as_str`, so the same name is almost always the same
/// address: compared first, it spares two `memcmp` calls a request.
fn same_kind(a: &RequestKind, b: &RequestKind) -> bool {
    let same = |x: &str, y: &str| std::ptr::eq(x, y) || x == y;
    a.2 == b.2 && same(a.0, b.0) && same(a.1, b.1)
}

impl ServiceMeters {
    /// Counts one request of this service in `gateway_requests_total`.
    pub fn count_request(
        &self,
        family: &Family<RequestLabels, Counter>,
        client_format: &'static str,
        upstream_format: &'static str,
        status: u16,
    ) {
        let kind = (client_format, upstream_format, status);
        let mut held = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, counter)) = held.iter().find(|(k, _)| same_kind(k, &kind)) {
            counter.inc();
            return;
        }
        let counter = family
            .get_or_create(&RequestLabels {
                service: self.label.clone(),
                client_format,
                upstream_format,
                status,
            })
            .clone();
        counter.inc();
        if held.len() < HELD_REQUEST_SERIES {
            held.push((kind, counter));
        }
    }
}

impl Metrics {
    /// The handles of the service labelled `label` (the same series every
    /// call: handles share their family's values).
    #[must_use]
    pub fn service_meters(&self, label: &Arc<str>) -> ServiceMeters {
        let service = Shared(Arc::clone(label));
        let by_service = ServiceLabel {
            service: service.clone(),
        };
        let tokens = |direction| {
            self.tokens
                .get_or_create(&TokenLabels {
                    service: service.clone(),
                    direction,
                })
                .clone()
        };
        ServiceMeters {
            upstream_latency: self.upstream_latency.get_or_create(&by_service).clone(),
            upstream_ttfb: self.upstream_ttfb.get_or_create(&by_service).clone(),
            input_tokens: tokens("input"),
            output_tokens: tokens("output"),
            requests: Mutex::default(),
            label: service,
        }
    }

    /// The exposition text.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_render_with_their_labels() {
        let metrics = Metrics::default();
        metrics
            .requests
            .get_or_create(&RequestLabels {
                service: Shared(Arc::from("s")),
                client_format: "openai",
                upstream_format: "openai_compatible",
                status: 200,
            })
            .inc();
        metrics
            .upstream_latency
            .get_or_create(&ServiceLabel {
                service: Shared(Arc::from("s")),
            })
            .observe(0.02);
        metrics.in_flight.inc();
        let text = metrics.render();
        assert!(text.contains("gateway_requests_total{service=\"s\",client_format=\"openai\",upstream_format=\"openai_compatible\",status=\"200\"} 1"), "{text}");
        assert!(
            text.contains("gateway_upstream_latency_seconds_count{service=\"s\"} 1"),
            "{text}"
        );
        assert!(text.contains("gateway_in_flight_requests 1"), "{text}");
    }

    #[test]
    fn service_meters_count_into_their_families() {
        let metrics = Metrics::default();
        let label: Arc<str> = Arc::from("s");
        metrics.service_meters(&label).input_tokens.inc_by(3);
        metrics.service_meters(&label).input_tokens.inc_by(4);
        metrics.service_meters(&label).upstream_ttfb.observe(0.5);
        let text = metrics.render();
        assert!(
            text.contains("gateway_tokens_total{service=\"s\",direction=\"input\"} 7"),
            "{text}"
        );
        assert!(
            text.contains("gateway_upstream_ttfb_seconds_count{service=\"s\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn a_name_at_another_address_is_the_same_series() {
        let metrics = Metrics::default();
        let meters = metrics.service_meters(&Arc::from("s"));
        // The same names, in memory of their own (leaked: `'static`, as the
        // formats' names are).
        let openai: &'static str = String::from("openai").leak();
        let gemini: &'static str = String::from("gemini_native").leak();
        meters.count_request(&metrics.requests, "openai", "gemini_native", 200);
        meters.count_request(&metrics.requests, openai, gemini, 200);
        meters.count_request(&metrics.requests, "openai", "anthropic_native", 200);
        meters.count_request(&metrics.requests, "anthropic", "gemini_native", 200);
        let held = meters
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        assert_eq!(held.len(), 3, "one held series per kind");
        drop(held);
        let text = metrics.render();
        assert!(text.contains("gateway_requests_total{service=\"s\",client_format=\"openai\",upstream_format=\"gemini_native\",status=\"200\"} 2"), "{text}");
        assert!(
            text.contains("upstream_format=\"anthropic_native\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "client_format=\"anthropic\",upstream_format=\"gemini_native\",status=\"200\"} 1"
            ),
            "{text}"
        );
    }

    #[test]
    fn requests_counted_on_held_series_reach_the_family() {
        let metrics = Metrics::default();
        let label: Arc<str> = Arc::from("s");
        let meters = metrics.service_meters(&label);
        let statuses = 200..200 + HELD_REQUEST_SERIES as u16 + 5;
        for _ in 0..3 {
            for status in statuses.clone() {
                meters.count_request(&metrics.requests, "openai", "anthropic_native", status);
            }
        }
        // A snapshot change brings new meters onto the same series.
        metrics.service_meters(&label).count_request(
            &metrics.requests,
            "openai",
            "anthropic_native",
            200,
        );
        let text = metrics.render();
        let series = |status: u16| {
            format!("gateway_requests_total{{service=\"s\",client_format=\"openai\",upstream_format=\"anthropic_native\",status=\"{status}\"}}")
        };
        assert!(text.contains(&format!("{} 4", series(200))), "{text}");
        for status in statuses.skip(1) {
            assert!(
                text.contains(&format!("{} 3", series(status))),
                "held or not, status {status} counts: {text}"
            );
        }
    }
}

//! The proxies: `ANY /proxy/{slug}/{rest}` (generic REST) and
//! `ANY /llm/{slug}/{rest}` (LLM SDKs).

pub mod failure;
pub mod generic;
pub mod headers;
pub mod llm;
pub mod upstream;

use actix_web::{web, HttpRequest};
use app::proxy::ProxyService;
use std::sync::Arc;
use std::time::Duration;

pub use upstream::UpstreamClient;

/// Shared state of the proxy routes (the per-worker `UpstreamClient` is registered separately).
pub struct ProxyState {
    /// Proxy decisions.
    pub service: Arc<ProxyService>,
    /// `MAX_BODY_BYTES`: limit of bodies the gateway must read.
    pub max_body_bytes: usize,
    /// `PROXY_TIMEOUT`, unless a service sets `timeout_s`.
    pub default_timeout: Duration,
    /// `EXPOSE_KEY_ID`.
    pub expose_key_id: bool,
}

/// Registers both proxies.
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/proxy/{slug}", web::route().to(generic::proxy))
        .route("/proxy/{slug}/{tail:.*}", web::route().to(generic::proxy))
        .route("/llm/{slug}", web::route().to(llm::proxy))
        .route("/llm/{slug}/{tail:.*}", web::route().to(llm::proxy));
}

/// The slug and the rest of the path, exactly as the client encoded them.
fn slug_and_tail(req: &HttpRequest) -> (&str, &str) {
    let mut parts = req.uri().path().splitn(4, '/').skip(2);
    let slug = parts.next().unwrap_or_default();
    let tail = parts.next().unwrap_or_default();
    (slug, tail)
}

/// Joins a target URL and a path with exactly one slash.
fn join(base: &str, tail: &str) -> String {
    match (base.trim_end_matches('/'), tail.trim_start_matches('/')) {
        (base, "") => base.to_owned(),
        (base, tail) => format!("{base}/{tail}"),
    }
}

fn with_query(url: String, query: &str) -> String {
    if query.is_empty() {
        url
    } else {
        format!("{url}?{query}")
    }
}

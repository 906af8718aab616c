//! The proxies: `ANY /proxy/{slug}/{rest}` (generic REST) and
//! `ANY /llm/{slug}/{rest}` (LLM SDKs).

mod attempts;
pub mod client_watch;
mod convert;
pub mod exchange;
pub mod failure;
pub mod generic;
pub mod headers;
mod idle;
pub mod llm;
pub mod probe;
pub mod reprobe;
pub mod upstream;
mod usage_chunk;
mod usage_request;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web::{Bytes, BytesMut};
use actix_web::{web, HttpRequest, HttpResponse};
use app::proxy::ProxyService;
use domain::{KeyId, KeyLocation, ProxyConfig};
use failure::Failure;
use std::sync::Arc;
use std::time::Duration;
use upstream::RequestBody;

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
    /// `DEFAULT_MAX_TOKENS`: the limit given to upstreams that require one
    /// (Anthropic) when a converted request has none.
    pub default_max_tokens: u64,
}

/// Registers both proxies. Each is a scope with a static prefix whose
/// handler reads the slug and the rest of the path itself
/// (`slug_and_tail`): routes with `{slug}/{tail:.*}` patterns are matched
/// by a regex engine, which cost ~7% of the gateway's CPU per request.
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope("/proxy").default_service(web::to(generic::proxy)))
        .service(web::scope("/llm").default_service(web::to(llm::proxy)));
}

/// The slug and the rest of the path, exactly as the client encoded them.
fn slug_and_tail(req: &HttpRequest) -> (&str, &str) {
    split_slug(req.uri().path())
}

/// `/{prefix}/{slug}/{tail}` split by bytes: `str::splitn` with a char
/// pattern cost ~500 instructions a call here.
fn split_slug(path: &str) -> (&str, &str) {
    let after =
        |text: &str| -> Option<usize> { text.bytes().position(|b| b == b'/').map(|at| at + 1) };
    let Some(rest) = after(path).and_then(|at| path.get(at..)) else {
        return ("", "");
    };
    let Some(rest) = after(rest).and_then(|at| rest.get(at..)) else {
        return ("", "");
    };
    match after(rest) {
        Some(at) => (&rest[..at - 1], &rest[at..]),
        None => (rest, ""),
    }
}

/// Joins a target URL and a path with exactly one slash.
fn join(base: &str, tail: &str) -> String {
    adapters_llm::with_segment(base.trim_end_matches('/'), tail.trim_start_matches('/'))
}

fn with_query(mut url: String, query: &str) -> String {
    if !query.is_empty() {
        url.reserve(1 + query.len());
        url.push('?');
        url.push_str(query);
    }
    url
}

/// The header that carries the upstream key (`None` for a query placement),
/// marked sensitive so it is never logged.
fn key_header(
    location: KeyLocation,
    name: &str,
    secret: &str,
) -> Result<Option<(HeaderName, HeaderValue)>, Failure> {
    let value = match location {
        KeyLocation::Header => secret.to_owned(),
        KeyLocation::Bearer => {
            let mut value = String::with_capacity(7 + secret.len());
            value.push_str("Bearer ");
            value.push_str(secret);
            value
        }
        KeyLocation::Query => return Ok(None),
    };
    // Parsing lower-cases the name itself.
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|e| Failure::BadBody(format!("api_key_name is not a header name: {e}")))?;
    let mut value = HeaderValue::try_from(value)
        .map_err(|_| Failure::BadBody("the upstream key cannot be sent in a header".to_owned()))?;
    value.set_sensitive(true);
    Ok(Some((name, value)))
}

/// Reads the client's streamed body into memory, refusing more than `limit` bytes.
async fn read_payload(mut payload: web::Payload, limit: usize) -> Result<Bytes, Failure> {
    use futures_util::StreamExt;
    // A body that arrives in one chunk (most do) is that chunk, shared with
    // the connection's buffer; only a second chunk makes a copy.
    let mut first: Option<Bytes> = None;
    let mut joined = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| Failure::BadBody(format!("cannot read the request body: {e}")))?;
        let held = first.as_ref().map_or(joined.len(), Bytes::len);
        if held + chunk.len() > limit {
            return Err(Failure::BodyTooLarge(limit));
        }
        if first.is_none() && joined.is_empty() {
            first = Some(chunk);
            continue;
        }
        if let Some(first) = first.take() {
            joined.reserve(first.len() + chunk.len());
            joined.extend_from_slice(&first);
        }
        joined.extend_from_slice(&chunk);
    }
    Ok(first.unwrap_or_else(|| joined.freeze()))
}

/// The client's body, streamed through, when it has one.
fn client_body(req: &HttpRequest, payload: web::Payload) -> RequestBody {
    if headers::has_body(req.headers()) {
        RequestBody::Stream {
            payload,
            length: headers::content_length(req.headers()),
        }
    } else {
        RequestBody::Empty
    }
}

/// The service's `timeout_s`, else `PROXY_TIMEOUT`.
fn timeout_of(config: &ProxyConfig, default: Duration) -> Duration {
    config
        .timeout_s
        .map_or(default, |s| Duration::from_secs(u64::from(s)))
}

/// Adds `x-rotator-key-id` when `EXPOSE_KEY_ID` is on.
fn tag_key(response: &mut HttpResponse, expose: bool, key_id: KeyId) {
    if expose {
        response.headers_mut().insert(
            HeaderName::from_static("x-rotator-key-id"),
            HeaderValue::from(key_id),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `read_payload` over a body sent in `chunks`.
    async fn read_chunks(chunks: &[&'static [u8]], limit: usize) -> Result<Bytes, Failure> {
        use actix_web::FromRequest;
        let (req, _) = actix_web::test::TestRequest::default().to_http_parts();
        let items: Vec<Result<Bytes, actix_web::error::PayloadError>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        let stream: std::pin::Pin<
            Box<dyn futures_util::Stream<Item = Result<Bytes, actix_web::error::PayloadError>>>,
        > = Box::pin(futures_util::stream::iter(items));
        let mut dev = actix_web::dev::Payload::from(stream);
        let payload = web::Payload::from_request(&req, &mut dev)
            .await
            .map_err(|e| Failure::BadBody(e.to_string()))?;
        read_payload(payload, limit).await
    }

    #[actix_web::test]
    async fn a_body_is_read_whole_however_it_is_chunked_and_within_its_limit() {
        static ONE: &[u8] = b"{\"a\":1}";
        let whole = read_chunks(&[ONE], 64).await.ok().unwrap_or_default();
        assert_eq!(
            whole.as_ptr(),
            ONE.as_ptr(),
            "one chunk is kept, not copied"
        );
        let joined = read_chunks(&[b"{\"a\"", b"", b":1}"], 64).await;
        assert_eq!(joined.ok().as_deref(), Some(&b"{\"a\":1}"[..]));
        assert_eq!(read_chunks(&[], 64).await.ok().as_deref(), Some(&b""[..]));
        assert!(matches!(
            read_chunks(&[b"0123", b"4567", b"8"], 8).await,
            Err(Failure::BodyTooLarge(8))
        ));
        assert!(matches!(
            read_chunks(&[b"012345678"], 8).await,
            Err(Failure::BodyTooLarge(8))
        ));
    }

    #[test]
    fn paths_split_into_slug_and_tail_as_sent() {
        assert_eq!(
            split_slug("/llm/svc/v1/chat/completions"),
            ("svc", "v1/chat/completions")
        );
        assert_eq!(split_slug("/proxy/svc/"), ("svc", ""));
        assert_eq!(split_slug("/proxy/svc"), ("svc", ""));
        assert_eq!(split_slug("/proxy/s%2Fv/a//b"), ("s%2Fv", "a//b"));
        assert_eq!(split_slug("/proxy/"), ("", ""));
        assert_eq!(split_slug("/proxy"), ("", ""));
        assert_eq!(split_slug("/llm/сервис/x"), ("сервис", "x"));
        assert_eq!(split_slug(""), ("", ""));
    }

    #[test]
    fn the_key_header_is_lower_case_and_sensitive() {
        let header = key_header(KeyLocation::Bearer, "Authorization", "sk-1")
            .ok()
            .flatten();
        let (name, value) = header.unwrap_or_else(|| panic!("a header"));
        assert_eq!(name.as_str(), "authorization");
        assert_eq!(value.to_str().ok(), Some("Bearer sk-1"));
        assert!(value.is_sensitive());
        let header = key_header(KeyLocation::Header, "X-Api-Key", "k")
            .ok()
            .flatten();
        assert_eq!(
            header.map(|(n, v)| (n.to_string(), v.to_str().map(str::to_owned).ok())),
            Some(("x-api-key".to_owned(), Some("k".to_owned())))
        );
        assert!(key_header(KeyLocation::Query, "key", "k").is_ok_and(|h| h.is_none()));
        assert!(key_header(KeyLocation::Header, "bad name", "k").is_err());
        assert!(key_header(KeyLocation::Bearer, "authorization", "a\nb").is_err());
    }

    #[test]
    fn urls_join_with_one_slash_and_keep_the_query() {
        assert_eq!(join("http://u/v1/", "/chat"), "http://u/v1/chat");
        assert_eq!(join("http://u", ""), "http://u");
        assert_eq!(join("http://u/", "a/b/"), "http://u/a/b/");
        assert_eq!(
            with_query(join("http://u", "x"), "a=1&b"),
            "http://u/x?a=1&b"
        );
        assert_eq!(with_query("http://u".to_owned(), ""), "http://u");
    }
}

//! The upstream HTTP client (awc, one per worker, connections reused) and
//! the relaying of requests and responses as streams, never buffered whole.

use super::client_watch::UntilClientGone;
use super::exchange::{Exchange, Metered};
use super::headers;
use super::usage_chunk::UsageChunkFilter;
use actix_web::body::{BodyStream, SizedStream};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web::{Bytes, Payload};
use actix_web::HttpResponse;
use awc::error::{ConnectError, SendRequestError};
use converters::errors::EndMarkers;
use domain::llm::ClientFormat;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Why an upstream could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamFailure {
    /// No answer within the timeout.
    #[error("upstream timed out")]
    Timeout,
    /// Connection refused, DNS failure, TLS failure, reset…
    #[error("upstream unreachable: {0}")]
    Unreachable(String),
}

/// The body to send upstream.
pub enum RequestBody {
    /// No body.
    Empty,
    /// The client's body, streamed through (length kept when declared).
    Stream {
        /// The client's payload.
        payload: Payload,
        /// Declared `Content-Length`.
        length: Option<u64>,
    },
    /// A body the gateway had to read (and rewrite).
    Bytes(Bytes),
}

/// Everything needed to call the upstream.
pub struct UpstreamRequest {
    /// Method.
    pub method: Method,
    /// Absolute URL.
    pub url: String,
    /// Headers, repeated ones included, in order.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Time allowed until the response head arrives.
    pub timeout: Duration,
}

/// The per-worker upstream client.
pub struct UpstreamClient {
    client: awc::Client,
}

impl UpstreamClient {
    /// A client with TLS (rustls, ring, Mozilla roots), no redirects followed,
    /// no default headers added, and unlimited pooled connections per host.
    ///
    /// # Errors
    /// A message when the TLS configuration cannot be built.
    pub fn new(connect_timeout: Duration) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let connector = awc::Connector::new()
            .rustls_0_23(Arc::new(tls))
            .timeout(connect_timeout)
            .limit(0)
            .conn_keep_alive(Duration::from_secs(30));
        let client = awc::Client::builder()
            .connector(connector)
            .disable_redirects()
            .no_default_headers()
            .disable_timeout()
            .finish();
        Ok(Self { client })
    }

    /// Sends the request; the response's body is left for the caller to read.
    ///
    /// # Errors
    /// [`UpstreamFailure`] when no response head arrives.
    pub async fn send(
        &self,
        request: UpstreamRequest,
        body: RequestBody,
    ) -> Result<awc::ClientResponse, UpstreamFailure> {
        let mut outgoing = self
            .client
            .request(request.method, &request.url)
            .timeout(request.timeout);
        if let Some(host) = host_header(outgoing.get_uri()) {
            outgoing = outgoing.insert_header((actix_web::http::header::HOST, host));
        }
        for (name, value) in request.headers {
            outgoing = outgoing.append_header((name, value));
        }
        let sent = match body {
            RequestBody::Empty => outgoing.send().await,
            RequestBody::Bytes(bytes) => outgoing.send_body(bytes).await,
            RequestBody::Stream {
                payload,
                length: Some(length),
            } => outgoing.send_body(SizedStream::new(length, payload)).await,
            RequestBody::Stream {
                payload,
                length: None,
            } => outgoing.send_stream(payload).await,
        };
        sent.map_err(classify)
    }
}

/// The `Host` header for `uri`, when its authority can be sent as it is
/// (no credentials, no default port written out). Set here because awc
/// otherwise formats it through `io::Write` on every request (≈ 700
/// instructions); in the other cases awc still writes it.
fn host_header(uri: &awc::http::Uri) -> Option<HeaderValue> {
    let authority = uri.authority()?.as_str();
    let explicit_default_port = uri.port_u16().is_some_and(|port| port == 80 || port == 443);
    if authority.contains('@') || explicit_default_port {
        return None;
    }
    HeaderValue::from_str(authority).ok()
}

fn classify(error: SendRequestError) -> UpstreamFailure {
    match error {
        SendRequestError::Timeout | SendRequestError::Connect(ConnectError::Timeout) => {
            UpstreamFailure::Timeout
        }
        other => UpstreamFailure::Unreachable(other.to_string()),
    }
}

impl UpstreamFailure {
    /// The failure with `secret` masked wherever its message quotes it: with a
    /// query placement the upstream key sits in the URL. Done here, on the
    /// error path only, so a successful request pays nothing for it.
    #[must_use]
    pub fn without_secret(self, secret: &str) -> Self {
        match self {
            UpstreamFailure::Timeout => UpstreamFailure::Timeout,
            UpstreamFailure::Unreachable(message) => {
                UpstreamFailure::Unreachable(redact(&message, secret))
            }
        }
    }
}

/// `message` with every occurrence of `secret` (raw or percent-encoded) masked.
fn redact(message: &str, secret: &str) -> String {
    if secret.is_empty() {
        return message.to_owned();
    }
    let masked = domain::mask_secret(secret);
    message
        .replace(secret, &masked)
        .replace(&headers::percent_encode(secret), &masked)
}

/// An upstream answer already read (an error the rules deliver), relayed as it came.
#[must_use]
pub fn buffered(
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
) -> HttpResponse {
    let mut builder = HttpResponse::build(status);
    for (name, value) in headers {
        builder.append_header((name, value));
    }
    builder.body(body)
}

/// Said to a client whose stream the upstream cut.
const CUT_SHORT: &str = "the upstream stream was cut before it ended";

/// Relays a streamed SSE answer untouched. A stream that ends — cut by the
/// network or closed early — before any of the end markers of `client`'s
/// format passed by gets an error event in that format as its last event
/// instead of a silent clean end.
#[must_use]
pub fn relay_sse(
    response: awc::ClientResponse,
    gone: Pin<Box<dyn Future<Output = ()>>>,
    idle: Duration,
    client: ClientFormat,
    exchange: &mut Exchange,
    strip_usage_chunk: bool,
) -> HttpResponse {
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    exchange.status(status.as_u16());
    let mut builder = HttpResponse::build(status);
    for (name, value) in headers::forwardable(response.headers(), &[]) {
        builder.append_header((name.clone(), value.clone()));
    }
    let body = SseRelay {
        upstream: super::idle::IdleTimeout::new(
            Metered::new(response, exchange.hand_over(true)),
            idle,
        ),
        strip: strip_usage_chunk.then(UsageChunkFilter::default),
        watch: EndWatch::new(converters::errors::stream_end_markers(client)),
        error_event_format: Some(client),
    };
    builder.body(BodyStream::new(UntilClientGone::new(body, gone)))
}

/// A relayed SSE body that ends with the client's error event when the
/// upstream's stream breaks or ends early.
struct SseRelay {
    upstream: super::idle::IdleTimeout<Metered<awc::ClientResponse>>,
    /// Removes the usage chunk the gateway asked for on the client's behalf.
    strip: Option<UsageChunkFilter>,
    watch: EndWatch,
    /// The format of the error event sent once, when the stream breaks,
    /// before the body ends (built then: most streams never need it).
    error_event_format: Option<ClientFormat>,
}

impl SseRelay {
    /// The error event, once; `None` after.
    fn error_event(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        let client = self.error_event_format.take()?;
        Some(Ok(Bytes::from(converters::errors::stream_error_frame(
            client, CUT_SHORT,
        ))))
    }
}

impl futures_util::Stream for SseRelay {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let Some(_) = self.error_event_format else {
            return Poll::Ready(None);
        };
        match Pin::new(&mut self.upstream).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(bytes))) => {
                self.watch.observe(&bytes);
                // The usage scanner has often just looked: not twice.
                let no_usage = self.strip.is_some()
                    && self
                        .upstream
                        .get_ref()
                        .exchange()
                        .last_chunk_holds_no_usage();
                match &mut self.strip {
                    Some(filter) => {
                        let kept = filter.feed(&bytes, no_usage);
                        if kept.is_empty() {
                            // Nothing to send yet: ask for more.
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                        Poll::Ready(Some(Ok(kept)))
                    }
                    None => Poll::Ready(Some(Ok(bytes))),
                }
            }
            Poll::Ready(Some(Err(error))) => {
                tracing::warn!(%error, "upstream stream cut after the first byte");
                Poll::Ready(self.error_event())
            }
            Poll::Ready(None) if self.watch.ended => {
                self.error_event_format = None;
                match self.strip.as_mut().map(UsageChunkFilter::rest) {
                    Some(rest) if !rest.is_empty() => Poll::Ready(Some(Ok(rest))),
                    _ => Poll::Ready(None),
                }
            }
            Poll::Ready(None) => {
                tracing::warn!("upstream stream ended before its end marker");
                Poll::Ready(self.error_event())
            }
        }
    }
}

/// Watches relayed bytes for a stream's end markers, across chunk boundaries.
struct EndWatch {
    markers: &'static EndMarkers,
    /// The stream's last bytes so far (a marker's length less one).
    carry: Vec<u8>,
    ended: bool,
}

impl EndWatch {
    fn new(markers: &'static EndMarkers) -> Self {
        Self {
            markers,
            carry: Vec::new(),
            ended: false,
        }
    }

    fn observe(&mut self, bytes: &[u8]) {
        if self.ended || bytes.is_empty() {
            return;
        }
        let keep = self.markers.longest().saturating_sub(1);
        // A marker split across chunks holds the last byte before the split
        // and the first after; markers hold no line feed, so when either is
        // one (chunks of whole events end with one) there is none to find.
        let may_straddle = self.carry.last().is_some_and(|&b| b != b'\n') && bytes[0] != b'\n';
        self.carry
            .extend_from_slice(&bytes[..bytes.len().min(keep)]);
        self.ended =
            (may_straddle && self.markers.found_in(&self.carry)) || self.markers.found_in(bytes);
        // The stream's last bytes, however short the chunks.
        if bytes.len() >= keep {
            self.carry.clear();
            self.carry.extend_from_slice(&bytes[bytes.len() - keep..]);
        } else {
            let excess = self.carry.len().saturating_sub(keep);
            self.carry.drain(..excess);
        }
    }
}

/// Relays a 2xx answer as it arrives; a body that stalls for `idle` is cut.
/// The exchange goes with the body and finishes when it ends.
pub fn relay(
    response: awc::ClientResponse,
    head_only: bool,
    idle: Duration,
    exchange: &mut Exchange,
) -> HttpResponse {
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    exchange.status(status.as_u16());
    let mut builder = HttpResponse::build(status);
    for (name, value) in headers::forwardable(response.headers(), &[]) {
        builder.append_header((name.clone(), value.clone()));
    }
    let length = headers::content_length(response.headers());
    if head_only || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return match length {
            Some(length) if head_only => builder.no_chunking(length).finish(),
            _ => builder.finish(),
        };
    }
    let body =
        super::idle::IdleTimeout::new(Metered::new(response, exchange.hand_over(false)), idle);
    match length {
        Some(length) => builder.body(SizedStream::new(length, body)),
        None => builder.body(BodyStream::new(body)),
    }
}

#[cfg(test)]
mod tests {
    use super::{host_header, redact, EndWatch};

    #[test]
    fn end_markers_are_seen_inside_a_chunk_and_across_chunks() {
        let watch = |chunks: &[&str]| {
            let mut watch = EndWatch::new(converters::errors::stream_end_markers(
                domain::llm::ClientFormat::Openai,
            ));
            for chunk in chunks {
                watch.observe(chunk.as_bytes());
            }
            watch.ended
        };
        assert!(watch(&["data: {\"a\":1}\n\n", "data: [DONE]\n\n"]));
        assert!(watch(&["data: [DO", "NE]\n\n"]), "split across chunks");
        assert!(watch(&["{\"finish_reason\"", ":\"stop\"}"]));
        assert!(!watch(&["data: {\"a\":1}\n\n", "data: [DON"]), "cut short");
        assert!(!watch(&[]));
        assert!(
            watch(&["data: {}\n\n", "data: [DONE]\n\n"]),
            "after a whole event"
        );
        assert!(
            watch(&["data: {\"a\":1}\n\ndata: [", "D", "ONE]"]),
            "over three chunks"
        );
        assert!(
            !watch(&["data: [DO\n", "NE]\n\n"]),
            "a line feed between the halves is no marker"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_chunking_finds_what_a_search_of_the_whole_stream_finds(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                "[", "DONE", "]", "\n", " ", "a", "\"finish_reason\"", ":", "\"", "null",
                "{\"error\"",
            ]), 0..24),
            cuts in proptest::collection::vec(0usize..120, 0..8),
        ) {
            let bytes = pieces.concat().into_bytes();
            let markers = converters::errors::stream_end_markers(domain::llm::ClientFormat::Openai);
            let mut cuts: Vec<usize> = cuts.into_iter().filter(|&c| c <= bytes.len()).collect();
            cuts.extend([0, bytes.len()]);
            cuts.sort_unstable();
            let mut watch = EndWatch::new(markers);
            for pair in cuts.windows(2) {
                watch.observe(&bytes[pair[0]..pair[1]]);
            }
            proptest::prop_assert_eq!(watch.ended, markers.found_in(&bytes));
        }
    }

    #[test]
    fn the_host_header_is_the_authority_when_it_can_be_sent_as_it_is() {
        let host = |url: &str| {
            let uri: awc::http::Uri = url.parse().unwrap();
            host_header(&uri).map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(
            host("http://127.0.0.1:8080/v1/x").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(
            host("https://api.openai.com/v1").as_deref(),
            Some("api.openai.com")
        );
        assert_eq!(host("http://[::1]:9000/").as_deref(), Some("[::1]:9000"));
        assert_eq!(
            host("https://api.openai.com:443/v1"),
            None,
            "awc drops the default port"
        );
        assert_eq!(
            host("http://user:pw@example.com/"),
            None,
            "credentials never go in Host"
        );
    }

    #[test]
    fn errors_never_carry_the_key_raw_or_encoded() {
        let key = "sk-live/secret+value-0001";
        let message = format!(
            "connect to https://x/v1?key={key} and ?k={} failed",
            super::headers::percent_encode(key)
        );
        let clean = redact(&message, key);
        assert!(
            !clean.contains(key) && !clean.contains("secret%2Bvalue"),
            "{clean}"
        );
        assert!(clean.contains("sk-liv*****001"), "{clean}");
    }
}

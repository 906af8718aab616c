//! The LLM proxy when client and upstream speak different formats (SPEC
//! §5.4): the request is read whole and converted, the answer converted
//! back — complete bodies at once, streams event by event as they arrive.

use super::attempts::Answer;
use super::client_watch::UntilClientGone;
use super::idle::IdleTimeout;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The upstream's body, cut after the idle timeout.
type Upstream = IdleTimeout<awc::ClientResponse>;
use super::exchange::{Exchange, Metered};
use super::failure::Failure;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::web::{Bytes, BytesMut};
use actix_web::HttpResponse;
use converters::{ConvertError, Operation, Options, PreparedChat};
use domain::llm::ClientFormat;
use domain::ApiFormat;
use futures_util::StreamExt;

/// Largest upstream body (a complete answer or error) read for conversion.
const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;

/// What the conversion needs besides the upstream request's head.
pub struct Conversion<'a> {
    /// The client's format.
    pub client: ClientFormat,
    /// The upstream's format (its native client format).
    pub upstream: ClientFormat,
    /// What the client asked for.
    pub operation: Operation,
    /// The service's `model_map` and `DEFAULT_MAX_TOKENS`.
    pub options: Options<'a>,
}

/// Where the converted request goes: the upstream path and extra query.
pub struct Target {
    /// Upstream path (joined to `target_base_url` by the adapter).
    pub path: String,
    /// Query to add (`alt=sse`).
    pub query: Option<&'static str>,
    /// Method.
    pub method: Method,
    /// Body.
    pub body: Option<Bytes>,
}

/// A prepared conversion: either a chat turn or a model listing.
pub enum Prepared {
    /// A chat turn.
    Chat(PreparedChat),
    /// The model listing.
    Models,
}

impl Conversion<'_> {
    /// Converts the client's request, or refuses what the upstream cannot do.
    ///
    /// # Errors
    /// A 4xx [`Failure`] in the client's format for a malformed or unsupported request.
    pub fn prepare(&self, body: &[u8]) -> Result<(Prepared, Target), Failure> {
        match &self.operation {
            Operation::Chat { .. } => {
                let mut prepared = converters::prepare_chat(
                    self.client,
                    self.upstream,
                    &self.operation,
                    body,
                    self.options,
                )?;
                let target = Target {
                    path: prepared.path.clone(),
                    query: prepared.query,
                    method: Method::POST,
                    body: Some(Bytes::from(std::mem::take(&mut prepared.body))),
                };
                Ok((Prepared::Chat(prepared), target))
            }
            Operation::Models => Ok((
                Prepared::Models,
                Target {
                    path: converters::models::path(self.upstream).to_owned(),
                    query: None,
                    method: Method::GET,
                    body: None,
                },
            )),
            Operation::Other(path) => Err(ConvertError::Unsupported(format!(
                "`{path}` is not available here: this service's upstream speaks the {} format, which has no equivalent",
                self.upstream.as_str()
            ))
            .into()),
        }
    }
}

/// Headers for a converted request: the client's (already stripped of keys)
/// minus those describing its body, plus JSON and no compression (the answer
/// must be readable).
pub fn request_headers(
    mut headers: Vec<(HeaderName, HeaderValue)>,
    has_body: bool,
) -> Vec<(HeaderName, HeaderValue)> {
    headers.retain(|(name, _)| {
        !matches!(
            name.as_str(),
            "content-type" | "accept" | "content-encoding"
        )
    });
    if has_body {
        headers.push((
            actix_web::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ));
    }
    super::headers::ask_identity_encoding(&mut headers);
    headers
}

/// Upstream headers kept on a converted error: when to try again.
const RETRY_HINTS: [&str; 2] = ["retry-after", "retry-after-ms"];

/// Converts the upstream's answer (after failover) for the client.
///
/// # Errors
/// [`Failure`] when the upstream answers nonsense.
pub async fn respond(
    answer: Answer,
    prepared: Prepared,
    conversion: &Conversion<'_>,
    idle: Duration,
    gone: Pin<Box<dyn Future<Output = ()>>>,
    exchange: &mut Exchange,
    upstream_format: ApiFormat,
) -> Result<HttpResponse, Failure> {
    let response = match answer {
        Answer::Error {
            status,
            headers,
            body,
            ..
        } => {
            let converted = converters::errors::convert_error(
                converters::handler_for(conversion.client),
                status.as_u16(),
                &body,
            );
            tracing::debug!(status = status.as_u16(), "upstream error converted");
            let mut builder = HttpResponse::build(status);
            // Back-off hints mean the same in every format, and every SDK reads them.
            for (name, value) in headers
                .into_iter()
                .filter(|(name, _)| RETRY_HINTS.contains(&name.as_str()))
            {
                builder.insert_header((name, value));
            }
            return Ok(builder.json(converted));
        }
        Answer::Success { response, .. } => IdleTimeout::new(response, idle),
    };
    let mut response = response;
    match prepared {
        Prepared::Models => {
            let body = read_all(&mut response).await?;
            let converted =
                converters::models::convert(conversion.upstream, conversion.client, &body)
                    .map_err(|e| bad_upstream(e, &body))?;
            Ok(json_response(converted))
        }
        Prepared::Chat(chat) if chat.stream => {
            exchange.scan(upstream_format, true);
            Ok(stream_response(response, &chat, gone, exchange))
        }
        Prepared::Chat(chat) => {
            let body = read_all(&mut response).await?;
            exchange.scan(upstream_format, false);
            exchange.observe(&body);
            let converted = chat
                .convert_response(&body)
                .map_err(|e| bad_upstream(e, &body))?;
            Ok(json_response(converted))
        }
    }
}

fn bad_upstream(error: ConvertError, body: &[u8]) -> Failure {
    tracing::warn!(%error, excerpt = %converters::errors::excerpt(&String::from_utf8_lossy(body)),
        "unreadable upstream answer");
    Failure::from(error)
}

fn json_response(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

async fn read_all(response: &mut Upstream) -> Result<Bytes, Failure> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = response.next().await {
        let chunk = chunk.map_err(|e| {
            Failure::Upstream(super::upstream::UpstreamFailure::Unreachable(format!(
                "the upstream answer was cut: {e}"
            )))
        })?;
        if buf.len() + chunk.len() > MAX_UPSTREAM_BODY {
            return Err(ConvertError::BadUpstream(format!(
                "the answer is larger than {MAX_UPSTREAM_BODY} bytes"
            ))
            .into());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// The upstream's stream converted event by event; a cut stream ends with
/// an error event in the client's format.
fn stream_response(
    upstream: Upstream,
    chat: &PreparedChat,
    gone: Pin<Box<dyn Future<Output = ()>>>,
    exchange: &mut Exchange,
) -> HttpResponse {
    let converter = chat.stream_converter();
    exchange.status(200);
    let upstream = Metered::new(upstream, exchange.hand_over(true));
    let body = futures_util::stream::unfold(Some((upstream, converter)), |state| async move {
        let (mut upstream, mut converter) = state?;
        loop {
            match upstream.next().await {
                Some(Ok(chunk)) => {
                    let out = converter.feed(&chunk);
                    if !out.is_empty() {
                        return Some((
                            Ok::<_, std::io::Error>(Bytes::from(out)),
                            Some((upstream, converter)),
                        ));
                    }
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "upstream stream cut");
                    let out = converter.fail(&format!("the upstream stream was cut: {error}"));
                    return Some((Ok(Bytes::from(out)), None));
                }
                None => return Some((Ok(Bytes::from(converter.finish())), None)),
            }
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(UntilClientGone::new(Box::pin(body), gone))
}

//! `ANY /llm/{slug}/{rest}`: the LLM proxy (SPEC §5). The client key is read
//! where its SDK puts it and stripped; the upstream key is placed where the
//! upstream expects it. Same-format requests pass through untouched.

use super::attempts::{self, Answer};
use super::client_watch::client_gone;
use super::convert::{self, Conversion, Prepared};
use super::exchange::Exchange;
use super::failure::Failure;
use super::upstream::{self, RequestBody, UpstreamClient, UpstreamRequest};
use super::{
    client_body, headers, key_header, read_payload, slug_and_tail, tag_key, timeout_of, with_query,
    ProxyState,
};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use app::snapshot::PoolKey;
use converters::Options;
use domain::llm::{detect_client_format, ClientFormat, FormatHints, KeyPlacement, LlmAdapter};
use domain::{ApiFormat, ConfigType, KeyLocation, LlmTarget, OutputFormat, ProxyTarget};
use secrecy::ExposeSecret;

/// Headers in which SDKs send their API key; never forwarded upstream.
const CLIENT_KEY_HEADERS: &[&str] = &["authorization", "x-api-key", "x-goog-api-key"];
/// Query parameter of the Gemini SDKs' key; never forwarded upstream.
const CLIENT_KEY_QUERY: &str = "key";

/// The handler.
pub async fn proxy(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ProxyState>,
    client: web::Data<UpstreamClient>,
) -> HttpResponse {
    let (_, tail) = slug_and_tail(&req);
    let hints = FormatHints {
        anthropic_version: req.headers().contains_key(headers::ANTHROPIC_VERSION),
        google_key: req.headers().contains_key(headers::X_GOOG_API_KEY)
            || headers::query_value(req.query_string(), CLIENT_KEY_QUERY).is_some(),
    };
    let detected = detect_client_format(tail, hints);
    let mut exchange = Exchange::start(state.service.telemetry(), &req, slug_and_tail(&req).0);
    let mut response = match forward(&req, payload, &state, &client, detected, &mut exchange).await
    {
        Ok(response) => response,
        Err((failure, format)) => {
            failure.render(Some(format.or(detected).unwrap_or(ClientFormat::Openai)))
        }
    };
    exchange.respond(&mut response);
    response
}

type Failed = (Failure, Option<ClientFormat>);

async fn forward(
    req: &HttpRequest,
    payload: web::Payload,
    state: &ProxyState,
    client: &UpstreamClient,
    detected: Option<ClientFormat>,
    exchange: &mut Exchange,
) -> Result<HttpResponse, Failed> {
    let (slug, tail) = slug_and_tail(req);
    let service = state
        .service
        .resolve(slug, ConfigType::Llm)
        .map_err(|e| (e.into(), None))?;
    exchange.service(&service);
    let ProxyTarget::Llm(target) = &service.config.target else {
        return Err((
            app::proxy::ProxyError::UnknownService(slug.to_owned()).into(),
            None,
        ));
    };
    let native = target.api_format.native_client_format();
    let client_format = match target.output_format {
        OutputFormat::Auto => detected.unwrap_or(native),
        OutputFormat::None => native,
        OutputFormat::Openai => ClientFormat::Openai,
        OutputFormat::OpenaiResponses => ClientFormat::OpenaiResponses,
        OutputFormat::Anthropic => ClientFormat::Anthropic,
        OutputFormat::Gemini => ClientFormat::Gemini,
    };
    let fail = |failure: Failure| (failure, Some(client_format));
    let converting = client_format != native;
    exchange.formats(client_format.as_str(), target.api_format);
    // Passthrough of a streamed OpenAI Chat request: the body is read to ask
    // the upstream for the usage chunk (SPEC §5.4) — for telemetry, so not
    // when it is off.
    let wants_usage = state.service.telemetry().enabled
        && !converting
        && client_format == ClientFormat::Openai
        && req.method() == Method::POST
        && tail.ends_with("chat/completions");

    // The client key, where the SDK put it; the body only as a last resort
    // (or when the body has to be read anyway, for conversion).
    let mut body = client_body(req, payload);
    let mut presented = client_key_from_request(req.headers(), req.query_string());
    if presented.is_none() || converting || wants_usage {
        if let RequestBody::Stream { payload, .. } = body {
            let bytes = read_payload(payload, state.max_body_bytes)
                .await
                .map_err(fail)?;
            // A converted request is rebuilt from known fields, so a body
            // `api_key` never reaches the upstream: parse for it only when needed.
            body = RequestBody::Bytes(if presented.is_none() {
                let (key, rewritten) = client_key_from_body(bytes).map_err(fail)?;
                presented = key;
                rewritten
            } else {
                bytes
            });
        }
    }
    let identity = state
        .service
        .authenticate(&service, presented.as_deref())
        .map_err(|e| fail(e.into()))?;
    exchange.client(&identity);
    let mut strip_usage_chunk = false;
    if wants_usage {
        if let RequestBody::Bytes(bytes) = &body {
            let (rewritten, model, added) = super::usage_request::request_usage(bytes);
            exchange.model(model.as_deref());
            strip_usage_chunk = added;
            if let Some(rewritten) = rewritten {
                body = RequestBody::Bytes(rewritten);
            }
        }
    }
    state
        .service
        .admit(&identity)
        .await
        .map_err(|e| fail(e.into()))?;
    // Converted before a key is chosen: a request that cannot be served costs no rotation step.
    let conversion = converting.then(|| Conversion {
        client: client_format,
        upstream: native,
        operation: converters::operation(client_format, req.method() == Method::GET, tail),
        options: Options {
            model_map: &target.model_map,
            default_max_tokens: state.default_max_tokens,
        },
    });
    let prepared = match (&conversion, &body) {
        (Some(conversion), RequestBody::Bytes(bytes)) => {
            Some(conversion.prepare(bytes).map_err(fail)?)
        }
        (Some(conversion), _) => Some(conversion.prepare(b"").map_err(fail)?),
        (None, _) => None,
    };
    if let Some((Prepared::Chat(chat), _)) = &prepared {
        exchange.model(Some(chat.client_model()));
    }
    let adapter = adapters_llm::adapter_for(target.api_format);
    let placement = placement(target, &adapter);
    let key_name = placement.name.to_ascii_lowercase();
    let timeout = timeout_of(&service.config, state.default_timeout);
    let converted_target = prepared.as_ref().map(|(_, target_request)| target_request);
    let build = |key: &PoolKey| -> Result<UpstreamRequest, Failure> {
        let secret = key.secret.expose_secret();
        let mut strip: Vec<&str> = CLIENT_KEY_HEADERS.to_vec();
        strip.push(&key_name);
        let mut forwarded: Vec<(HeaderName, HeaderValue)> =
            headers::forwardable(req.headers(), &strip)
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect();
        if let Some(header) = key_header(placement.location, &placement.name, secret)? {
            forwarded.push(header);
        }
        if target.api_format == ApiFormat::AnthropicNative
            && !req.headers().contains_key(headers::ANTHROPIC_VERSION)
        {
            forwarded.push(headers::anthropic_version());
        }
        tracing::debug!(service = %service.config.slug, client = %identity.name, format = client_format.as_str(),
            upstream = target.api_format.as_str(), key_id = key.key.id, key = %key.key.key_masked, "forwarding");
        Ok(match converted_target {
            Some(target_request) => {
                let mut query = match placement.location {
                    KeyLocation::Query => {
                        headers::rewrite_query("", &[], Some((&placement.name, secret)))
                    }
                    KeyLocation::Header | KeyLocation::Bearer => String::new(),
                };
                if let Some(extra) = target_request.query {
                    if !query.is_empty() {
                        query.push('&');
                    }
                    query.push_str(extra);
                }
                UpstreamRequest {
                    method: target_request.method.clone(),
                    url: with_query(
                        adapter.upstream_url(&target.target_base_url, &target_request.path),
                        &query,
                    ),
                    headers: convert::request_headers(forwarded, target_request.body.is_some()),
                    timeout,
                }
            }
            None => {
                let query = match placement.location {
                    KeyLocation::Query => headers::rewrite_query(
                        req.query_string(),
                        &[CLIENT_KEY_QUERY, placement.name.as_str()],
                        Some((&placement.name, secret)),
                    ),
                    KeyLocation::Header | KeyLocation::Bearer => {
                        headers::rewrite_query(req.query_string(), &[CLIENT_KEY_QUERY], None)
                    }
                };
                // The answer is read for its usage as it passes: uncompressed.
                headers::ask_identity_encoding(&mut forwarded);
                UpstreamRequest {
                    method: req.method().clone(),
                    url: with_query(adapter.upstream_url(&target.target_base_url, tail), &query),
                    headers: forwarded,
                    timeout,
                }
            }
        })
    };
    let body = match converted_target {
        Some(target_request) => target_request
            .body
            .clone()
            .map_or(RequestBody::Empty, RequestBody::Bytes),
        None => body,
    };
    let answer = attempts::run(state, client, &service, exchange, body, build)
        .await
        .map_err(fail)?;
    let index = answer.index();
    let mut response = match (&conversion, prepared) {
        (Some(conversion), Some((prepared, _))) => convert::respond(
            answer,
            prepared,
            conversion,
            timeout,
            client_gone(req),
            exchange,
            target.api_format,
        )
        .await
        .map_err(fail)?,
        _ => match answer {
            Answer::Success { response, .. } if is_event_stream(&response) => {
                exchange.scan(target.api_format, true);
                upstream::relay_sse(
                    response,
                    client_gone(req),
                    timeout,
                    client_format,
                    exchange,
                    strip_usage_chunk,
                )
            }
            Answer::Success { response, .. } => {
                exchange.scan(target.api_format, false);
                upstream::relay(response, req.method() == Method::HEAD, timeout, exchange)
            }
            Answer::Error {
                status,
                headers,
                body,
                ..
            } => upstream::buffered(status, headers, body),
        },
    };
    tag_key(
        &mut response,
        state.expose_key_id,
        service.keys[index].key.id,
    );
    Ok(response)
}

fn is_event_stream(response: &awc::ClientResponse) -> bool {
    response
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// Where the upstream key goes: the service's override, else the format's default.
pub(crate) fn placement(target: &LlmTarget, adapter: &impl LlmAdapter) -> KeyPlacement {
    let default = adapter.default_key_placement();
    match (target.api_key_location, target.api_key_name.as_deref()) {
        (None, None) => default,
        (None, Some(name)) => KeyPlacement {
            location: default.location,
            name: name.to_owned(),
        },
        (Some(KeyLocation::Bearer), name) => KeyPlacement {
            location: KeyLocation::Bearer,
            name: name.unwrap_or("Authorization").to_owned(),
        },
        (Some(location), name) => KeyPlacement {
            location,
            name: name.map_or(default.name, str::to_owned),
        },
    }
}

/// The client key from `Authorization: Bearer`, `x-api-key`, `x-goog-api-key` or `?key=`.
fn client_key_from_request(headers: &HeaderMap, query: &str) -> Option<String> {
    let header = |name: HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    header(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .or_else(|| header(headers::X_API_KEY))
        .or_else(|| header(headers::X_GOOG_API_KEY))
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .or_else(|| headers::query_value(query, CLIENT_KEY_QUERY).filter(|k| !k.is_empty()))
}

/// The `api_key` field of a JSON body, and the body without it.
fn client_key_from_body(buf: Bytes) -> Result<(Option<String>, Bytes), Failure> {
    let Ok(serde_json::Value::Object(mut object)) =
        serde_json::from_slice::<serde_json::Value>(&buf)
    else {
        return Ok((None, buf));
    };
    let Some(serde_json::Value::String(key)) = object.remove("api_key") else {
        return Ok((None, buf));
    };
    let rewritten = serde_json::to_vec(&object).map_err(|e| Failure::BadBody(e.to_string()))?;
    Ok((Some(key), Bytes::from(rewritten)))
}

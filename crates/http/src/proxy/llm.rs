//! `ANY /llm/{slug}/{rest}`: the LLM proxy (SPEC §5). The client key is read
//! where its SDK puts it and stripped; the upstream key is placed where the
//! upstream expects it. Same-format requests pass through untouched.

use super::convert::{self, Conversion};
use super::failure::Failure;
use super::upstream::{RequestBody, UpstreamClient, UpstreamRequest};
use super::{
    client_body, headers, key_header, slug_and_tail, tag_key, timeout_of, with_query, ProxyState,
};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{web, HttpRequest, HttpResponse};
use converters::Options;
use domain::llm::{detect_client_format, ClientFormat, FormatHints, KeyPlacement, LlmAdapter};
use domain::{ApiFormat, ConfigType, KeyLocation, LlmTarget, OutputFormat, ProxyTarget};
use futures_util::StreamExt;
use secrecy::ExposeSecret;

/// Headers in which SDKs send their API key; never forwarded upstream.
const CLIENT_KEY_HEADERS: &[&str] = &["authorization", "x-api-key", "x-goog-api-key"];
/// Query parameter of the Gemini SDKs' key; never forwarded upstream.
const CLIENT_KEY_QUERY: &str = "key";
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The handler.
pub async fn proxy(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ProxyState>,
    client: web::Data<UpstreamClient>,
) -> HttpResponse {
    let (_, tail) = slug_and_tail(&req);
    let hints = FormatHints {
        anthropic_version: req.headers().contains_key("anthropic-version"),
        google_key: req.headers().contains_key("x-goog-api-key")
            || headers::query_value(req.query_string(), CLIENT_KEY_QUERY).is_some(),
    };
    let detected = detect_client_format(tail, hints);
    match forward(&req, payload, &state, &client, detected).await {
        Ok(response) => response,
        Err((failure, format)) => {
            failure.render(Some(format.or(detected).unwrap_or(ClientFormat::Openai)))
        }
    }
}

type Failed = (Failure, Option<ClientFormat>);

async fn forward(
    req: &HttpRequest,
    payload: web::Payload,
    state: &ProxyState,
    client: &UpstreamClient,
    detected: Option<ClientFormat>,
) -> Result<HttpResponse, Failed> {
    let (slug, tail) = slug_and_tail(req);
    let service = state
        .service
        .resolve(slug, ConfigType::Llm)
        .map_err(|e| (e.into(), None))?;
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

    // The client key, where the SDK put it; the body only as a last resort
    // (or when the body has to be read anyway, for conversion).
    let mut body = client_body(req, payload);
    let mut presented = client_key_from_request(req.headers(), req.query_string());
    if presented.is_none() || converting {
        if let RequestBody::Stream { payload, .. } = body {
            let (key, rewritten) = client_key_from_body(payload, state.max_body_bytes)
                .await
                .map_err(fail)?;
            presented = presented.or(key);
            body = RequestBody::Bytes(rewritten);
        }
    }
    let identity = state
        .service
        .authenticate(&service, presented.as_deref())
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
    let chosen = state
        .service
        .choose_key(&service)
        .await
        .map_err(|e| fail(e.into()))?;
    let key = &service.keys[chosen.index];
    let secret = key.secret.expose_secret();

    let adapter = adapters_llm::adapter_for(target.api_format);
    let placement = placement(target, &adapter);
    let key_name = placement.name.to_ascii_lowercase();
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
    let mut strip: Vec<&str> = CLIENT_KEY_HEADERS.to_vec();
    strip.push(&key_name);
    let mut forwarded: Vec<(HeaderName, HeaderValue)> = headers::forwardable(req.headers(), &strip)
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    if let Some(header) = key_header(placement.location, &placement.name, secret).map_err(fail)? {
        forwarded.push(header);
    }
    if target.api_format == ApiFormat::AnthropicNative
        && !req.headers().contains_key("anthropic-version")
    {
        forwarded.push((
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(ANTHROPIC_VERSION),
        ));
    }
    let timeout = timeout_of(&service.config, state.default_timeout);
    if let (Some(conversion), Some((prepared, target_request))) = (&conversion, prepared) {
        let mut query = match placement.location {
            KeyLocation::Query => headers::rewrite_query("", &[], Some((&placement.name, secret))),
            KeyLocation::Header | KeyLocation::Bearer => String::new(),
        };
        if let Some(extra) = target_request.query {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(extra);
        }
        let request = UpstreamRequest {
            method: target_request.method,
            url: with_query(
                adapter.upstream_url(&target.target_base_url, &target_request.path),
                &query,
            ),
            headers: convert::request_headers(forwarded, target_request.body.is_some()),
            timeout,
        };
        tracing::debug!(service = %service.config.slug, client = %identity.name, format = client_format.as_str(),
            upstream = target.api_format.as_str(), key_id = key.key.id, key = %key.key.key_masked, "forwarding converted");
        let mut response = convert::exchange(
            client,
            request,
            target_request.body,
            prepared,
            conversion,
            secret,
        )
        .await
        .map_err(fail)?;
        tag_key(&mut response, state.expose_key_id, key.key.id);
        return Ok(response);
    }
    let request = UpstreamRequest {
        method: req.method().clone(),
        url: with_query(adapter.upstream_url(&target.target_base_url, tail), &query),
        headers: forwarded,
        timeout,
    };
    tracing::debug!(service = %service.config.slug, client = %identity.name, format = client_format.as_str(),
        key_id = key.key.id, key = %key.key.key_masked, "forwarding");
    let mut response = client
        .forward(request, body)
        .await
        .map_err(|e| fail(e.without_secret(secret).into()))?;
    tag_key(&mut response, state.expose_key_id, key.key.id);
    Ok(response)
}

/// Where the upstream key goes: the service's override, else the format's default.
fn placement(target: &LlmTarget, adapter: &impl LlmAdapter) -> KeyPlacement {
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
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    header("authorization")
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .or_else(|| header("x-api-key"))
        .or_else(|| header("x-goog-api-key"))
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .or_else(|| headers::query_value(query, CLIENT_KEY_QUERY).filter(|k| !k.is_empty()))
}

/// Reads a JSON body (up to `limit`) for its `api_key` field, and returns
/// the body without it.
async fn client_key_from_body(
    mut payload: web::Payload,
    limit: usize,
) -> Result<(Option<String>, Bytes), Failure> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| Failure::BadBody(format!("cannot read the request body: {e}")))?;
        if buf.len() + chunk.len() > limit {
            return Err(Failure::BodyTooLarge(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    let Ok(serde_json::Value::Object(mut object)) =
        serde_json::from_slice::<serde_json::Value>(&buf)
    else {
        return Ok((None, buf.freeze()));
    };
    let Some(serde_json::Value::String(key)) = object.remove("api_key") else {
        return Ok((None, buf.freeze()));
    };
    let rewritten = serde_json::to_vec(&object).map_err(|e| Failure::BadBody(e.to_string()))?;
    Ok((Some(key), Bytes::from(rewritten)))
}

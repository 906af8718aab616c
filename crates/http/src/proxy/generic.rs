//! `ANY /proxy/{slug}/{rest}`: the generic REST proxy (SPEC §4).

use super::attempts::{self, Answer};
use super::exchange::Exchange;
use super::failure::Failure;
use super::upstream::{self, UpstreamClient, UpstreamRequest};
use super::{
    client_body, headers, join, key_header, slug_and_tail, tag_key, timeout_of, with_query,
    ProxyState,
};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use app::snapshot::PoolKey;
use domain::{ConfigType, KeyLocation, ProxyTarget};
use secrecy::ExposeSecret;

/// Header carrying the client key on the generic proxy.
pub const PROXY_KEY_HEADER: &str = "x-proxy-key";

/// The handler.
pub async fn proxy(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ProxyState>,
    client: web::Data<UpstreamClient>,
) -> HttpResponse {
    let mut exchange = Exchange::start(state.service.telemetry(), &req, slug_and_tail(&req).0);
    let mut response = forward(&req, payload, &state, &client, &mut exchange)
        .await
        .unwrap_or_else(|failure| failure.render(None));
    exchange.respond(&mut response);
    response
}

async fn forward(
    req: &HttpRequest,
    payload: web::Payload,
    state: &ProxyState,
    client: &UpstreamClient,
    exchange: &mut Exchange,
) -> Result<HttpResponse, Failure> {
    let (slug, tail) = slug_and_tail(req);
    let service = state.service.resolve(slug, ConfigType::Generic)?;
    exchange.service(&service);
    let ProxyTarget::Generic(target) = &service.config.target else {
        return Err(app::proxy::ProxyError::UnknownService(slug.to_owned()).into());
    };
    let presented = req
        .headers()
        .get(PROXY_KEY_HEADER)
        .and_then(|v| v.to_str().ok());
    let identity = state.service.authenticate(&service, presented)?;
    exchange.client(&identity);
    state.service.admit(&identity).await?;
    if !target.method.allows(req.method().as_str()) {
        return Err(Failure::MethodNotAllowed {
            method: req.method().to_string(),
            allowed: target.method.to_string(),
        });
    }
    let timeout = timeout_of(&service.config, state.default_timeout);
    let build = |key: &PoolKey| {
        let secret = key.secret.expose_secret();
        let key_header_name = target.api_key_name.to_ascii_lowercase();
        let mut strip = vec![PROXY_KEY_HEADER];
        let query = match target.api_key_location {
            KeyLocation::Query => headers::rewrite_query(
                req.query_string(),
                &[target.api_key_name.as_str()],
                Some((&target.api_key_name, secret)),
            ),
            KeyLocation::Header | KeyLocation::Bearer => {
                strip.push(key_header_name.as_str());
                req.query_string().to_owned()
            }
        };
        let mut forwarded: Vec<(HeaderName, HeaderValue)> =
            headers::forwardable(req.headers(), &strip)
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect();
        if let Some(header) = key_header(target.api_key_location, &target.api_key_name, secret)? {
            forwarded.push(header);
        }
        tracing::debug!(service = %service.config.slug, client = %identity.name, key_id = key.key.id,
            key = %key.key.key_masked, "forwarding");
        Ok(UpstreamRequest {
            method: req.method().clone(),
            url: with_query(join(&target.target_url, tail), &query),
            headers: forwarded,
            timeout,
        })
    };
    let answer = attempts::run(
        state,
        client,
        &service,
        exchange,
        client_body(req, payload),
        build,
    )
    .await?;
    let (mut response, index) = match answer {
        Answer::Success { response, index } => (
            upstream::relay(response, req.method() == Method::HEAD, timeout, exchange),
            index,
        ),
        Answer::Error {
            status,
            headers,
            body,
            index,
        } => (upstream::buffered(status, headers, body), index),
    };
    tag_key(
        &mut response,
        state.expose_key_id,
        service.keys[index].key.id,
    );
    Ok(response)
}

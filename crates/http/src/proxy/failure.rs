//! Errors of the proxies, rendered in the gateway's shape on `/proxy` and in
//! the client's API format on `/llm` (so SDKs raise their normal exceptions).

use super::upstream::UpstreamFailure;
use crate::error::{ErrorBody, ErrorDetail};
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use app::proxy::ProxyError;
use domain::llm::{ClientFormat, FormatHandler};
use std::time::Duration;

/// Anything that stops a proxied request before an upstream answer is relayed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Refused by the proxy's rules.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    /// The generic service does not accept this method.
    #[error("method {method} not allowed; this service accepts {allowed}")]
    MethodNotAllowed {
        /// What came.
        method: String,
        /// What is accepted.
        allowed: String,
    },
    /// The upstream could not be used.
    #[error(transparent)]
    Upstream(#[from] UpstreamFailure),
    /// A body the gateway had to read is over `MAX_BODY_BYTES`.
    #[error("request body is larger than MAX_BODY_BYTES ({0} bytes)")]
    BodyTooLarge(usize),
    /// A body the gateway had to read is malformed.
    #[error("{0}")]
    BadBody(String),
    /// A request or answer that could not be converted between formats.
    #[error(transparent)]
    Conversion(#[from] converters::ConvertError),
}

impl Failure {
    fn parts(&self) -> (StatusCode, &'static str, Option<Duration>) {
        match self {
            Failure::Proxy(e) => match e {
                ProxyError::UnknownService(_) => (StatusCode::NOT_FOUND, "service_not_found", None),
                ProxyError::MissingClientKey => {
                    (StatusCode::UNAUTHORIZED, "missing_client_key", None)
                }
                ProxyError::InvalidClientKey => {
                    (StatusCode::UNAUTHORIZED, "invalid_client_key", None)
                }
                ProxyError::ClientKeyRevoked => {
                    (StatusCode::UNAUTHORIZED, "client_key_revoked", None)
                }
                ProxyError::ClientKeyExpired => {
                    (StatusCode::UNAUTHORIZED, "client_key_expired", None)
                }
                ProxyError::ClientKeyNotAllowed(_) => {
                    (StatusCode::FORBIDDEN, "client_key_forbidden", None)
                }
                ProxyError::NoAvailableKey { retry_after, .. } => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no_available_key",
                    *retry_after,
                ),
                ProxyError::ClientRateLimited { retry_after, .. } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    Some(*retry_after),
                ),
                ProxyError::Cache(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "rotation_unavailable",
                    None,
                ),
            },
            Failure::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None)
            }
            Failure::Upstream(UpstreamFailure::Timeout) => {
                (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout", None)
            }
            Failure::Upstream(UpstreamFailure::Unreachable(_)) => {
                (StatusCode::BAD_GATEWAY, "upstream_unreachable", None)
            }
            Failure::BodyTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", None),
            Failure::BadBody(_) => (StatusCode::BAD_REQUEST, "invalid_request_body", None),
            Failure::Conversion(e) => (
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
                e.code(),
                None,
            ),
        }
    }

    /// The response: in the gateway's shape when `format` is `None`, else in
    /// that client format.
    pub fn render(&self, format: Option<ClientFormat>) -> HttpResponse {
        let (status, code, retry_after) = self.parts();
        let message = self.to_string();
        if status.is_server_error() {
            tracing::warn!(code, %message, "proxy error");
        } else {
            tracing::debug!(code, %message, "proxy request refused");
        }
        let mut response = HttpResponse::build(status);
        if let Some(wait) = retry_after {
            // Round up: a client retrying on the second must not come back early.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response.insert_header((header::RETRY_AFTER, seconds.max(1).to_string()));
        }
        if let Failure::MethodNotAllowed { allowed, .. } = self {
            response.insert_header((header::ALLOW, allowed.clone()));
        }
        match format {
            None => response.json(ErrorBody {
                error: ErrorDetail {
                    code: code.to_owned(),
                    message,
                    field: None,
                },
            }),
            Some(format) => response.json(converters::handler_for(format).render_error(
                status.as_u16(),
                code,
                &message,
            )),
        }
    }
}

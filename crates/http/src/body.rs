//! JSON request bodies, read with the `MAX_BODY_BYTES` limit and turned into
//! clear errors (413 too large, 400 malformed).

use crate::{AdminState, ApiError};
use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::web::{BytesMut, Data};
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde_json::Value;

/// Default limit when no [`AdminState`] is registered.
const DEFAULT_LIMIT: usize = 10 * 1024 * 1024;

/// A request body parsed as JSON (any value; handlers validate the shape).
#[derive(Debug)]
pub struct JsonBody(pub Value);

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("request body is larger than MAX_BODY_BYTES ({limit} bytes)"),
    )
}

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<Data<AdminState>>()
            .map_or(DEFAULT_LIMIT, |state| state.max_body_bytes);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if declared.is_some_and(|len| len > limit) {
                return Err(too_large(limit));
            }
            let mut buf = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| {
                    ApiError::bad_request("body_read_error", format!("cannot read the body: {e}"))
                })?;
                if buf.len() + chunk.len() > limit {
                    return Err(too_large(limit));
                }
                buf.extend_from_slice(&chunk);
            }
            if buf.is_empty() {
                return Err(ApiError::bad_request(
                    "invalid_json",
                    "request body is empty; a JSON object is expected",
                ));
            }
            serde_json::from_slice(&buf).map(JsonBody).map_err(|e| {
                ApiError::bad_request(
                    "invalid_json",
                    format!("request body is not valid JSON: {e}"),
                )
            })
        })
    }
}

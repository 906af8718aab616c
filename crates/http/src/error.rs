//! The gateway's own error responses: `{"error": {"code", "message"}}`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use app::AdminError;
use serde::Serialize;

/// An error answered by the gateway itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// snake_case code.
    pub code: &'static str,
    /// Human readable message.
    pub message: String,
    /// The offending field, for validation errors.
    pub field: Option<String>,
    /// Seconds for `Retry-After`.
    pub retry_after_s: Option<u64>,
}

/// Wire shape of an error (also used by the OpenAPI document).
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[derive(utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Inside [`ErrorBody`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub struct ErrorDetail {
    /// snake_case code, stable for programs.
    pub code: String,
    /// For people.
    pub message: String,
    /// The offending field of a validation error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after_s: None,
        }
    }

    /// 400.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// Names the offending field.
    #[must_use]
    pub fn field(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Validation(field_error) => Self {
                field: Some(field_error.field.clone()),
                ..Self::bad_request("validation_error", field_error.to_string())
            },
            AdminError::NotFound(what) => Self::not_found(format!("{what} not found")),
            AdminError::Conflict { field, message } => Self {
                field: Some(field.clone()),
                ..Self::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    format!("{field}: {message}"),
                )
            },
            AdminError::Unauthorized(message) => Self::unauthorized(message),
            AdminError::RateLimited { retry_after } => Self {
                retry_after_s: Some(retry_after.as_secs().max(1)),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "too many failed logins; try again later",
                )
            },
            AdminError::Unavailable(reason) => {
                tracing::error!(%reason, "storage unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "the database is unavailable; nothing was changed",
                )
            }
            AdminError::Internal(reason) => {
                tracing::error!(%reason, "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "internal error",
                )
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after_s {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.clone(),
                field: self.field.clone(),
            },
        })
    }
}

impl actix_web::Responder for ApiError {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _req: &actix_web::HttpRequest) -> HttpResponse {
        self.error_response()
    }
}

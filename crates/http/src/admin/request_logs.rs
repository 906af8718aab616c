use crate::auth::AdminUser;
use crate::error::ErrorBody;
use crate::{AdminState, ApiError};
use actix_web::{web, HttpResponse};
use app::admin::RequestLogPage;
use domain::request_log::{RequestLogQuery, PAGE_MAX};
use serde::Deserialize;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/request-logs", web::get().to(request_logs));
}

/// Filters of `GET /request-logs`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    /// Service slug.
    service: Option<String>,
    /// Client key name.
    client_key: Option<String>,
    /// `2xx`, `4xx` or `5xx`.
    status: Option<String>,
    /// RFC 3339 time, inclusive.
    since: Option<String>,
    /// RFC 3339 time, exclusive.
    until: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Rows per page, 1–500 (default 50).
    limit: Option<u32>,
}

fn time(field: &str, value: Option<&str>) -> Result<Option<domain::Timestamp>, ApiError> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            domain::time_fmt::parse_rfc3339(v).map_err(|e| {
                ApiError::bad_request("validation_error", format!("{field}: {e}")).field(field)
            })
        })
        .transpose()
}

/// The request log, newest first, filtered and paged by cursor.
#[utoipa::path(get, path = "/api/admin/request-logs", tag = "request log", security(("bearer" = [])),
    params(Filters),
    responses((status = 200, body = RequestLogPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn request_logs(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    filters: web::Query<Filters>,
) -> Result<HttpResponse, ApiError> {
    let filters = filters.into_inner();
    let status_class = match filters.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some("2xx") => Some(2),
        Some("3xx") => Some(3),
        Some("4xx") => Some(4),
        Some("5xx") => Some(5),
        Some(other) => {
            return Err(ApiError::bad_request(
                "validation_error",
                format!("status: expected 2xx, 3xx, 4xx or 5xx, got {other:?}"),
            )
            .field("status"))
        }
    };
    let before_id = match filters.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(cursor) => Some(cursor.parse::<i64>().map_err(|_| {
            ApiError::bad_request("validation_error", "cursor: not a cursor from next_cursor")
                .field("cursor")
        })?),
    };
    let limit = filters.limit.unwrap_or(50);
    if !(1..=PAGE_MAX).contains(&limit) {
        return Err(ApiError::bad_request(
            "validation_error",
            format!("limit: must be 1 to {PAGE_MAX}"),
        )
        .field("limit"));
    }
    let query = RequestLogQuery {
        service: filters.service.filter(|s| !s.is_empty()),
        client_key: filters.client_key.filter(|s| !s.is_empty()),
        status_class,
        since: time("since", filters.since.as_deref())?,
        until: time("until", filters.until.as_deref())?,
        before_id,
        limit,
    };
    Ok(HttpResponse::Ok().json(state.service.request_logs(query).await?))
}

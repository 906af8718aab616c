use crate::auth::AdminUser;
use crate::body::JsonBody;
use crate::error::ErrorBody;
use crate::{AdminState, ApiError};
use actix_web::{web, HttpResponse};
use app::admin::BatchReport;

/// Body of `POST /proxy-configs/{id}/keys/batch`.
#[derive(utoipa::ToSchema)]
pub struct BatchRequest {
    /// Keys; each entry may hold several keys on separate lines. Blank lines are ignored.
    pub keys: Vec<String>,
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/proxy-configs/{id}/keys/batch",
        web::post().to(import_keys),
    );
}

/// Imports many keys; duplicates are skipped, invalid ones reported masked.
#[utoipa::path(post, path = "/api/admin/proxy-configs/{id}/keys/batch", tag = "keys", security(("bearer" = [])),
    params(("id" = i64, Path, description = "service id")), request_body = BatchRequest,
    responses((status = 200, body = BatchReport), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn import_keys(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    id: web::Path<i64>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.service.import_keys(id.into_inner(), body.0).await?))
}

use crate::auth::AdminUser;
use crate::body::JsonBody;
use crate::error::ErrorBody;
use crate::{AdminState, ApiError};
use actix_web::{web, HttpResponse};
use app::admin::KeyView;

/// Body of `PATCH /keys/{key_id}`; absent fields stay unchanged.
#[derive(utoipa::ToSchema)]
pub struct KeyPatchRequest {
    /// Enable (clears health) or disable.
    pub is_active: Option<bool>,
    /// 1 to 1000.
    pub weight: Option<u32>,
    /// Requests per minute; null removes the limit.
    pub rpm_limit: Option<u32>,
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/keys/{key_id}", web::patch().to(patch_key));
}

/// Updates a key.
#[utoipa::path(patch, path = "/api/admin/keys/{key_id}", tag = "keys", security(("bearer" = [])),
    params(("key_id" = i64, Path, description = "key id")), request_body = KeyPatchRequest,
    responses((status = 200, body = KeyView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn patch_key(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    key_id: web::Path<i64>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.service.patch_key(key_id.into_inner(), body.0).await?))
}

use crate::auth::AdminUser;
use crate::body::JsonBody;
use crate::error::ErrorBody;
use crate::{AdminState, ApiError};
use actix_web::{web, HttpResponse};
use app::admin::KeyView;

/// Body of `POST /proxy-configs/{id}/keys`.
#[derive(utoipa::ToSchema)]
pub struct NewKeyRequest {
    /// The upstream key (stored encrypted, never returned).
    pub key_value: String,
    /// Default true.
    pub is_active: Option<bool>,
    /// 1 to 1000, default 1.
    pub weight: Option<u32>,
    /// Requests per minute, optional.
    pub rpm_limit: Option<u32>,
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/proxy-configs/{id}/keys", web::post().to(add_key));
}

/// Adds one key to a service's pool.
#[utoipa::path(post, path = "/api/admin/proxy-configs/{id}/keys", tag = "keys", security(("bearer" = [])),
    params(("id" = i64, Path, description = "service id")), request_body = NewKeyRequest,
    responses((status = 201, body = KeyView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn add_key(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    id: web::Path<i64>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(state.service.add_key(id.into_inner(), body.0).await?))
}

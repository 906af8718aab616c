use crate::auth::AdminUser;
use crate::body::JsonBody;
use crate::error::ErrorBody;
use crate::{AdminState, ApiError};
use actix_web::{web, HttpResponse};
use domain::ClientKey;

/// Body of `PATCH /client-keys/{id}`; absent fields stay, null clears.
#[derive(utoipa::ToSchema)]
pub struct ClientKeyPatchRequest {
    /// New name.
    pub name: Option<String>,
    /// Revoke (false) or restore.
    pub is_active: Option<bool>,
    /// Slugs it may call; null allows all.
    pub allowed_slugs: Option<Vec<String>>,
    /// Requests per minute; null removes the limit.
    pub rpm_limit: Option<u32>,
    /// RFC 3339 expiry; null removes it.
    pub expires_at: Option<String>,
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/client-keys/{id}", web::patch().to(patch_client_key));
}

/// Updates a client key.
#[utoipa::path(patch, path = "/api/admin/client-keys/{id}", tag = "client keys", security(("bearer" = [])),
    params(("id" = i64, Path, description = "client key id")), request_body = ClientKeyPatchRequest,
    responses((status = 200, body = ClientKey), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn patch_client_key(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    id: web::Path<i64>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        state
            .service
            .patch_client_key(id.into_inner(), body.0)
            .await?,
    ))
}

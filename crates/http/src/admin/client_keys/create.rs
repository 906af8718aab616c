use crate::auth::AdminUser;
use crate::body::JsonBody;
use crate::error::ErrorBody;
use crate::{AdminState, ApiError};
use actix_web::{web, HttpResponse};
use app::admin::CreatedClientKey;

/// Body of `POST /client-keys`.
#[derive(utoipa::ToSchema)]
pub struct NewClientKeyRequest {
    /// Who the key is for.
    pub name: String,
    /// Slugs it may call; absent means all.
    pub allowed_slugs: Option<Vec<String>>,
    /// RFC 3339 expiry, in the future.
    pub expires_at: Option<String>,
    /// Requests per minute.
    pub rpm_limit: Option<u32>,
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/client-keys", web::post().to(create_client_key));
}

/// Creates a client key; the full `key` is in this answer only.
#[utoipa::path(post, path = "/api/admin/client-keys", tag = "client keys", security(("bearer" = [])),
    request_body = NewClientKeyRequest,
    responses((status = 201, body = CreatedClientKey), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn create_client_key(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(state.service.create_client_key(body.0).await?))
}

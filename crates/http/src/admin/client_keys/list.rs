use crate::auth::AdminUser;
use crate::error::ErrorBody;
use crate::{AdminState, ApiError};
use actix_web::{web, HttpResponse};
use domain::ClientKey;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/client-keys", web::get().to(list_client_keys));
}

/// Every client key, masked, with usage.
#[utoipa::path(get, path = "/api/admin/client-keys", tag = "client keys", security(("bearer" = [])),
    responses((status = 200, body = [ClientKey]), (status = 401, body = ErrorBody)))]
pub async fn list_client_keys(
    state: web::Data<AdminState>,
    _admin: AdminUser,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.service.list_client_keys().await?))
}

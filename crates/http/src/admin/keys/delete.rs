use crate::auth::AdminUser;
use crate::error::ErrorBody;
use crate::{AdminState, ApiError};
use actix_web::{web, HttpResponse};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/keys/{key_id}", web::delete().to(delete_key));
}

/// Deletes a key.
#[utoipa::path(delete, path = "/api/admin/keys/{key_id}", tag = "keys", security(("bearer" = [])),
    params(("key_id" = i64, Path, description = "key id")),
    responses((status = 204, description = "deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_key(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    key_id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    state.service.delete_key(key_id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

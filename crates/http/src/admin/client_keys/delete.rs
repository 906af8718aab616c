use crate::auth::AdminUser;
use crate::error::ErrorBody;
use crate::{AdminState, ApiError};
use actix_web::{web, HttpResponse};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/client-keys/{id}", web::delete().to(delete_client_key));
}

/// Deletes a client key.
#[utoipa::path(delete, path = "/api/admin/client-keys/{id}", tag = "client keys", security(("bearer" = [])),
    params(("id" = i64, Path, description = "client key id")),
    responses((status = 204, description = "deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_client_key(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    state.service.delete_client_key(id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

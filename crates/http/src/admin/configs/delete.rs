use crate::auth::AdminUser;
use crate::error::ErrorBody;
use crate::{AdminState, ApiError};
use actix_web::{web, HttpResponse};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/proxy-configs/{id}", web::delete().to(delete_config));
}

/// Deletes a service and its keys.
#[utoipa::path(delete, path = "/api/admin/proxy-configs/{id}", tag = "services", security(("bearer" = [])),
    params(("id" = i64, Path, description = "service id")),
    responses((status = 204, description = "deleted"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_config(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    state.service.delete_config(id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

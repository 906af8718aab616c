use crate::auth::AdminUser;
use crate::error::ErrorBody;
use crate::{AdminState, ApiError};
use actix_web::{web, HttpResponse};
use serde_json::json;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/proxy-configs/{id}/keys", web::delete().to(clear_keys));
}

/// Deletes every key of a service.
#[utoipa::path(delete, path = "/api/admin/proxy-configs/{id}/keys", tag = "keys", security(("bearer" = [])),
    params(("id" = i64, Path, description = "service id")),
    responses((status = 200, description = "`{\"deleted_count\": n}`", body = serde_json::Value),
              (status = 404, body = ErrorBody)))]
pub async fn clear_keys(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let deleted = state.service.clear_keys(id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({ "deleted_count": deleted })))
}

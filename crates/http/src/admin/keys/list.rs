use crate::auth::AdminUser;
use crate::error::ErrorBody;
use crate::{AdminState, ApiError};
use actix_web::{web, HttpResponse};
use app::admin::KeyView;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/proxy-configs/{id}/keys", web::get().to(list_keys));
}

/// Keys of a service: masked, with health and usage.
#[utoipa::path(get, path = "/api/admin/proxy-configs/{id}/keys", tag = "keys", security(("bearer" = [])),
    params(("id" = i64, Path, description = "service id")),
    responses((status = 200, body = [KeyView]), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_keys(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.service.list_keys(id.into_inner()).await?))
}

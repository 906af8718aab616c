use crate::auth::AdminUser;
use crate::body::JsonBody;
use crate::error::ErrorBody;
use crate::{AdminState, ApiError};
use actix_web::{web, HttpResponse};
use app::admin::ConfigView;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/proxy-configs/{id}", web::put().to(update_config));
}

/// Replaces a service (read-only fields in the body are ignored).
#[utoipa::path(put, path = "/api/admin/proxy-configs/{id}", tag = "services", security(("bearer" = [])),
    params(("id" = i64, Path, description = "service id")), request_body = domain::ProxyConfig,
    responses((status = 200, body = ConfigView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_config(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    id: web::Path<i64>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.service.update_config(id.into_inner(), body.0).await?))
}

use crate::auth::AdminUser;
use crate::error::ErrorBody;
use crate::{AdminState, ApiError};
use actix_web::{web, HttpResponse};
use app::admin::ConfigView;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/proxy-configs/{id}", web::get().to(get_config));
}

/// One service.
#[utoipa::path(get, path = "/api/admin/proxy-configs/{id}", tag = "services", security(("bearer" = [])),
    params(("id" = i64, Path, description = "service id")),
    responses((status = 200, body = ConfigView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_config(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.service.get_config(id.into_inner()).await?))
}

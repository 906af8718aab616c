use crate::auth::AdminUser;
use crate::error::ErrorBody;
use crate::{AdminState, ApiError};
use actix_web::{web, HttpResponse};
use app::admin::ConfigView;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/proxy-configs", web::get().to(list_configs));
}

/// Every service with its key counts.
#[utoipa::path(get, path = "/api/admin/proxy-configs", tag = "services", security(("bearer" = [])),
    responses((status = 200, body = [ConfigView]), (status = 401, body = ErrorBody)))]
pub async fn list_configs(
    state: web::Data<AdminState>,
    _admin: AdminUser,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.service.list_configs().await?))
}

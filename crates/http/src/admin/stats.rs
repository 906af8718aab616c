use crate::auth::AdminUser;
use crate::error::ErrorBody;
use crate::{AdminState, ApiError};
use actix_web::{web, HttpResponse};
use app::admin::Stats;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/stats", web::get().to(stats));
}

/// Usage totals, overall and per service, with each service's key health summary.
#[utoipa::path(get, path = "/api/admin/stats", tag = "stats", security(("bearer" = [])),
    responses((status = 200, body = Stats), (status = 401, body = ErrorBody)))]
pub async fn stats(
    state: web::Data<AdminState>,
    _admin: AdminUser,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.service.stats().await?))
}

use crate::AdminState;
use actix_web::{web, HttpResponse};
use app::AppInfo;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/app-config", web::get().to(app_config));
}

/// Public facts about this instance (no authentication).
#[utoipa::path(get, path = "/api/admin/app-config", tag = "auth", responses((status = 200, body = AppInfo)))]
pub async fn app_config(state: web::Data<AdminState>) -> HttpResponse {
    HttpResponse::Ok().json(state.service.app_info())
}

use crate::auth::AdminUser;
use crate::body::JsonBody;
use crate::error::ErrorBody;
use crate::{AdminState, ApiError};
use actix_web::{web, HttpResponse};
use app::admin::ConfigView;

/// Body of `PUT /proxy-configs/{id}/status`.
#[derive(utoipa::ToSchema)]
pub struct StatusRequest {
    /// Whether the service serves requests.
    pub is_active: bool,
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/proxy-configs/{id}/status", web::put().to(set_status));
}

/// Activates or deactivates a service.
#[utoipa::path(put, path = "/api/admin/proxy-configs/{id}/status", tag = "services", security(("bearer" = [])),
    params(("id" = i64, Path, description = "service id")), request_body = StatusRequest,
    responses((status = 200, body = ConfigView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_status(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    id: web::Path<i64>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        state
            .service
            .set_config_status(id.into_inner(), body.0)
            .await?,
    ))
}

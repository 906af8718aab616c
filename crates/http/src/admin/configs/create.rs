use crate::auth::AdminUser;
use crate::body::JsonBody;
use crate::error::ErrorBody;
use crate::{AdminState, ApiError};
use actix_web::{web, HttpResponse};
use app::admin::ConfigView;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/proxy-configs", web::post().to(create_config));
}

/// Creates a service.
#[utoipa::path(post, path = "/api/admin/proxy-configs", tag = "services", security(("bearer" = [])),
    request_body = domain::ProxyConfig,
    responses((status = 201, body = ConfigView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn create_config(
    state: web::Data<AdminState>,
    _admin: AdminUser,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let view = state.service.create_config(body.0).await?;
    Ok(HttpResponse::Created().json(view))
}

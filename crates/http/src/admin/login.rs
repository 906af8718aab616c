use crate::body::JsonBody;
use crate::error::ErrorBody;
use crate::{AdminState, ApiError};
use actix_web::{web, HttpRequest, HttpResponse};
use app::admin::TokenResponse;
use domain::Fields;
use serde::Deserialize;
use std::sync::Arc;

/// Body of `POST /login`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    /// Admin user name.
    pub username: String,
    /// Admin password.
    pub password: String,
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::post().to(login));
}

/// Exchanges admin credentials for a bearer token.
#[utoipa::path(post, path = "/api/admin/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    state: web::Data<AdminState>,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let mut fields = Fields::from_object(body.0, &["username", "password"], &[])
        .map_err(app::AdminError::from)?;
    let username: String = fields.required("username").map_err(app::AdminError::from)?;
    let password: String = fields.required("password").map_err(app::AdminError::from)?;
    let client = req
        .peer_addr()
        .map_or_else(|| "unknown".to_owned(), |addr| addr.ip().to_string());
    let service = Arc::clone(&state.service);
    // argon2 is deliberately slow and memory-hungry: off the async workers.
    let token =
        app::password::off_the_workers(move || service.login(&username, &password, &client))
            .await
            .map_err(|e| ApiError::from(app::AdminError::Internal(e.to_string())))??;
    Ok(HttpResponse::Ok().json(token))
}

//! The admin JWT extractor.

use crate::{AdminState, ApiError};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest};
use std::future::{ready, Ready};

/// An authenticated admin (the request carried a valid bearer token).
#[derive(Debug, Clone)]
pub struct AdminUser {
    /// The admin's user name.
    pub username: String,
}

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<AdminUser, ApiError> {
    let state = req
        .app_data::<Data<AdminState>>()
        .ok_or_else(|| ApiError::unauthorized("admin API not configured"))?;
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
    let claims = state.service.verify_token(token)?;
    Ok(AdminUser {
        username: claims.sub,
    })
}

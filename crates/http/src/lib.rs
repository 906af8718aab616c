//! HTTP layer (actix-web): the admin API, health and readiness, the OpenAPI
//! document, and rendering of errors. Wiring of backends happens in the binary.

pub mod admin;
pub mod auth;
pub mod body;
pub mod error;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod proxy;
pub mod ui;

use actix_web::web;
use app::AdminService;
use std::sync::Arc;

pub use error::ApiError;

/// Shared state of the admin and health routes.
pub struct AdminState {
    /// The admin use cases.
    pub service: Arc<AdminService>,
    /// Largest accepted request body (`MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// `METRICS_TOKEN`: bearer token `/metrics` requires, if set.
    pub metrics_token: Option<secrecy::SecretString>,
}

/// Registers every route of this crate. The caller adds `web::Data<AdminState>`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PathConfig::default().error_handler(|err, _req| {
        ApiError::bad_request("invalid_path", format!("bad path parameter: {err}")).into()
    }))
    .app_data(web::QueryConfig::default().error_handler(|err, _req| {
        ApiError::bad_request("invalid_query", format!("bad query string: {err}")).into()
    }));
    health::config(cfg);
    metrics::config(cfg);
    openapi::config(cfg);
    proxy::config(cfg);
    ui::config(cfg);
    cfg.service(
        web::scope("/api")
            .configure(admin::config)
            .default_service(web::to(not_found)),
    );
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

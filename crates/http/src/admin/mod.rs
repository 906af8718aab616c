//! `/api/admin`: one handler per file, each module exposing `config`.

pub mod app_config;
pub mod client_keys;
pub mod configs;
pub mod keys;
pub mod login;
pub mod request_logs;
pub mod stats;

use actix_web::web;

/// Registers every admin route under `/admin` (inside the `/api` scope).
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .configure(login::config)
            .configure(app_config::config)
            .configure(configs::config)
            .configure(keys::config)
            .configure(client_keys::config)
            .configure(stats::config)
            .configure(request_logs::config)
            .default_service(web::to(crate::not_found)),
    );
}

//! The OpenAPI 3 document of the admin API, generated from the handlers'
//! annotations, served at `/api/docs/openapi.json`.

use crate::admin::{app_config, client_keys, configs, keys, login, request_logs, stats};
use crate::health;
use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The admin API document.
#[derive(OpenApi)]
#[openapi(
    info(title = "API Key Rotator admin API", description = "Manage services, upstream keys and client keys."),
    modifiers(&BearerAuth),
    paths(
        health::healthz, health::readyz,
        login::login, app_config::app_config,
        configs::create::create_config, configs::list::list_configs, configs::get::get_config,
        configs::update::update_config, configs::status::set_status, configs::delete::delete_config,
        keys::list::list_keys, keys::create::add_key, keys::batch::import_keys, keys::clear::clear_keys,
        keys::update::patch_key, keys::delete::delete_key, keys::test::test_key,
        client_keys::create::create_client_key, client_keys::list::list_client_keys,
        client_keys::update::patch_client_key, client_keys::delete::delete_client_key,
        stats::stats, request_logs::request_logs,
    ),
    components(schemas(domain::ErrorRule, domain::ErrorAction))
)]
pub struct ApiDoc;

/// Registers `/api/docs/openapi.json`.
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/docs/openapi.json", web::get().to(openapi_json));
}

async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

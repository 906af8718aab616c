//! Liveness and readiness.

use crate::AdminState;
use actix_web::{web, HttpResponse};
use serde_json::json;

/// Registers `/healthz` and `/readyz`.
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "alive", body = serde_json::Value, example = json!({"status": "ok"}))))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: the database and the cache answer.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "ready"), (status = 503, description = "database or cache down")))]
pub async fn readyz(state: web::Data<AdminState>) -> HttpResponse {
    let (database, cache) = state.service.readiness().await;
    let describe = |r: &Result<(), String>| match r {
        Ok(()) => json!("ok"),
        Err(reason) => json!({"error": reason}),
    };
    let body = json!({
        "status": if database.is_ok() && cache.is_ok() { "ok" } else { "unavailable" },
        "database": describe(&database),
        "cache": describe(&cache),
    });
    if database.is_ok() && cache.is_ok() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

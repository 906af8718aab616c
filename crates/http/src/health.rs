//! Liveness and readiness.

use crate::AdminState;
use actix_web::{web, HttpResponse};
use app::admin::Check;
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

/// Readiness: 200 when the database and the cache answer (`degraded` when a
/// per-instance fallback stands in for the shared cache), else 503 naming what failed.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "ready (possibly degraded)"), (status = 503, description = "database or cache down")))]
pub async fn readyz(state: web::Data<AdminState>) -> HttpResponse {
    let readiness = state.service.readiness().await;
    let describe = |check: &Check| match check {
        Check::Ok => json!("ok"),
        Check::Degraded(reason) => json!({"degraded": reason}),
        Check::Down(reason) => json!({"error": reason}),
    };
    let down =
        matches!(readiness.database, Check::Down(_)) || matches!(readiness.cache, Check::Down(_));
    let degraded = matches!(readiness.cache, Check::Degraded(_));
    let body = json!({
        "status": if down { "unavailable" } else if degraded { "degraded" } else { "ok" },
        "database": describe(&readiness.database),
        "cache": describe(&readiness.cache),
    });
    if down {
        HttpResponse::ServiceUnavailable().json(body)
    } else {
        HttpResponse::Ok().json(body)
    }
}

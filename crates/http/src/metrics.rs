//! `GET /metrics` (SPEC §2): Prometheus/OpenMetrics text, behind
//! `METRICS_TOKEN` when it is set.

use crate::AdminState;
use actix_web::{web, HttpRequest, HttpResponse};
use app::secrets::constant_time_eq;
use secrecy::ExposeSecret;

/// Registers `/metrics`.
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics));
}

async fn metrics(req: HttpRequest, state: web::Data<AdminState>) -> HttpResponse {
    let telemetry = state.service.telemetry();
    if !telemetry.metrics_enabled {
        return actix_web::ResponseError::error_response(&crate::ApiError::not_found(
            "metrics are disabled (METRICS_ENABLED=false)",
        ));
    }
    if let Some(token) = &state.metrics_token {
        let presented = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !constant_time_eq(presented.as_bytes(), token.expose_secret().as_bytes()) {
            return HttpResponse::Unauthorized()
                .insert_header(("www-authenticate", "Bearer"))
                .json(serde_json::json!({"error": {"code": "unauthorized", "message": "a valid METRICS_TOKEN bearer token is required"}}));
        }
    }
    // Key states are sampled now; a database outage leaves the last sample.
    match state.service.stats().await {
        Ok(stats) => {
            let gauge = &telemetry.metrics.key_states;
            gauge.clear();
            for service in stats.services {
                for (state, n) in [
                    ("healthy", service.keys.healthy),
                    ("cooling_down", service.keys.cooling_down),
                    ("invalid", service.keys.invalid),
                    ("disabled", service.keys.disabled),
                ] {
                    gauge
                        .get_or_create(&[
                            ("service", service.slug.clone()),
                            ("state", state.to_owned()),
                        ])
                        .set(i64::try_from(n).unwrap_or(i64::MAX));
                }
            }
        }
        Err(error) => tracing::warn!(%error, "key states not sampled for /metrics"),
    }
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(telemetry.metrics.render())
}

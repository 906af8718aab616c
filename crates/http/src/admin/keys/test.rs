use crate::auth::AdminUser;
use crate::error::ErrorBody;
use crate::proxy::probe::{probe, ProbeResult};
use crate::proxy::{ProxyState, UpstreamClient};
use crate::ApiError;
use actix_web::{web, HttpResponse};
use domain::KeyHealth;

/// Answer of `POST /keys/{key_id}/test`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct KeyTestResult {
    /// What the test call found.
    #[serde(flatten)]
    pub result: ProbeResult,
    /// The key's health after it (a successful test heals an invalid key).
    pub health: KeyHealth,
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/keys/{key_id}/test", web::post().to(test_key));
}

/// Tests a key: one cheap authenticated call to its upstream (the model
/// listing of LLM services, a GET of the target of generic ones), judged by
/// the service's error rules and recorded in the key's health.
#[utoipa::path(post, path = "/api/admin/keys/{key_id}/test", tag = "keys", security(("bearer" = [])),
    params(("key_id" = i64, Path, description = "key id")),
    responses((status = 200, body = KeyTestResult), (status = 404, body = ErrorBody, description = "no active key with this id")))]
pub async fn test_key(
    proxy: web::Data<ProxyState>,
    client: web::Data<UpstreamClient>,
    _admin: AdminUser,
    key_id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let key_id = key_id.into_inner();
    let (service, index) = proxy.service.find_key(key_id).ok_or_else(|| {
        ApiError::not_found(format!(
            "no active key {key_id} (disabled keys are not tested; enable it first)"
        ))
    })?;
    let key = &service.keys[index];
    let timeout = service.config.timeout_s.map_or(proxy.default_timeout, |s| {
        std::time::Duration::from_secs(u64::from(s))
    });
    let result = probe(&client, &service, key, timeout).await;
    let health = match &result.outcome {
        Some(outcome) => proxy
            .service
            .record_probe(key, outcome)
            .await
            .map_err(|e| {
                ApiError::new(
                    actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                    "cache_unavailable",
                    e.to_string(),
                )
            })?,
        None => KeyHealth::default(),
    };
    tracing::info!(key_id, key = %key.key.key_masked, ok = result.ok, status = ?result.status, "key tested");
    Ok(HttpResponse::Ok().json(KeyTestResult { result, health }))
}

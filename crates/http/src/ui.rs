//! The embedded web UI (SPEC §2): `GET /` and `/ui/...`, built into the
//! binary by `build.rs` from `crates/http/ui/`. Plain HTML, CSS and JS
//! modules, no build step.
//!
//! Caching: every file carries its content hash as `ETag` and is revalidated
//! (`no-cache`); the page asks for its stylesheet and entry script as
//! `?v=<hash>`, which may be cached for a year since a new build changes the URL.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use std::sync::OnceLock;

/// `(path under ui/, bytes, content hash)`, sorted by path.
static ASSETS: &[(&str, &[u8], &str)] = include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

/// Scripts, styles and data come only from this origin; nothing may frame the UI.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; manifest-src 'self'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Registers `/`, `/index.html` and `/ui/{file}`.
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/index.html", web::get().to(index))
        .route("/ui/{file:.*}", web::get().to(asset));
}

/// Total size of the embedded files, in bytes.
#[must_use]
pub fn embedded_bytes() -> usize {
    ASSETS.iter().map(|(_, bytes, _)| bytes.len()).sum()
}

fn find(path: &str) -> Option<(&'static [u8], &'static str)> {
    ASSETS
        .binary_search_by(|(p, _, _)| (*p).cmp(path))
        .ok()
        .map(|i| (ASSETS[i].1, ASSETS[i].2))
}

/// The page, with its stylesheet and entry script addressed by content hash.
fn index_page() -> &'static (String, String) {
    static PAGE: OnceLock<(String, String)> = OnceLock::new();
    PAGE.get_or_init(|| {
        let template = find("index.html").map_or("", |(bytes, _)| {
            std::str::from_utf8(bytes).unwrap_or_default()
        });
        let mut page = template.to_owned();
        for (path, _, hash) in ASSETS {
            page = page.replace(
                &format!("{{{{v:{path}}}}}"),
                &format!("/ui/{path}?v={hash}"),
            );
        }
        let hash = format!("{:016x}", fnv1a(page.as_bytes()));
        (page, hash)
    })
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

async fn index(req: HttpRequest) -> HttpResponse {
    let (page, hash) = index_page();
    respond(&req, page.clone().into_bytes(), hash, "index.html", false)
}

async fn asset(req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    let Some((bytes, hash)) = find(&file) else {
        return secured(HttpResponse::NotFound())
            .content_type("text/plain; charset=utf-8")
            .body("not found");
    };
    let versioned =
        crate::proxy::headers::query_value(req.query_string(), "v").is_some_and(|v| v == hash);
    respond(&req, bytes.to_vec(), hash, &file, versioned)
}

fn respond(
    req: &HttpRequest,
    body: Vec<u8>,
    hash: &str,
    path: &str,
    immutable: bool,
) -> HttpResponse {
    let etag = format!("\"{hash}\"");
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut builder = secured(HttpResponse::build(if fresh {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    }));
    builder
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache));
    if fresh {
        return builder.finish();
    }
    builder.content_type(content_type(path)).body(body)
}

/// Security headers of every UI answer.
fn secured(mut builder: HttpResponseBuilder) -> HttpResponseBuilder {
    builder
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header(("cross-origin-opener-policy", "same-origin"))
        .insert_header((
            "permissions-policy",
            "camera=(), microphone=(), geolocation=(), payment=()",
        ));
    builder
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json" | "webmanifest") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 7: the UI adds at most 300 KB to the binary.
    #[test]
    fn the_embedded_ui_stays_under_300_kb() {
        let size = embedded_bytes();
        assert!(size > 10_000, "the UI is embedded: {size} bytes");
        assert!(size <= 300 * 1024, "UI assets are {size} bytes");
    }

    #[test]
    fn the_page_references_its_assets_by_content_hash() {
        let (page, _) = index_page();
        assert!(!page.contains("{{v:"), "every placeholder names a file");
        let (_, hash) = find("app.js").unwrap_or_default();
        assert!(page.contains(&format!("/ui/app.js?v={hash}")));
    }

    #[test]
    fn assets_are_sorted_for_lookup() {
        assert!(ASSETS.windows(2).all(|w| w[0].0 < w[1].0));
    }
}

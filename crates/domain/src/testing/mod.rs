//! Contract tests for the ports, written once and run against every
//! implementation (SQLite today; MySQL, PostgreSQL and Redis with the
//! enterprise build). Each function panics with a message on a violation.

pub mod cache_contract;
pub mod repository_contract;

/// The URL of a shared test service (`TEST_MYSQL_URL`, `TEST_POSTGRES_URL`,
/// `TEST_REDIS_URL`). Without it a test is skipped visibly — except in CI
/// (`CI=true`), where a missing service must fail the run.
///
/// # Panics
/// When the variable is missing and `CI=true`.
#[must_use]
pub fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{var} must be set in CI: this test needs the service")
        }
        _ => {
            eprintln!("SKIPPED: {var} is not set, so this test did not run");
            None
        }
    }
}

/// A name no other test run uses (`prefix_<pid>_<nanos>`), for databases and key prefixes.
#[must_use]
pub fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{nanos}", std::process::id())
}

/// `url` with its database (the last path segment) replaced by `database`.
#[must_use]
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{database}?{q}"),
        None => format!("{server}/{database}"),
    }
}

//! Contract tests for the ports, written once and run against every
//! implementation (SQLite today; MySQL, PostgreSQL and Redis with the
//! enterprise build). Each function panics with a message on a violation.

pub mod cache_contract;
pub mod repository_contract;

//! The [`KeyRepository`](domain::ports::KeyRepository) over any sea-orm
//! `DatabaseConnection` (SQLite, MySQL/MariaDB, PostgreSQL). Driver errors are
//! translated into domain errors here; the connection stays private.

mod entities;
mod errors;
mod mapping;
mod repo;

pub use repo::SqlKeyRepository;

//! Schema migrations shared by every SQL backend (SQLite, MySQL/MariaDB,
//! PostgreSQL). Written with the portable schema builder, never raw SQL.

pub use sea_orm_migration::prelude::*;

mod m0001_initial;
mod m0002_request_logs;
mod m0003_request_log_batches;
#[cfg(feature = "testing")]
pub mod testing;

/// All migrations, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_request_logs::Migration),
            Box::new(m0003_request_log_batches::Migration),
        ]
    }
}

use sea_orm::entity::prelude::*;

/// A batch of request-log rows ([`domain::request_log::packed`]).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "request_log_batches")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The oldest row's time.
    pub first_at: i64,
    /// The newest row's time.
    pub last_at: i64,
    /// Rows in the payload.
    pub row_count: i32,
    /// The packed rows.
    pub payload: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

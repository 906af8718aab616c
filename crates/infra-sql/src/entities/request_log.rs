use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "request_logs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: i64,
    pub request_id: String,
    pub service_id: Option<i64>,
    pub service: String,
    pub client_key_id: Option<i64>,
    pub client_key: String,
    pub key_id: Option<i64>,
    pub key_hint: Option<String>,
    pub client_format: Option<String>,
    pub upstream_format: Option<String>,
    pub model: Option<String>,
    pub status: i32,
    pub attempts: i32,
    pub latency_ms: i64,
    pub ttfb_ms: Option<i64>,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "upstream_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub config_id: i64,
    pub ciphertext: Vec<u8>,
    pub fingerprint: String,
    pub key_masked: String,
    pub is_active: bool,
    pub weight: i32,
    pub rpm_limit: Option<i32>,
    pub requests: i64,
    pub failures: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub last_used_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

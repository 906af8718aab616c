use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "client_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub key_hash: String,
    pub key_masked: String,
    pub allowed_slugs: Option<String>,
    pub expires_at: Option<i64>,
    pub rpm_limit: Option<i32>,
    pub is_active: bool,
    pub requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub last_used_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "proxy_configs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub config_type: String,
    pub is_active: bool,
    pub method: Option<String>,
    pub target_url: Option<String>,
    pub api_key_location: Option<String>,
    pub api_key_name: Option<String>,
    pub target_base_url: Option<String>,
    pub api_format: Option<String>,
    pub output_format: Option<String>,
    pub model_map: Option<String>,
    pub rotation_strategy: String,
    pub max_attempts: i32,
    pub timeout_s: Option<i32>,
    pub error_rules: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

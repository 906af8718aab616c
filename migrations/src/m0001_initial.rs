//! Configs, upstream keys (ciphertext + fingerprint + masked hint + usage),
//! client keys (hash only + usage) and settings. Times are Unix milliseconds.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0001_initial"
    }
}

#[derive(DeriveIden)]
enum ProxyConfigs {
    Table,
    Id,
    Name,
    Slug,
    ConfigType,
    IsActive,
    Method,
    TargetUrl,
    ApiKeyLocation,
    ApiKeyName,
    TargetBaseUrl,
    ApiFormat,
    OutputFormat,
    ModelMap,
    RotationStrategy,
    MaxAttempts,
    TimeoutS,
    ErrorRules,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum UpstreamKeys {
    Table,
    Id,
    ConfigId,
    Ciphertext,
    Fingerprint,
    KeyMasked,
    IsActive,
    Weight,
    RpmLimit,
    Requests,
    Failures,
    InputTokens,
    OutputTokens,
    LastUsedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ClientKeys {
    Table,
    Id,
    Name,
    KeyHash,
    KeyMasked,
    AllowedSlugs,
    ExpiresAt,
    RpmLimit,
    IsActive,
    Requests,
    InputTokens,
    OutputTokens,
    LastUsedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Settings {
    Table,
    Name,
    Value,
    UpdatedAt,
}

fn id<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn counter<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .big_integer()
        .not_null()
        .default(0)
        .to_owned()
}

fn millis<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).big_integer().not_null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ProxyConfigs::Table)
                    .if_not_exists()
                    .col(id(ProxyConfigs::Id))
                    .col(
                        ColumnDef::new(ProxyConfigs::Name)
                            .string_len(100)
                            .not_null(),
                    )
                    .col(ColumnDef::new(ProxyConfigs::Slug).string_len(63).not_null())
                    .col(
                        ColumnDef::new(ProxyConfigs::ConfigType)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(ProxyConfigs::IsActive).boolean().not_null())
                    .col(ColumnDef::new(ProxyConfigs::Method).string_len(8).null())
                    .col(ColumnDef::new(ProxyConfigs::TargetUrl).text().null())
                    .col(
                        ColumnDef::new(ProxyConfigs::ApiKeyLocation)
                            .string_len(16)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ProxyConfigs::ApiKeyName)
                            .string_len(255)
                            .null(),
                    )
                    .col(ColumnDef::new(ProxyConfigs::TargetBaseUrl).text().null())
                    .col(
                        ColumnDef::new(ProxyConfigs::ApiFormat)
                            .string_len(32)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ProxyConfigs::OutputFormat)
                            .string_len(32)
                            .null(),
                    )
                    .col(ColumnDef::new(ProxyConfigs::ModelMap).text().null())
                    .col(
                        ColumnDef::new(ProxyConfigs::RotationStrategy)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ProxyConfigs::MaxAttempts)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ProxyConfigs::TimeoutS).integer().null())
                    .col(ColumnDef::new(ProxyConfigs::ErrorRules).text().not_null())
                    .col(millis(ProxyConfigs::CreatedAt))
                    .col(millis(ProxyConfigs::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("uq_proxy_configs_name", ProxyConfigs::Name),
            ("uq_proxy_configs_slug", ProxyConfigs::Slug),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(ProxyConfigs::Table)
                        .col(column)
                        .unique()
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(UpstreamKeys::Table)
                    .if_not_exists()
                    .col(id(UpstreamKeys::Id))
                    .col(
                        ColumnDef::new(UpstreamKeys::ConfigId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(UpstreamKeys::Ciphertext).blob().not_null())
                    .col(
                        ColumnDef::new(UpstreamKeys::Fingerprint)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(UpstreamKeys::KeyMasked)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(UpstreamKeys::IsActive).boolean().not_null())
                    .col(ColumnDef::new(UpstreamKeys::Weight).integer().not_null())
                    .col(ColumnDef::new(UpstreamKeys::RpmLimit).integer().null())
                    .col(counter(UpstreamKeys::Requests))
                    .col(counter(UpstreamKeys::Failures))
                    .col(counter(UpstreamKeys::InputTokens))
                    .col(counter(UpstreamKeys::OutputTokens))
                    .col(
                        ColumnDef::new(UpstreamKeys::LastUsedAt)
                            .big_integer()
                            .null(),
                    )
                    .col(millis(UpstreamKeys::CreatedAt))
                    .col(millis(UpstreamKeys::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_upstream_keys_config")
                            .from(UpstreamKeys::Table, UpstreamKeys::ConfigId)
                            .to(ProxyConfigs::Table, ProxyConfigs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_upstream_keys_config_fingerprint")
                    .table(UpstreamKeys::Table)
                    .col(UpstreamKeys::ConfigId)
                    .col(UpstreamKeys::Fingerprint)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ClientKeys::Table)
                    .if_not_exists()
                    .col(id(ClientKeys::Id))
                    .col(ColumnDef::new(ClientKeys::Name).string_len(100).not_null())
                    .col(
                        ColumnDef::new(ClientKeys::KeyHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClientKeys::KeyMasked)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(ClientKeys::AllowedSlugs).text().null())
                    .col(ColumnDef::new(ClientKeys::ExpiresAt).big_integer().null())
                    .col(ColumnDef::new(ClientKeys::RpmLimit).integer().null())
                    .col(ColumnDef::new(ClientKeys::IsActive).boolean().not_null())
                    .col(counter(ClientKeys::Requests))
                    .col(counter(ClientKeys::InputTokens))
                    .col(counter(ClientKeys::OutputTokens))
                    .col(ColumnDef::new(ClientKeys::LastUsedAt).big_integer().null())
                    .col(millis(ClientKeys::CreatedAt))
                    .col(millis(ClientKeys::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_client_keys_key_hash")
                    .table(ClientKeys::Table)
                    .col(ClientKeys::KeyHash)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Settings::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Settings::Name)
                            .string_len(100)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Settings::Value).text().not_null())
                    .col(millis(Settings::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Settings::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ClientKeys::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(UpstreamKeys::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ProxyConfigs::Table).to_owned())
            .await
    }
}

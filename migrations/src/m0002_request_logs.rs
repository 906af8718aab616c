//! The request log: one row per proxied request, written in batches. No
//! foreign keys: rows outlive deleted services and keys.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0002_request_logs"
    }
}

#[derive(DeriveIden)]
pub(crate) enum RequestLogs {
    Table,
    Id,
    At,
    RequestId,
    ServiceId,
    Service,
    ClientKeyId,
    ClientKey,
    KeyId,
    KeyHint,
    ClientFormat,
    UpstreamFormat,
    Model,
    Status,
    Attempts,
    LatencyMs,
    TtfbMs,
    InputTokens,
    OutputTokens,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use RequestLogs as R;
        let text = |name: R, len: u32, null: bool| {
            let mut col = ColumnDef::new(name);
            col.string_len(len);
            if null {
                col.null();
            } else {
                col.not_null();
            }
            col.to_owned()
        };
        let big = |name: R, null: bool| {
            let mut col = ColumnDef::new(name);
            col.big_integer();
            if null {
                col.null();
            } else {
                col.not_null();
            }
            col.to_owned()
        };
        manager
            .create_table(
                Table::create()
                    .table(R::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(R::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(big(R::At, false))
                    .col(text(R::RequestId, 128, false))
                    .col(big(R::ServiceId, true))
                    .col(text(R::Service, 63, false))
                    .col(big(R::ClientKeyId, true))
                    .col(text(R::ClientKey, 100, false))
                    .col(big(R::KeyId, true))
                    .col(text(R::KeyHint, 32, true))
                    .col(text(R::ClientFormat, 32, true))
                    .col(text(R::UpstreamFormat, 32, true))
                    .col(text(R::Model, 128, true))
                    .col(ColumnDef::new(R::Status).integer().not_null())
                    .col(ColumnDef::new(R::Attempts).integer().not_null())
                    .col(big(R::LatencyMs, false))
                    .col(big(R::TtfbMs, true))
                    .col(big(R::InputTokens, false))
                    .col(big(R::OutputTokens, false))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("ix_request_logs_at", vec![R::At]),
            ("ix_request_logs_service", vec![R::Service, R::Id]),
            ("ix_request_logs_client_key", vec![R::ClientKey, R::Id]),
        ] {
            let mut index = Index::create();
            index.name(name).table(R::Table).if_not_exists();
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RequestLogs::Table).to_owned())
            .await
    }
}

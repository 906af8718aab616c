//! The request log moves from one row per request to packed batches
//! (`domain::request_log::packed`): the per-row inserts and their indexes
//! were most of what telemetry cost a request. Rows already logged are
//! carried over, oldest first, then the old table goes.

use crate::m0002_request_logs::RequestLogs;
use domain::request_log::packed::pack_entries;
use domain::request_log::RequestLogEntry;
use domain::time_fmt::from_unix_millis;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, QueryResult};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0003_request_log_batches"
    }
}

#[derive(DeriveIden)]
enum RequestLogBatches {
    Table,
    Id,
    FirstAt,
    LastAt,
    RowCount,
    Payload,
}

/// Old rows carried over per round.
const ROWS_PER_ROUND: u64 = 5000;

fn entry(row: &QueryResult) -> Result<(i64, RequestLogEntry), DbErr> {
    let count = |v: i64| <u64 as TryFrom<i64>>::try_from(v).unwrap_or(0);
    let id: i64 = row.try_get("", "id")?;
    let status: i32 = row.try_get("", "status")?;
    let attempts: i32 = row.try_get("", "attempts")?;
    let ttfb: Option<i64> = row.try_get("", "ttfb_ms")?;
    Ok((
        id,
        RequestLogEntry {
            id: 0,
            time: from_unix_millis(row.try_get("", "at")?),
            request_id: row.try_get("", "request_id")?,
            service_id: row.try_get("", "service_id")?,
            service: row.try_get("", "service")?,
            client_key_id: row.try_get("", "client_key_id")?,
            client_key: row.try_get("", "client_key")?,
            key_id: row.try_get("", "key_id")?,
            key_hint: row.try_get("", "key_hint")?,
            client_format: row.try_get("", "client_format")?,
            upstream_format: row.try_get("", "upstream_format")?,
            model: row.try_get("", "model")?,
            status: <u16 as TryFrom<i32>>::try_from(status).unwrap_or(0),
            attempts: <u32 as TryFrom<i32>>::try_from(attempts).unwrap_or(0),
            latency_ms: count(row.try_get("", "latency_ms")?),
            ttfb_ms: ttfb.map(count),
            input_tokens: count(row.try_get("", "input_tokens")?),
            output_tokens: count(row.try_get("", "output_tokens")?),
        },
    ))
}

/// Copies every row of the old table into batches, in id order.
async fn carry_over(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    use RequestLogs as R;
    let db = manager.get_connection();
    let backend = manager.get_database_backend();
    let mut after = i64::MIN;
    loop {
        let select = Query::select()
            .columns([
                R::Id,
                R::At,
                R::RequestId,
                R::ServiceId,
                R::Service,
                R::ClientKeyId,
                R::ClientKey,
                R::KeyId,
                R::KeyHint,
                R::ClientFormat,
                R::UpstreamFormat,
                R::Model,
                R::Status,
                R::Attempts,
                R::LatencyMs,
                R::TtfbMs,
                R::InputTokens,
                R::OutputTokens,
            ])
            .from(R::Table)
            .and_where(Expr::col(R::Id).gt(after))
            .order_by(R::Id, Order::Asc)
            .limit(ROWS_PER_ROUND)
            .to_owned();
        let rows = db.query_all(backend.build(&select)).await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = entry(last)?.0;
        let entries = rows
            .iter()
            .map(|row| entry(row).map(|(_, e)| e))
            .collect::<Result<Vec<_>, _>>()?;
        for batch in pack_entries(&entries) {
            let insert = Query::insert()
                .into_table(RequestLogBatches::Table)
                .columns([
                    RequestLogBatches::FirstAt,
                    RequestLogBatches::LastAt,
                    RequestLogBatches::RowCount,
                    RequestLogBatches::Payload,
                ])
                .values([
                    batch.first_at_ms.into(),
                    batch.last_at_ms.into(),
                    <i32 as TryFrom<u32>>::try_from(batch.rows)
                        .unwrap_or(i32::MAX)
                        .into(),
                    batch.bytes.into(),
                ])
                .map_err(|e| DbErr::Custom(e.to_string()))?
                .to_owned();
            db.execute(backend.build(&insert)).await?;
        }
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use RequestLogBatches as B;
        let big = |name: B| ColumnDef::new(name).big_integer().not_null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(B::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(B::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(big(B::FirstAt))
                    .col(big(B::LastAt))
                    .col(ColumnDef::new(B::RowCount).integer().not_null())
                    // Batches stay below 64 KiB: a plain BLOB on every backend.
                    .col(ColumnDef::new(B::Payload).blob().not_null())
                    .to_owned(),
            )
            .await?;
        if manager.has_table("request_logs").await? {
            // A carry-over cut short by a crash starts again from nothing.
            let clear = Query::delete().from_table(B::Table).to_owned();
            let db = manager.get_connection();
            db.execute(manager.get_database_backend().build(&clear))
                .await?;
            carry_over(manager).await?;
            manager
                .drop_table(Table::drop().table(RequestLogs::Table).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Back to the one-row table, empty: logged rows are not carried back.
        crate::m0002_request_logs::Migration.up(manager).await?;
        manager
            .drop_table(Table::drop().table(RequestLogBatches::Table).to_owned())
            .await
    }
}

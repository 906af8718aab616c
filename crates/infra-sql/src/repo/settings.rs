use super::now_ms;
use crate::entities::setting;
use crate::errors::repo_err;
use domain::ports::RepoError;
use sea_orm::sea_query::OnConflict;
use sea_orm::ActiveValue::Set;
use sea_orm::{DatabaseConnection, EntityTrait, SqlErr};

pub(super) async fn get(db: &DatabaseConnection, name: &str) -> Result<Option<String>, RepoError> {
    Ok(setting::Entity::find_by_id(name.to_owned())
        .one(db)
        .await
        .map_err(repo_err)?
        .map(|row| row.value))
}

fn row(name: &str, value: &str) -> setting::ActiveModel {
    setting::ActiveModel {
        name: Set(name.to_owned()),
        value: Set(value.to_owned()),
        updated_at: Set(now_ms()),
    }
}

pub(super) async fn put(db: &DatabaseConnection, name: &str, value: &str) -> Result<(), RepoError> {
    setting::Entity::insert(row(name, value))
        .on_conflict(
            OnConflict::column(setting::Column::Name)
                .update_columns([setting::Column::Value, setting::Column::UpdatedAt])
                .to_owned(),
        )
        .exec(db)
        .await
        .map_err(repo_err)?;
    Ok(())
}

pub(super) async fn put_if_absent(
    db: &DatabaseConnection,
    name: &str,
    value: &str,
) -> Result<String, RepoError> {
    // Insert, tolerate losing the race, then read back: whoever inserted first
    // wins everywhere. (A plain insert is portable; MySQL has no ON CONFLICT DO NOTHING.)
    match setting::Entity::insert(row(name, value)).exec(db).await {
        Ok(_) => {}
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {}
        Err(e) => return Err(repo_err(e)),
    }
    get(db, name)
        .await?
        .ok_or_else(|| RepoError::Unavailable(format!("setting {name} vanished after insert")))
}

use super::now_ms;
use crate::entities::client_key;
use crate::errors::repo_err;
use crate::mapping::{client_key_from_row, slugs_json, to_opt_i32};
use domain::client_key::{ClientKeyRequest, NewClientKey, StoredClientKey};
use domain::ports::RepoError;
use domain::time_fmt::unix_millis;
use domain::{ClientKeyId, ClientKeyPatch};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryOrder};

pub(super) async fn create(
    db: &DatabaseConnection,
    key: &NewClientKey,
) -> Result<StoredClientKey, RepoError> {
    let ClientKeyRequest {
        name,
        allowed_slugs,
        expires_at,
        rpm_limit,
    } = &key.request;
    let now = now_ms();
    let model = client_key::ActiveModel {
        id: NotSet,
        name: Set(name.clone()),
        key_hash: Set(key.key_hash.clone()),
        key_masked: Set(key.key_masked.clone()),
        allowed_slugs: Set(slugs_json(allowed_slugs.as_ref())?),
        expires_at: Set(expires_at.as_ref().map(unix_millis)),
        rpm_limit: Set(to_opt_i32(*rpm_limit)),
        is_active: Set(true),
        requests: Set(0),
        input_tokens: Set(0),
        output_tokens: Set(0),
        last_used_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    client_key_from_row(model.insert(db).await.map_err(repo_err)?)
}

pub(super) async fn list(db: &DatabaseConnection) -> Result<Vec<StoredClientKey>, RepoError> {
    client_key::Entity::find()
        .order_by_asc(client_key::Column::Id)
        .all(db)
        .await
        .map_err(repo_err)?
        .into_iter()
        .map(client_key_from_row)
        .collect()
}

pub(super) async fn update(
    db: &DatabaseConnection,
    id: ClientKeyId,
    patch: &ClientKeyPatch,
) -> Result<StoredClientKey, RepoError> {
    let mut model = client_key::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(repo_err)?
        .ok_or(RepoError::NotFound)?
        .into_active_model();
    if let Some(name) = &patch.name {
        model.name = Set(name.clone());
    }
    if let Some(is_active) = patch.is_active {
        model.is_active = Set(is_active);
    }
    if let Some(slugs) = &patch.allowed_slugs {
        model.allowed_slugs = Set(slugs_json(slugs.as_ref())?);
    }
    if let Some(rpm_limit) = patch.rpm_limit {
        model.rpm_limit = Set(to_opt_i32(rpm_limit));
    }
    if let Some(expires_at) = patch.expires_at {
        model.expires_at = Set(expires_at.as_ref().map(unix_millis));
    }
    model.updated_at = Set(now_ms());
    client_key_from_row(model.update(db).await.map_err(repo_err)?)
}

pub(super) async fn delete(db: &DatabaseConnection, id: ClientKeyId) -> Result<(), RepoError> {
    let result = client_key::Entity::delete_by_id(id)
        .exec(db)
        .await
        .map_err(repo_err)?;
    if result.rows_affected == 0 {
        return Err(RepoError::NotFound);
    }
    Ok(())
}

//! Client request ids (AIP-155): a retried create or command returns what the first call made.

use crate::db::now_micros;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{Condition, ConnectionTrait, Set};
use std::collections::HashMap;

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_key")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub scope: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub request_id: String,
        pub resource_id: String,
        pub created_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The resource an earlier call with this request id produced, if any.
pub async fn lookup(
    conn: &impl ConnectionTrait,
    scope: &str,
    request_id: &str,
) -> Result<Option<String>, DbErr> {
    if request_id.is_empty() {
        return Ok(None);
    }
    Ok(entity::Entity::find_by_id((scope.to_owned(), request_id.to_owned()))
        .one(conn)
        .await?
        .map(|k| k.resource_id))
}

/// Remembers, in the caller's transaction, which resource this request id produced.
pub async fn remember(
    conn: &impl ConnectionTrait,
    scope: &str,
    request_id: &str,
    resource_id: &str,
) -> Result<(), DbErr> {
    if request_id.is_empty() {
        return Ok(());
    }
    remember_all(conn, &[(scope, request_id, resource_id)]).await
}

/// The resources earlier calls produced for any of `keys` (scope, request id), in one query.
pub async fn lookup_all(conn: &impl ConnectionTrait, keys: &[(&str, &str)]) -> Result<HashMap<(String, String), String>, DbErr> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let any = keys.iter().fold(Condition::any(), |any, (scope, request_id)| {
        any.add(entity::Column::Scope.eq(*scope).and(entity::Column::RequestId.eq(*request_id)))
    });
    let found = entity::Entity::find().filter(any).all(conn).await?;
    Ok(found.into_iter().map(|k| ((k.scope, k.request_id), k.resource_id)).collect())
}

/// Remembers, in one statement, which resource each (scope, request id, resource id) produced.
pub async fn remember_all(conn: &impl ConnectionTrait, produced: &[(&str, &str, &str)]) -> Result<(), DbErr> {
    if produced.is_empty() {
        return Ok(());
    }
    let now = now_micros();
    let rows = produced.iter().map(|(scope, request_id, resource_id)| entity::ActiveModel {
        scope: Set((*scope).to_owned()),
        request_id: Set((*request_id).to_owned()),
        resource_id: Set((*resource_id).to_owned()),
        created_us: Set(now),
    });
    entity::Entity::insert_many(rows).exec_without_returning(conn).await?;
    Ok(())
}

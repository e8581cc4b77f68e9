//! The rate-limit counters: read a scope's windows, add one filing, drop expired windows.

use super::entities::rate_count;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

/// The counter rows (every shard) of each scope in the given windows.
pub async fn counts(conn: &impl ConnectionTrait, wanted: &[(&str, [i64; 2])]) -> Result<Vec<rate_count::Model>, DbErr> {
    let any = wanted.iter().fold(Condition::any(), |any, (scope, windows)| {
        any.add(rate_count::Column::Scope.eq(*scope).and(rate_count::Column::WindowUs.is_in(*windows)))
    });
    rate_count::Entity::find().filter(any).all(conn).await
}

/// Adds one to each row, creating those that are not there yet.
pub async fn add_one(conn: &impl ConnectionTrait, rows: Vec<rate_count::Model>) -> Result<(), DbErr> {
    use rate_count::Column::{Count, Scope, Shard, WindowUs};
    let plus_one = Expr::col((rate_count::Entity, Count)).add(1);
    rate_count::Entity::insert_many(rows.into_iter().map(rate_count::ActiveModel::from))
        .on_conflict(OnConflict::columns([Scope, WindowUs, Shard]).value(Count, plus_one).to_owned())
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Deletes the windows that no limit reads any more.
pub async fn prune(conn: &impl ConnectionTrait, now_us: i64) -> Result<(), DbErr> {
    rate_count::Entity::delete_many().filter(rate_count::Column::ExpireUs.lt(now_us)).exec(conn).await?;
    Ok(())
}

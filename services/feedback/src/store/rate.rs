//! The rate-limit counters: read a scope's windows, add filings, drop expired windows.

use super::entities::rate_count;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, QueryTrait};

/// A scope's filings in one window, all shards summed.
pub struct WindowCount {
    pub scope: String,
    pub window_us: i64,
    pub count: i64,
}

/// The counts of each scope in the given windows (windows without filings are left out).
pub async fn counts(conn: &impl ConnectionTrait, wanted: &[(&str, [i64; 2])]) -> Result<Vec<WindowCount>, DbErr> {
    use rate_count::Column::{Scope, WindowUs};
    let any = wanted.iter().fold(Condition::any(), |any, (scope, windows)| {
        any.add(Scope.eq(*scope).and(WindowUs.is_in(*windows)))
    });
    let rows: Vec<(String, i64, i64)> = rate_count::Entity::find()
        .select_only()
        .column(Scope)
        .column(WindowUs)
        .column_as(Expr::cust(r#"CAST(SUM("count") AS BIGINT)"#), "count")
        .filter(any)
        .group_by(Scope)
        .group_by(WindowUs)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|(scope, window_us, count)| WindowCount { scope, window_us, count }).collect())
}

/// Adds each row's count to the stored one, creating the rows that are not there yet.
pub async fn add(conn: &impl ConnectionTrait, rows: Vec<rate_count::Model>) -> Result<(), DbErr> {
    use rate_count::Column::{Count, Scope, Shard, WindowUs};
    let plus = Expr::col((rate_count::Entity, Count)).add(Expr::col((Alias::new("excluded"), Count)));
    let insert = rate_count::Entity::insert_many(rows.into_iter().map(rate_count::ActiveModel::from))
        .on_conflict(OnConflict::columns([Scope, WindowUs, Shard]).value(Count, plus).to_owned())
        .into_query();
    flywheel_runtime::bulk::execute(conn, &insert).await?;
    Ok(())
}

/// Deletes the windows that no limit reads any more.
pub async fn prune(conn: &impl ConnectionTrait, now_us: i64) -> Result<(), DbErr> {
    rate_count::Entity::delete_many().filter(rate_count::Column::ExpireUs.lt(now_us)).exec(conn).await?;
    Ok(())
}

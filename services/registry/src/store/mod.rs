//! Persistence: the tables and the queries shared by every registry resource.

pub mod entities;

macro_rules! lifecycle {
    ($($model:ty),*) => {$(
        impl Lifecycle for $model {
            fn status(&self) -> i32 {
                self.status
            }
            fn version(&self) -> i64 {
                self.version
            }
        }
    )*};
}

lifecycle!(region::Model, site::Model, zone::Model, asset::Model, category::Model);

use crate::domain::{check_active, check_version};
use entities::{asset, category, region, site, zone};
use flywheel_proto::flywheel::registry::v1::Status;
use flywheel_runtime::db::now_micros;
use flywheel_runtime::{Error, Result};
use std::str::FromStr;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Select,
};

/// What every registry row has: a life (active or retired) and a version.
pub trait Lifecycle {
    fn status(&self) -> i32;
    fn version(&self) -> i64;
}

async fn find<E>(conn: &impl ConnectionTrait, id: &str) -> Result<Option<E::Model>>
where
    E: EntityTrait,
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<String>,
{
    Ok(E::find_by_id(id.to_owned()).one(conn).await?)
}

/// The row with this primary key, or NOT_FOUND naming `kind`.
pub async fn load<E>(conn: &impl ConnectionTrait, kind: &'static str, id: &str) -> Result<E::Model>
where
    E: EntityTrait,
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<String>,
{
    find::<E>(conn, id).await?.ok_or_else(|| Error::not_found(kind, id))
}

/// The row another resource refers to through `field`; an unknown id is a bad field.
pub async fn referenced<E>(conn: &impl ConnectionTrait, field: &str, id: &str) -> Result<E::Model>
where
    E: EntityTrait,
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<String>,
{
    find::<E>(conn, id).await?.ok_or_else(|| Error::invalid(field, format!("no such resource: {id:?}")))
}

/// The row a write is about to change: it must exist, be active and be at `expected` version.
pub async fn load_for_change<E>(
    txn: &DatabaseTransaction,
    kind: &'static str,
    id: &str,
    expected: i64,
    action: &str,
) -> Result<E::Model>
where
    E: EntityTrait,
    E::Model: Lifecycle,
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<String>,
{
    let row = load::<E>(txn, kind, id).await?;
    check_active(kind, id, row.status(), action)?;
    check_version(kind, id, row.version(), expected)?;
    Ok(row)
}

/// Retires a row loaded by [`load_for_change`], setting `extra` columns too, and returns it.
pub async fn retire<E>(
    txn: &DatabaseTransaction,
    kind: &'static str,
    id: &str,
    version: i64,
    extra: &[(&str, sea_orm::Value)],
) -> Result<E::Model>
where
    E: EntityTrait,
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<String>,
{
    let column = |name: &str| {
        E::Column::from_str(name).map_err(|_| Error::Internal(anyhow::anyhow!("{kind} has no column {name}")))
    };
    let mut update = E::update_many()
        .col_expr(column("status")?, Expr::value(Status::Retired as i32))
        .col_expr(column("version")?, Expr::value(version + 1))
        .col_expr(column("update_us")?, Expr::value(now_micros()));
    for (name, value) in extra {
        update = update.col_expr(column(name)?, Expr::value(value.clone()));
    }
    let result = update
        .filter(Expr::col("id").eq(id))
        .filter(Expr::col("version").eq(version))
        .exec(txn)
        .await?;
    if result.rows_affected != 1 {
        return Err(Error::Aborted { kind, id: id.to_owned(), current: version + 1, expected: version });
    }
    load::<E>(txn, kind, id).await
}

/// Inserts a row whose unique `field` may collide with a concurrent insert.
pub async fn insert<A>(txn: &DatabaseTransaction, kind: &'static str, field: &'static str, value: &str, row: A) -> Result<()>
where
    A: ActiveModelTrait + Send,
    <A::Entity as EntityTrait>::Model: sea_orm::IntoActiveModel<A>,
{
    match <A::Entity as EntityTrait>::insert(row).exec_without_returning(txn).await {
        Ok(_) => Ok(()),
        Err(e) if flywheel_runtime::error::is_unique_violation(&e) => {
            Err(Error::AlreadyExists { kind, field, value: value.to_owned() })
        }
        Err(e) => Err(e.into()),
    }
}

/// Writes `changes` only if the row is still at `expected` version (ABORTED otherwise).
pub async fn save_versioned<A>(txn: &DatabaseTransaction, kind: &'static str, id: &str, expected: i64, changes: A) -> Result<()>
where
    A: ActiveModelTrait + Send,
{
    let result = <A::Entity as EntityTrait>::update_many()
        .set(changes)
        .filter(Expr::col("id").eq(id))
        .filter(Expr::col("version").eq(expected))
        .exec(txn)
        .await?;
    if result.rows_affected == 1 {
        Ok(())
    } else {
        Err(Error::Aborted { kind, id: id.to_owned(), current: expected + 1, expected })
    }
}

/// One page of `select` in id order after `after`: the rows and whether more follow.
pub async fn page<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    select: Select<E>,
    after: Option<String>,
    size: u64,
) -> Result<(Vec<E::Model>, bool)> {
    Ok(more_follow(after_in_id_order(select, after, size).all(conn).await?, size))
}

/// Like [`page`] for sites, but only their ids and places: a bounding box's candidates, read
/// from the (lat, lng, id) index without touching the rows.
pub async fn site_places(
    conn: &impl ConnectionTrait,
    select: Select<site::Entity>,
    after: Option<String>,
    size: u64,
) -> Result<(Vec<(String, f64, f64)>, bool)> {
    let places = after_in_id_order(select, after, size)
        .select_only()
        .columns([site::Column::Id, site::Column::Lat, site::Column::Lng])
        .into_tuple()
        .all(conn)
        .await?;
    Ok(more_follow(places, size))
}

/// The sites with these ids, in id order.
pub async fn sites_by_id(conn: &impl ConnectionTrait, ids: Vec<String>) -> Result<Vec<site::Model>> {
    Ok(site::Entity::find().filter(site::Column::Id.is_in(ids)).order_by_asc(site::Column::Id).all(conn).await?)
}

/// `select` in id order after `after`, one more than `size` to tell whether more follow.
fn after_in_id_order<E: EntityTrait>(select: Select<E>, after: Option<String>, size: u64) -> Select<E> {
    let mut select = select.order_by_asc(Expr::col("id"));
    if let Some(after) = after {
        select = select.filter(Expr::col("id").gt(after));
    }
    select.limit(size + 1)
}

fn more_follow<T>(mut rows: Vec<T>, size: u64) -> (Vec<T>, bool) {
    let more = rows.len() as u64 > size;
    rows.truncate(size as usize);
    (rows, more)
}

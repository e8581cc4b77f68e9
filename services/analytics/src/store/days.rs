//! Day rows: each local day's hour rows merged per cell and region path, in the rollup zone
//! (`ANALYTICS_TIME_ZONE`). The projector keeps them in the transaction that changes the hour
//! row; the recount sets them all from the hour rows (migration backfill, a changed zone, hour
//! rows bulk-loaded past the projector).

use super::entities::{kpi_day, kpi_hour};
use super::{Cell, decode, encode};
use crate::domain::kpi::Facts;
use crate::domain::time::{Span, day_of};
use chrono_tz::Tz;
use flywheel_runtime::db::begin_write;
use sea_orm::sea_query::{Expr, ExprTrait, Func, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QuerySelect, Set,
};
use std::collections::BTreeMap;

/// Rows per multi-row insert: 8 columns stay well under SQLite's and PostgreSQL's bind limits.
const INSERT_BATCH: usize = 1000;

fn row(day_us: i64, cell: &Cell, region_path: &str, backlog_delta: i64, facts: &Facts) -> Result<kpi_day::ActiveModel, DbErr> {
    Ok(kpi_day::ActiveModel {
        day_us: Set(day_us),
        site_id: Set(cell.site_id.clone()),
        category_id: Set(cell.category_id.clone()),
        dimension: Set(cell.dimension),
        perspective: Set(cell.perspective),
        region_path: Set(region_path.to_owned()),
        backlog_delta: Set(backlog_delta),
        facts: Set(encode(facts)?),
    })
}

/// Adds a contribution to a day row: merged under a row lock when it exists, else inserted
/// whole, as the hour row is.
pub(super) async fn add(
    db: &impl ConnectionTrait,
    day_us: i64,
    cell: &Cell,
    region_path: &str,
    backlog_delta: i64,
    facts: &Facts,
) -> Result<(), DbErr> {
    let key = [
        kpi_day::Column::DayUs,
        kpi_day::Column::SiteId,
        kpi_day::Column::CategoryId,
        kpi_day::Column::Dimension,
        kpi_day::Column::Perspective,
        kpi_day::Column::RegionPath,
    ];
    let id = (day_us, cell.site_id.clone(), cell.category_id.clone(), cell.dimension, cell.perspective, region_path.to_owned());
    let locked = || kpi_day::Entity::find_by_id(id.clone()).lock_exclusive().one(db);
    // Read under the lock first (a day row takes many contributions); a new one is inserted
    // whole, and only a concurrent insert sends us back to the lock.
    let row = match locked().await? {
        Some(row) => row,
        None => {
            let inserted = kpi_day::Entity::insert(row(day_us, cell, region_path, backlog_delta, facts)?)
                .on_conflict(OnConflict::columns(key).do_nothing().to_owned())
                .exec_without_returning(db)
                .await?
                == 1;
            if inserted {
                return Ok(());
            }
            locked().await?.ok_or_else(|| DbErr::RecordNotFound("kpi_day row inserted concurrently".into()))?
        }
    };
    let mut merged = decode(&row.facts)?;
    merged.merge(facts);
    let delta = row.backlog_delta + backlog_delta;
    let mut active = row.into_active_model();
    active.facts = Set(encode(&merged)?);
    active.backlog_delta = Set(delta);
    active.update(db).await.map(drop)
}

/// Sets one cell's day rows of `day` from its hour rows (after one of them moved region path).
pub(super) async fn recount_cell(db: &impl ConnectionTrait, day: Span, cell: &Cell) -> Result<(), DbErr> {
    kpi_day::Entity::delete_many()
        .filter(kpi_day::Column::DayUs.eq(day.start_us))
        .filter(of_cell(cell))
        .exec(db)
        .await?;
    let hours = kpi_hour::Entity::find()
        .filter(kpi_hour::Column::HourUs.gte(day.start_us))
        .filter(kpi_hour::Column::HourUs.lt(day.end_us))
        .filter(of_cell(cell))
        .all(db)
        .await?;
    insert_merged(db, day.start_us, hours).await
}

/// The rows of one cell, in either table (the columns share their names).
fn of_cell(cell: &Cell) -> Condition {
    Condition::all()
        .add(Expr::col("site_id").eq(&cell.site_id))
        .add(Expr::col("category_id").eq(&cell.category_id))
        .add(Expr::col("dimension").eq(cell.dimension))
        .add(Expr::col("perspective").eq(cell.perspective))
}

/// Sets every day row from the hour rows, with days in `tz`.
pub async fn recount(db: &impl ConnectionTrait, tz: Tz) -> Result<(), DbErr> {
    kpi_day::Entity::delete_many().exec(db).await?;
    let bounds: Option<(Option<i64>, Option<i64>)> = kpi_hour::Entity::find()
        .select_only()
        .column_as(Expr::expr(Func::min(Expr::col(kpi_hour::Column::HourUs))), "first")
        .column_as(Expr::expr(Func::max(Expr::col(kpi_hour::Column::HourUs))), "last")
        .into_tuple()
        .one(db)
        .await?;
    let Some((Some(first), Some(last))) = bounds else { return Ok(()) };
    let mut day = day_of(tz, first);
    while day.start_us <= last {
        let hours = kpi_hour::Entity::find()
            .filter(kpi_hour::Column::HourUs.gte(day.start_us))
            .filter(kpi_hour::Column::HourUs.lt(day.end_us))
            .all(db)
            .await?;
        insert_merged(db, day.start_us, hours).await?;
        day = day_of(tz, day.end_us);
    }
    Ok(())
}

/// Inserts the day rows of `day_us` that `hours` (all in that day) merge into.
async fn insert_merged(db: &impl ConnectionTrait, day_us: i64, hours: Vec<kpi_hour::Model>) -> Result<(), DbErr> {
    let mut merged: BTreeMap<(Cell, String), (i64, Facts)> = BTreeMap::new();
    for h in hours {
        let facts = decode(&h.facts)?;
        let cell = Cell { site_id: h.site_id, category_id: h.category_id, dimension: h.dimension, perspective: h.perspective };
        let (delta, sum) = merged.entry((cell, h.region_path)).or_default();
        *delta += h.backlog_delta;
        sum.merge(&facts);
    }
    let rows = merged
        .iter()
        .map(|((cell, path), (delta, facts))| row(day_us, cell, path, *delta, facts))
        .collect::<Result<Vec<_>, _>>()?;
    for batch in rows.chunks(INSERT_BATCH) {
        kpi_day::Entity::insert_many(batch.to_vec()).exec_without_returning(db).await?;
    }
    Ok(())
}

/// Keeps the day rows in `tz` at start-up: when a stored day does not start at a local midnight
/// of `tz` (`ANALYTICS_TIME_ZONE` changed), every day row is recounted, in one transaction.
pub async fn realign(db: &DatabaseConnection, tz: Tz) -> Result<(), DbErr> {
    let starts: Vec<i64> = kpi_day::Entity::find()
        .select_only()
        .column(kpi_day::Column::DayUs)
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    if starts.iter().all(|&d| day_of(tz, d).start_us == d) {
        return Ok(());
    }
    let txn = begin_write(db).await?;
    recount(&txn, tz).await?;
    txn.commit().await
}

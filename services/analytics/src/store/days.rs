//! Day rows: each local day's hour rows merged per cell and region path, in the rollup zone
//! (`ANALYTICS_TIME_ZONE`). A day's rows are set from its hour rows when it closes (`closing`);
//! facts of a day closed already go to its rows in the transaction that changes the hour row;
//! the recount sets them all from the hour rows (migration backfill, a changed zone, hour rows
//! bulk-loaded past the projector).

use super::entities::{kpi_day, kpi_hour};
use super::{Cell, FactRow, batch, decode, levels};
use crate::domain::kpi::Facts;
use crate::domain::time::{Span, day_of};
use chrono_tz::Tz;
use flywheel_runtime::db::begin_write;
use sea_orm::sea_query::{Expr, ExprTrait, Func, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QuerySelect, Set,
};
use std::collections::BTreeMap;

/// Rows per multi-row insert: 8 columns stay well under SQLite's and PostgreSQL's bind limits.
const INSERT_BATCH: usize = 1000;

fn row(day_us: i64, cell: &Cell, region_path: &str, backlog_delta: i64, facts: Vec<u8>) -> kpi_day::ActiveModel {
    kpi_day::ActiveModel {
        day_us: Set(day_us),
        site_id: Set(cell.site_id.clone()),
        category_id: Set(cell.category_id.clone()),
        dimension: Set(cell.dimension),
        perspective: Set(cell.perspective),
        region_path: Set(region_path.to_owned()),
        backlog_delta: Set(backlog_delta),
        facts: Set(facts),
    }
}

/// A day row's key: (day start, cell, region path).
pub(super) type Key = (i64, Cell, String);

/// Adds a batch's contributions to day rows: per row, a backlog delta and the facts. The rows
/// are claimed (created when missing, locked in key order) as the hour rows are, merged in
/// memory and written back in one statement.
pub(super) async fn add_all(db: &impl ConnectionTrait, days: BTreeMap<Key, (i64, Vec<&Facts>)>) -> Result<(), DbErr> {
    let claimed = days.iter().map(|((day_us, cell, path), _)| row(*day_us, cell, path, 0, Vec::new()));
    let mut stored: BTreeMap<Key, kpi_day::Model> = batch::claim(db, claimed.collect(), key(), kpi_day::Column::Facts)
        .await?
        .into_iter()
        .map(|m| ((m.day_us, Cell { site_id: m.site_id.clone(), category_id: m.category_id.clone(), dimension: m.dimension, perspective: m.perspective }, m.region_path.clone()), m))
        .collect();
    let mut rows = Vec::with_capacity(days.len());
    for ((day_us, cell, path), (delta, facts)) in &days {
        let old = stored.remove(&(*day_us, cell.clone(), path.clone())).ok_or_else(|| DbErr::RecordNotFound("kpi_day row not claimed".into()))?;
        let stored = batch::Stored { table: "kpi_day", start_us: *day_us, cell, facts: &old.facts, backlog_delta: old.backlog_delta };
        let (delta, facts) = batch::merged(stored, *delta, facts.iter().copied())?;
        rows.push(row(*day_us, cell, path, delta, facts));
    }
    let written = [kpi_day::Column::BacklogDelta, kpi_day::Column::Facts];
    batch::upsert(db, rows, key().update_columns(written).to_owned()).await
}

fn key() -> OnConflict {
    OnConflict::columns([
        kpi_day::Column::DayUs,
        kpi_day::Column::SiteId,
        kpi_day::Column::CategoryId,
        kpi_day::Column::Dimension,
        kpi_day::Column::Perspective,
        kpi_day::Column::RegionPath,
    ])
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
    insert_merged(db, day.start_us, &decoded(hours)?).await
}

/// Sets every cell's day rows of `day` from its hour rows, replacing what a recount wrote while
/// it was open.
pub(super) async fn close_day(db: &impl ConnectionTrait, day: Span) -> Result<(), DbErr> {
    kpi_day::Entity::delete_many().filter(kpi_day::Column::DayUs.eq(day.start_us)).exec(db).await?;
    insert_merged(db, day.start_us, &hours_of(db, day).await?).await
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
    for day in spans(db, tz).await? {
        insert_merged(db, day.start_us, &hours_of(db, day).await?).await?;
    }
    Ok(())
}

/// The local days (in `tz`) from the first hour row's to the last one's, oldest first.
pub(super) async fn spans(db: &impl ConnectionTrait, tz: Tz) -> Result<Vec<Span>, DbErr> {
    let bounds: Option<(Option<i64>, Option<i64>)> = kpi_hour::Entity::find()
        .select_only()
        .column_as(Expr::expr(Func::min(Expr::col(kpi_hour::Column::HourUs))), "first")
        .column_as(Expr::expr(Func::max(Expr::col(kpi_hour::Column::HourUs))), "last")
        .into_tuple()
        .one(db)
        .await?;
    let Some((Some(first), Some(last))) = bounds else { return Ok(Vec::new()) };
    let mut days = vec![day_of(tz, first)];
    while let Some(day) = days.last().filter(|d| d.end_us <= last) {
        days.push(day_of(tz, day.end_us));
    }
    Ok(days)
}

/// The hour rows of one day, decoded.
pub(super) async fn hours_of(db: &impl ConnectionTrait, day: Span) -> Result<Vec<FactRow>, DbErr> {
    let hours = kpi_hour::Entity::find()
        .filter(kpi_hour::Column::HourUs.gte(day.start_us))
        .filter(kpi_hour::Column::HourUs.lt(day.end_us))
        .all(db)
        .await?;
    decoded(hours)
}

fn decoded(hours: Vec<kpi_hour::Model>) -> Result<Vec<FactRow>, DbErr> {
    hours
        .into_iter()
        .map(|h| {
            let cell = Cell { site_id: h.site_id, category_id: h.category_id, dimension: h.dimension, perspective: h.perspective };
            let facts = decode(&h.facts, "kpi_hour", h.hour_us, &cell)?;
            Ok(FactRow { start_us: h.hour_us, cell, region_path: h.region_path, backlog_delta: h.backlog_delta, facts })
        })
        .collect()
}

/// Inserts the day rows of `day_us` that `hours` (all in that day) merge into.
pub(super) async fn insert_merged(db: &impl ConnectionTrait, day_us: i64, hours: &[FactRow]) -> Result<(), DbErr> {
    let mut merged: BTreeMap<(&Cell, &str), (i64, Facts)> = BTreeMap::new();
    for h in hours {
        let (delta, sum) = merged.entry((&h.cell, &h.region_path)).or_default();
        *delta += h.backlog_delta;
        sum.merge(&h.facts);
    }
    let rows = merged
        .iter()
        .map(|((cell, path), (delta, facts))| row(day_us, cell, path, *delta, facts.encode()))
        .collect::<Vec<_>>();
    for batch in rows.chunks(INSERT_BATCH) {
        kpi_day::Entity::insert_many(batch.to_vec()).exec_without_returning(db).await?;
    }
    Ok(())
}

/// Keeps the day rows (`kpi_day`'s and the rollup levels') in `tz` at start-up: when a stored
/// day does not start at a local midnight of `tz` (`ANALYTICS_TIME_ZONE` changed), every day
/// row is recounted, in one transaction.
pub async fn realign(db: &DatabaseConnection, tz: Tz) -> Result<(), DbErr> {
    let mut starts: Vec<i64> = kpi_day::Entity::find()
        .select_only()
        .column(kpi_day::Column::DayUs)
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    starts.extend(levels::day_starts(db).await?);
    if starts.iter().all(|&d| day_of(tz, d).start_us == d) {
        return Ok(());
    }
    let txn = begin_write(db).await?;
    super::recount_rollups(&txn, tz).await?;
    txn.commit().await
}

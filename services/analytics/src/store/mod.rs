//! Reading and writing the projections.

pub mod batch;
pub mod closing;
pub mod days;
pub mod entities;
pub mod levels;
pub mod tickets;

use crate::domain::kpi::Facts;
use crate::domain::time::{Plan, Span, Tier};
use entities::*;
pub use levels::Level;
use std::collections::HashMap;
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter,
    Set,
};

/// Where a fact belongs, below its hour.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    pub site_id: String,
    pub category_id: String,
    pub dimension: i32,
    pub perspective: i32,
}

/// Which facts a query reads: OR within a field, AND across fields; empty fields do not filter.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub region_ids: Vec<String>,
    pub site_ids: Vec<String>,
    pub category_ids: Vec<String>,
    pub cells: Vec<(i32, i32)>,
}

impl Filter {
    /// The filter over the columns `kpi_hour` and `ticket` share (same names in both).
    fn condition(&self) -> Condition {
        let col = |name: &'static str| Expr::col(name);
        let mut all = Condition::all();
        if !self.region_ids.is_empty() {
            let any = self.region_ids.iter().fold(Condition::any(), |any, id| any.add(col("region_path").like(format!("%/{id}/%"))));
            all = all.add(any);
        }
        if !self.site_ids.is_empty() {
            all = all.add(col("site_id").is_in(self.site_ids.clone()));
        }
        if !self.category_ids.is_empty() {
            all = all.add(col("category_id").is_in(self.category_ids.clone()));
        }
        if !self.cells.is_empty() {
            let any = self.cells.iter().fold(Condition::any(), |any, (d, p)| {
                any.add(Condition::all().add(col("dimension").eq(*d)).add(col("perspective").eq(*p)))
            });
            all = all.add(any);
        }
        all
    }
}

/// One hour or day row, decoded.
#[derive(Clone, Debug)]
pub struct FactRow {
    /// The hour's or the day's first instant.
    pub start_us: i64,
    pub cell: Cell,
    pub region_path: String,
    pub backlog_delta: i64,
    pub facts: Facts,
}

/// Decodes a row's stored facts; a corrupt value is an error naming the row (`table`, its
/// hour or day, its cell), never a panic.
fn decode(facts: &[u8], table: &str, start_us: i64, cell: &Cell) -> Result<Facts, DbErr> {
    Facts::decode(facts).map_err(|e| {
        let Cell { site_id, category_id, dimension, perspective } = cell;
        DbErr::Custom(format!(
            "stored facts of {table} row at {start_us} (site {site_id}, category {category_id}, cell {dimension}/{perspective}): {e}"
        ))
    })
}

/// The rows of a plan that the filter matches: hour rows of its hour spans, day rows of its
/// day spans, oldest first — per cell, or merged at `level` (which must hold the filter).
pub async fn facts_in(db: &impl ConnectionTrait, filter: &Filter, plan: &Plan, level: Option<Level>) -> Result<Vec<FactRow>, DbErr> {
    if let Some(level) = level {
        return levels::facts_in(db, level, filter, plan).await;
    }
    let mut out = Vec::new();
    for (table, time, spans) in [("kpi_hour", "hour_us", plan.spans(Tier::Hour)), ("kpi_day", "day_us", plan.spans(Tier::Day))] {
        if spans.is_empty() {
            continue;
        }
        let within = spans.iter().fold(Condition::any(), |any, s| any.add(in_span(time, *s)));
        let query = Query::select()
            .columns([time, "site_id", "category_id", "dimension", "perspective", "region_path", "backlog_delta", "facts"])
            .from(table)
            .cond_where(filter.condition().add(within))
            .to_owned();
        for r in db.query_all(&query).await? {
            let (start_us, site_id, category_id, dimension, perspective, region_path, backlog_delta, facts): (
                i64,
                String,
                String,
                i32,
                i32,
                String,
                i64,
                Vec<u8>,
            ) = r.try_get_many_by_index()?;
            let cell = Cell { site_id, category_id, dimension, perspective };
            let facts = decode(&facts, table, start_us, &cell)?;
            out.push(FactRow { start_us, cell, region_path, backlog_delta, facts });
        }
    }
    out.sort_by_key(|r| r.start_us);
    Ok(out)
}

fn in_span(column: &'static str, span: Span) -> SimpleExpr {
    Expr::col(column).gte(span.start_us).and(Expr::col(column).lt(span.end_us))
}

type CellPath = (String, String, i32, i32, String);

/// The backlog deltas per cell and region path of a table's rows in `span`.
async fn deltas_in(
    db: &impl ConnectionTrait,
    table: &'static str,
    time: &'static str,
    filter: &Filter,
    span: Span,
) -> Result<Vec<(CellPath, i64)>, DbErr> {
    let key = ["site_id", "category_id", "dimension", "perspective", "region_path"];
    let query = Query::select()
        .columns(key)
        .expr_as(Func::sum(Expr::col("backlog_delta")).cast_as("BIGINT"), "backlog")
        .from(table)
        .cond_where(filter.condition().add(in_span(time, span)))
        .group_by_columns(key)
        .to_owned();
    let mut out = Vec::new();
    for r in db.query_all(&query).await? {
        let (s, c, d, p, path, sum): (String, String, i32, i32, String, Option<i64>) = r.try_get_many_by_index()?;
        out.push(((s, c, d, p, path), sum.unwrap_or(0)));
    }
    Ok(out)
}

/// The backlog each cell had built up before `before_us` (the sum of its earlier deltas), per
/// cell and region path: its running backlog minus the deltas from `before_us` on, so a query
/// reads the rows since its start rather than the whole history. The deltas since then come
/// from day rows in `days` (whole days: `Plan::backlog_days`) and from hour rows before and
/// after them. Per cell and region path, or per kept key of `level` (which must hold the filter).
pub async fn backlog_before(
    db: &impl ConnectionTrait,
    filter: &Filter,
    before_us: i64,
    days: Span,
    level: Option<Level>,
) -> Result<Vec<(Cell, String, i64)>, DbErr> {
    if let Some(level) = level {
        return levels::backlog_before(db, level, filter, before_us, days).await;
    }
    let mut since: HashMap<CellPath, i64> = HashMap::new();
    for (tier, span) in backlog_parts(before_us, days) {
        let (table, time) = if tier == Tier::Day { ("kpi_day", "day_us") } else { ("kpi_hour", "hour_us") };
        for (key, sum) in deltas_in(db, table, time, filter, span).await? {
            *since.entry(key).or_insert(0) += sum;
        }
    }
    let running = kpi_backlog::Entity::find()
        .filter(filter.condition())
        .filter(kpi_backlog::Column::FirstHourUs.lt(before_us))
        .all(db)
        .await?;
    Ok(running
        .into_iter()
        .map(|r| {
            let key = (r.site_id, r.category_id, r.dimension, r.perspective, r.region_path);
            let backlog = r.backlog - since.get(&key).copied().unwrap_or(0);
            let (site_id, category_id, dimension, perspective, path) = key;
            (Cell { site_id, category_id, dimension, perspective }, path, backlog)
        })
        .collect())
}

/// Where the backlog deltas from `before_us` on are summed from: day rows in `days`, hour rows
/// before and after them (empty parts left out).
fn backlog_parts(before_us: i64, days: Span) -> impl Iterator<Item = (Tier, Span)> {
    let hours = Span { start_us: before_us, end_us: days.start_us };
    let later = Span { start_us: days.end_us, end_us: i64::MAX };
    [(Tier::Hour, hours), (Tier::Day, days), (Tier::Hour, later)].into_iter().filter(|(_, s)| s.start_us < s.end_us)
}

/// Sets every cell's running backlog from its hour rows, for hour rows written without
/// the projector (those projected before the running backlog existed, or bulk-loaded ones).
pub async fn recount_backlog(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    kpi_backlog::Entity::delete_many().exec(db).await?;
    db.execute_unprepared(
        "INSERT INTO kpi_backlog (site_id, category_id, dimension, perspective, region_path, backlog, first_hour_us) \
         SELECT site_id, category_id, dimension, perspective, region_path, CAST(SUM(backlog_delta) AS BIGINT), MIN(hour_us) \
         FROM kpi_hour GROUP BY site_id, category_id, dimension, perspective, region_path",
    )
    .await
    .map(drop)
}

/// The tiers whose rows a query reads: per cell, hours and days; merged at a level, every tier.
pub fn tiers(level: Option<Level>) -> &'static [Tier] {
    match level {
        None => &[Tier::Hour, Tier::Day],
        Some(_) => &Tier::ALL,
    }
}

/// Sets every day row and rollup row from the hour rows, with days in `tz` (a changed zone,
/// hour rows written past the projector), reading each day's hour rows once for both.
pub async fn recount_rollups(db: &impl ConnectionTrait, tz: chrono_tz::Tz) -> Result<(), DbErr> {
    kpi_day::Entity::delete_many().exec(db).await?;
    kpi_rollup::Entity::delete_many().exec(db).await?;
    let mut rollups = levels::Recount::new(tz);
    for day in days::spans(db, tz).await? {
        let hours = days::hours_of(db, day).await?;
        days::insert_merged(db, day.start_us, &hours).await?;
        rollups.add_day(db, day, &hours).await?;
    }
    rollups.finish(db).await
}

/// Stores a newer snapshot of a site; an older or equal version changes nothing.
pub async fn upsert_site(db: &impl ConnectionTrait, site: site::Model) -> Result<(), DbErr> {
    match site::Entity::find_by_id(site.id.clone()).one(db).await? {
        Some(old) if old.version >= site.version => Ok(()),
        Some(_) => site.into_active_model().reset_all().update(db).await.map(drop),
        None => site.into_active_model().insert(db).await.map(drop),
    }
}

/// Stores a newer snapshot of a region; an older or equal version changes nothing.
pub async fn upsert_region(db: &impl ConnectionTrait, region: region::Model) -> Result<(), DbErr> {
    match region::Entity::find_by_id(region.id.clone()).one(db).await? {
        Some(old) if old.version >= region.version => Ok(()),
        Some(_) => region.into_active_model().reset_all().update(db).await.map(drop),
        None => region.into_active_model().insert(db).await.map(drop),
    }
}

/// Stores a newer snapshot of a category; an older or equal version changes nothing.
pub async fn upsert_category(db: &impl ConnectionTrait, category: category::Model) -> Result<(), DbErr> {
    match category::Entity::find_by_id(category.id.clone()).one(db).await? {
        Some(old) if old.version >= category.version => Ok(()),
        Some(_) => category.into_active_model().reset_all().update(db).await.map(drop),
        None => category.into_active_model().insert(db).await.map(drop),
    }
}

pub async fn progress(db: &impl ConnectionTrait) -> Result<Vec<stream_progress::Model>, DbErr> {
    stream_progress::Entity::find().all(db).await
}

/// The newest event time applied over all streams; `None` before the first event.
pub async fn as_of_us(db: &impl ConnectionTrait) -> Result<Option<i64>, DbErr> {
    Ok(progress(db).await?.iter().map(|p| p.last_event_us).max())
}

pub async fn sites(db: &impl ConnectionTrait) -> Result<Vec<site::Model>, DbErr> {
    site::Entity::find().all(db).await
}

pub async fn regions(db: &impl ConnectionTrait) -> Result<Vec<region::Model>, DbErr> {
    region::Entity::find().all(db).await
}

pub async fn categories(db: &impl ConnectionTrait) -> Result<Vec<category::Model>, DbErr> {
    category::Entity::find().all(db).await
}

pub const META_REBUILD_STARTED: &str = "rebuild_started_us";

pub async fn meta(db: &impl ConnectionTrait, key: &str) -> Result<Option<i64>, DbErr> {
    Ok(projection_meta::Entity::find_by_id(key.to_owned()).one(db).await?.map(|m| m.value))
}

pub async fn set_meta(db: &impl ConnectionTrait, key: &str, value: Option<i64>) -> Result<(), DbErr> {
    projection_meta::Entity::delete_by_id(key.to_owned()).exec(db).await?;
    if let Some(value) = value {
        projection_meta::ActiveModel { key: Set(key.to_owned()), value: Set(value) }.insert(db).await?;
    }
    Ok(())
}

/// Empties every projection table (inside the caller's transaction), for a rebuild.
pub async fn clear_projections(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    kpi_hour::Entity::delete_many().exec(db).await?;
    kpi_day::Entity::delete_many().exec(db).await?;
    kpi_rollup::Entity::delete_many().exec(db).await?;
    kpi_backlog::Entity::delete_many().exec(db).await?;
    site::Entity::delete_many().exec(db).await?;
    region::Entity::delete_many().exec(db).await?;
    category::Entity::delete_many().exec(db).await?;
    stream_progress::Entity::delete_many().exec(db).await?;
    ticket::Entity::delete_many().exec(db).await?;
    ticket_rating::Entity::delete_many().exec(db).await?;
    Ok(())
}

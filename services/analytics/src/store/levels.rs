//! Facts merged across cells (`kpi_rollup`): per hour, quarter day, day and week of the rollup
//! zone (`domain::time::Tier`), the total, each site's and each category's (with its scenario
//! cell). A query whose filter and grouping one level holds reads that level instead of the
//! per-cell rows: one row per span (and site, or category) instead of one per site × category
//! and hour or day, from the coarsest spans that fit its range and buckets (`Plan`). The
//! projector keeps the hour tier's in the transaction that changes the hour row, and a coarser
//! span's when it has closed (`closing`); the recount sets them from the hour rows (migration
//! backfill, a changed zone, hour rows bulk-loaded past the projector).
//!
//! A level keeps no region path: region filters and groupings read the per-cell rows, whose
//! path is each hour's own (a site that moved region keeps its earlier facts under the old path).

use super::entities::kpi_rollup;
use super::{Cell, FactRow, Filter, backlog_parts, batch, days, decode, in_span};
use crate::domain::kpi::Facts;
use crate::domain::time::{Plan, Span, Tier};
use chrono_tz::Tz;
use sea_orm::sea_query::{Expr, ExprTrait, Func, OnConflict, Query, SelectStatement, UnionType};
use sea_orm::{Condition, ConnectionTrait, DbErr, EntityTrait, Set};
use std::collections::{BTreeMap, HashMap};

/// What of a cell a rollup row keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Nothing: every cell's facts in one row.
    Total = 1,
    /// The site.
    Site = 2,
    /// The category and scenario cell.
    Scenario = 3,
}

impl Level {
    /// Every level, coarsest (fewest rows) first.
    pub const ALL: [Level; 3] = [Level::Total, Level::Scenario, Level::Site];

    /// The part of `cell` this level keeps, the rest blank.
    pub fn key(self, cell: &Cell) -> Cell {
        match self {
            Level::Total => Cell::default(),
            Level::Site => Cell { site_id: cell.site_id.clone(), ..Cell::default() },
            Level::Scenario => Cell {
                site_id: String::new(),
                category_id: cell.category_id.clone(),
                dimension: cell.dimension,
                perspective: cell.perspective,
            },
        }
    }

    /// Whether every field `filter` filters on is one this level keeps.
    pub fn holds(self, filter: &Filter) -> bool {
        let Filter { region_ids, site_ids, category_ids, cells } = filter;
        let scenario_free = category_ids.is_empty() && cells.is_empty();
        region_ids.is_empty()
            && match self {
                Level::Total => site_ids.is_empty() && scenario_free,
                Level::Site => scenario_free,
                Level::Scenario => site_ids.is_empty(),
            }
    }

    /// The cell columns this level keeps, in key order (those its rows are read with, and
    /// those of `kpi_backlog` it groups the running backlog by).
    fn kept(self) -> &'static [&'static str] {
        match self {
            Level::Total => &[],
            Level::Site => &["site_id"],
            Level::Scenario => &["category_id", "dimension", "perspective"],
        }
    }
}

/// A rollup row's key: (tier, level, start, kept cell), in the table's key order.
pub(super) type Key = (Tier, Level, i64, Cell);

/// Contributions to rollup rows, per key: a backlog delta and the facts.
pub(super) type Changes<'a> = BTreeMap<Key, (i64, Vec<&'a Facts>)>;

/// Adds one hour row's contributions to its rollup rows: at every level, the row of each tier's
/// span (in the rollup zone `tz`) that holds the hour — of a coarser tier only when that span
/// closed by `closed_us` (an open one gets its rows when it closes: `closing`).
pub(super) fn add<'a>(changes: &mut Changes<'a>, tz: Tz, closed_us: i64, hour_us: i64, cell: &Cell, delta: i64, facts: &'a [Facts]) {
    for tier in Tier::ALL {
        let span = tier.span_of(tz, hour_us);
        if tier != Tier::Hour && span.end_us > closed_us {
            continue;
        }
        let start_us = span.start_us;
        for level in Level::ALL {
            let (sum, all) = changes.entry((tier, level, start_us, level.key(cell))).or_default();
            *sum += delta;
            all.extend(facts);
        }
    }
}

fn row((tier, level, start_us, cell): &Key, backlog_delta: i64, facts: Vec<u8>) -> kpi_rollup::ActiveModel {
    kpi_rollup::ActiveModel {
        tier: Set(*tier as i32),
        level: Set(*level as i32),
        start_us: Set(*start_us),
        site_id: Set(cell.site_id.clone()),
        category_id: Set(cell.category_id.clone()),
        dimension: Set(cell.dimension),
        perspective: Set(cell.perspective),
        backlog_delta: Set(backlog_delta),
        facts: Set(facts),
    }
}

fn key_of(m: &kpi_rollup::Model) -> Result<Key, DbErr> {
    let cell =
        Cell { site_id: m.site_id.clone(), category_id: m.category_id.clone(), dimension: m.dimension, perspective: m.perspective };
    Ok((tier_of(m.tier)?, level_of(m.level)?, m.start_us, cell))
}

fn tier_of(n: i32) -> Result<Tier, DbErr> {
    Tier::ALL.into_iter().find(|t| *t as i32 == n).ok_or_else(|| DbErr::Custom(format!("kpi_rollup tier {n} unknown")))
}

fn level_of(n: i32) -> Result<Level, DbErr> {
    Level::ALL.into_iter().find(|l| *l as i32 == n).ok_or_else(|| DbErr::Custom(format!("kpi_rollup level {n} unknown")))
}

fn on_key() -> OnConflict {
    use kpi_rollup::Column::*;
    OnConflict::columns([Tier, Level, StartUs, SiteId, CategoryId, Dimension, Perspective])
}

/// Adds a batch's contributions to the rollup rows, claimed (created when missing, locked in
/// key order) as the hour and day rows are, merged in memory and written back in one statement.
pub(super) async fn add_all(db: &impl ConnectionTrait, changes: Changes<'_>) -> Result<(), DbErr> {
    if changes.is_empty() {
        return Ok(());
    }
    let claimed = changes.keys().map(|key| row(key, 0, Vec::new())).collect();
    let mut stored = HashMap::with_capacity(changes.len());
    for m in batch::claim(db, claimed, on_key(), kpi_rollup::Column::Facts).await? {
        stored.insert(key_of(&m)?, m);
    }
    let mut rows = Vec::with_capacity(changes.len());
    for (key, (delta, facts)) in &changes {
        let old = stored.remove(key).ok_or_else(|| DbErr::RecordNotFound("kpi_rollup row not claimed".into()))?;
        let at = batch::Stored { table: "kpi_rollup", start_us: key.2, cell: &key.3, facts: &old.facts, backlog_delta: old.backlog_delta };
        let (delta, facts) = batch::merged(at, *delta, facts.iter().copied())?;
        rows.push(row(key, delta, facts));
    }
    let written = [kpi_rollup::Column::BacklogDelta, kpi_rollup::Column::Facts];
    batch::upsert(db, rows, on_key().update_columns(written).to_owned()).await
}

/// Sets the rows of a closed span of `tier` (every level) from the rows of the tier below whose
/// spans it holds, replacing what a recount wrote while it was open.
pub(super) async fn close_span(db: &impl ConnectionTrait, tier: Tier, span: Span) -> Result<(), DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let Some(below) = tier.finer() else { return Ok(()) };
    let parts = kpi_rollup::Entity::find()
        .filter(kpi_rollup::Column::Tier.eq(below as i32))
        .filter(kpi_rollup::Column::StartUs.gte(span.start_us))
        .filter(kpi_rollup::Column::StartUs.lt(span.end_us))
        .all(db)
        .await?;
    let mut rows: BTreeMap<Key, (i64, Facts)> = BTreeMap::new();
    for part in parts {
        let (_, level, start_us, cell) = key_of(&part)?;
        let facts = decode(&part.facts, "kpi_rollup", start_us, &cell)?;
        let (delta, sum) = rows.entry((tier, level, span.start_us, cell)).or_default();
        *delta += part.backlog_delta;
        sum.merge(&facts);
    }
    kpi_rollup::Entity::delete_many()
        .filter(kpi_rollup::Column::Tier.eq(tier as i32))
        .filter(kpi_rollup::Column::StartUs.eq(span.start_us))
        .exec(db)
        .await?;
    insert(db, rows).await
}

/// The rows of one tier and level, in the table's own terms.
fn of(tier: Tier, level: Level) -> Condition {
    Condition::all().add(Expr::col("tier").eq(tier as i32)).add(Expr::col("level").eq(level as i32))
}

/// The rows of `level` that the filter matches in the plan's spans, each tier's from its rows,
/// oldest first. Their region path is empty.
pub(super) async fn facts_in(db: &impl ConnectionTrait, level: Level, filter: &Filter, plan: &Plan) -> Result<Vec<FactRow>, DbErr> {
    // One key range per tier and run, joined with UNION ALL: each part is one range of the
    // table's key (an OR of ranges would scan every start of the tier and level).
    let mut query: Option<SelectStatement> = None;
    for tier in Tier::ALL {
        for span in plan.spans(tier) {
            // The kept columns only: each value costs a copy per row.
            let part = Query::select()
                .columns(["start_us", "backlog_delta", "facts"])
                .columns(level.kept().iter().copied())
                .from("kpi_rollup")
                .cond_where(filter.condition().add(of(tier, level)).add(in_span("start_us", *span)))
                .to_owned();
            match &mut query {
                None => query = Some(part),
                Some(q) => drop(q.union(UnionType::All, part)),
            }
        }
    }
    let Some(query) = query else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for r in db.query_all(&query).await? {
        let (start_us, backlog_delta, facts): (i64, i64, Vec<u8>) = (r.try_get_by_index(0)?, r.try_get_by_index(1)?, r.try_get_by_index(2)?);
        let cell = match level {
            Level::Total => Cell::default(),
            Level::Site => Cell { site_id: r.try_get_by_index(3)?, ..Cell::default() },
            Level::Scenario => Cell {
                site_id: String::new(),
                category_id: r.try_get_by_index(3)?,
                dimension: r.try_get_by_index(4)?,
                perspective: r.try_get_by_index(5)?,
            },
        };
        let facts = decode(&facts, "kpi_rollup", start_us, &cell)?;
        out.push(FactRow { start_us, cell, region_path: String::new(), backlog_delta, facts });
    }
    out.sort_by_key(|r| r.start_us);
    Ok(out)
}

/// The backlog each kept key of `level` had built up before `before_us`: the running backlogs
/// of its cells (summed by the database) minus its deltas from `before_us` on, from day rows
/// in `days` and from hour rows before and after them. Region path empty.
pub(super) async fn backlog_before(
    db: &impl ConnectionTrait,
    level: Level,
    filter: &Filter,
    before_us: i64,
    days: Span,
) -> Result<Vec<(Cell, String, i64)>, DbErr> {
    let mut since: HashMap<Cell, i64> = HashMap::new();
    for (tier, span) in backlog_parts(before_us, days) {
        let condition = filter.condition().add(of(tier, level)).add(in_span("start_us", span));
        // A rollup row's dropped fields are blank, so grouping by every cell column groups by
        // the kept ones.
        for (cell, sum) in sums(db, "kpi_rollup", "backlog_delta", &CELL_COLUMNS, condition).await? {
            *since.entry(cell).or_insert(0) += sum;
        }
    }
    let running = sums(db, "kpi_backlog", "backlog", level.kept(), filter.condition()).await?;
    Ok(running
        .into_iter()
        .map(|(cell, backlog)| {
            let backlog = backlog - since.get(&cell).copied().unwrap_or(0);
            (cell, String::new(), backlog)
        })
        .collect())
}

/// The columns of a cell, in every table that has them.
const CELL_COLUMNS: [&str; 4] = ["site_id", "category_id", "dimension", "perspective"];

/// `SUM(value)` of `table`'s rows matching `condition`, grouped by the cell columns `kept`
/// (the others reported blank): one row per kept key, one for all rows when none is kept.
async fn sums(
    db: &impl ConnectionTrait,
    table: &'static str,
    value: &'static str,
    kept: &[&'static str],
    condition: Condition,
) -> Result<Vec<(Cell, i64)>, DbErr> {
    let mut query = Query::select();
    for column in CELL_COLUMNS {
        if kept.contains(&column) {
            query.column(column);
        } else if column.ends_with("_id") {
            query.expr_as(Expr::cust("''"), column);
        } else {
            query.expr_as(Expr::cust("0"), column);
        }
    }
    query
        .expr_as(Func::sum(Expr::col(value)).cast_as("BIGINT"), "total")
        .from(table)
        .cond_where(condition)
        .group_by_columns(kept.iter().copied());
    let mut out = Vec::new();
    for r in db.query_all(&query).await? {
        let (site_id, category_id, dimension, perspective, sum): (String, String, i32, i32, Option<i64>) = r.try_get_many_by_index()?;
        if let Some(sum) = sum {
            out.push((Cell { site_id, category_id, dimension, perspective }, sum));
        }
    }
    Ok(out)
}

/// Rows per multi-row insert: 9 columns stay well under SQLite's and PostgreSQL's bind limits.
const INSERT_BATCH: usize = 1000;

/// Sets every rollup row from the hour rows, with days in `tz`.
pub async fn recount(db: &impl ConnectionTrait, tz: Tz) -> Result<(), DbErr> {
    kpi_rollup::Entity::delete_many().exec(db).await?;
    let mut recount = Recount::new(tz);
    for day in days::spans(db, tz).await? {
        recount.add_day(db, day, &days::hours_of(db, day).await?).await?;
    }
    recount.finish(db).await
}

/// Rollup rows counted from hour rows read a day at a time, oldest first: a row is written
/// once every hour of its span has been read (a week's at its end).
pub(super) struct Recount {
    tz: Tz,
    open: BTreeMap<Key, (i64, Facts)>,
}

impl Recount {
    pub(super) fn new(tz: Tz) -> Self {
        Self { tz, open: BTreeMap::new() }
    }

    /// Adds the hour rows of `day` and writes the rows whose spans end with it.
    pub(super) async fn add_day(&mut self, db: &impl ConnectionTrait, day: Span, hours: &[FactRow]) -> Result<(), DbErr> {
        for h in hours {
            for tier in Tier::ALL {
                let start_us = tier.span_of(self.tz, h.start_us).start_us;
                for level in Level::ALL {
                    let (delta, sum) = self.open.entry((tier, level, start_us, level.key(&h.cell))).or_default();
                    *delta += h.backlog_delta;
                    sum.merge(&h.facts);
                }
            }
        }
        let tz = self.tz;
        let (done, open) =
            std::mem::take(&mut self.open).into_iter().partition(|((tier, _, start_us, _), _)| tier.span_of(tz, *start_us).end_us <= day.end_us);
        self.open = open;
        insert(db, done).await
    }

    /// Writes the rows still open (the last week's).
    pub(super) async fn finish(self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        insert(db, self.open).await
    }
}

async fn insert(db: &impl ConnectionTrait, rows: BTreeMap<Key, (i64, Facts)>) -> Result<(), DbErr> {
    let rows: Vec<_> = rows.iter().map(|(key, (delta, facts))| row(key, *delta, facts.encode())).collect();
    for chunk in rows.chunks(INSERT_BATCH) {
        kpi_rollup::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
    }
    Ok(())
}

/// The distinct starts of the stored day rows (to check they are local midnights of the zone).
pub(super) async fn day_starts(db: &impl ConnectionTrait) -> Result<Vec<i64>, DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
    kpi_rollup::Entity::find()
        .select_only()
        .column(kpi_rollup::Column::StartUs)
        .filter(kpi_rollup::Column::Tier.eq(Tier::Day as i32))
        .distinct()
        .into_tuple()
        .all(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::ALL_CLOSED;

    fn cell() -> Cell {
        Cell { site_id: "s".into(), category_id: "c".into(), dimension: 2, perspective: 3 }
    }

    #[test]
    fn each_level_keeps_its_fields_and_blanks_the_rest() {
        assert_eq!(Level::Total.key(&cell()), Cell::default());
        assert_eq!(Level::Site.key(&cell()), Cell { site_id: "s".into(), ..Cell::default() });
        assert_eq!(Level::Scenario.key(&cell()), Cell { site_id: String::new(), ..cell() });
    }

    #[test]
    fn a_level_holds_only_filters_on_what_it_keeps() {
        let by = |f: fn(&mut Filter)| {
            let mut filter = Filter::default();
            f(&mut filter);
            Level::ALL.into_iter().filter(|l| l.holds(&filter)).collect::<Vec<_>>()
        };
        assert_eq!(by(|_| {}), Level::ALL.to_vec());
        assert_eq!(by(|f| f.site_ids = vec!["s".into()]), vec![Level::Site]);
        assert_eq!(by(|f| f.category_ids = vec!["c".into()]), vec![Level::Scenario]);
        assert_eq!(by(|f| f.cells = vec![(1, 2)]), vec![Level::Scenario]);
        assert_eq!(by(|f| f.region_ids = vec!["r".into()]), Vec::<Level>::new());
        assert_eq!(by(|f| (f.site_ids, f.category_ids) = (vec!["s".into()], vec!["c".into()])), Vec::<Level>::new());
    }

    #[test]
    fn an_hour_row_adds_to_every_level_once_per_tier() {
        let utc: Tz = "UTC".parse().unwrap();
        let hour = crate::domain::time::HOUR_US;
        let facts = [Facts::default()];
        let mut changes = Changes::new();
        add(&mut changes, utc, ALL_CLOSED, 10 * hour, &cell(), 1, &facts);
        add(&mut changes, utc, ALL_CLOSED, 11 * hour, &Cell { site_id: "t".into(), ..cell() }, 2, &facts);
        let day_total = &changes[&(Tier::Day, Level::Total, 0, Cell::default())];
        assert_eq!((day_total.0, day_total.1.len()), (3, 2));
        let quarter_scenario = &changes[&(Tier::Quarter, Level::Scenario, 6 * hour, Level::Scenario.key(&cell()))];
        assert_eq!(quarter_scenario.0, 3);
        assert_eq!(changes[&(Tier::Hour, Level::Site, 11 * hour, Cell { site_id: "t".into(), ..Cell::default() })].0, 2);
        // Two hours × three levels; one quarter, one day and one week (1970-01-01 was a
        // Thursday, its week began on Monday 29 December 1969) × (total, scenario, two sites).
        assert_eq!(changes.len(), 6 + 3 * 4);
        assert!(changes.contains_key(&(Tier::Week, Level::Total, -3 * 24 * hour, Cell::default())));
    }
}

//! The changes of a batch of events, folded in memory per row and written with one statement per
//! table (two for hour and day rows: claim, then write), whatever the batch's size.
//!
//! The consumers of the three streams run concurrently and add to the same hour, day and backlog
//! rows. Each statement takes its rows in key order (the maps below are sorted), and every batch
//! takes the tables in the same order, so two batches cannot wait on each other in a cycle.

use super::entities::{category, kpi_backlog, kpi_hour, region, site, stream_progress, ticket, ticket_rating};
use super::tickets::{self, Milestones};
use super::{Cell, days, decode, levels};
use crate::domain::kpi::Facts;
use crate::domain::time::day_of;
use chrono_tz::Tz;
use sea_orm::sea_query::{Expr, ExprTrait, Func, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, IntoActiveModel, Iterable,
    QueryFilter, QuerySelect, QueryTrait, Set,
};
use std::collections::{BTreeMap, BTreeSet};

/// Bound parameters per statement: under SQLite's limit (32766; PostgreSQL allows 65535).
pub(super) const MAX_PARAMS: usize = 32_000;

/// A registry snapshot, stored unless a newer version is.
pub enum Snapshot {
    Region(region::Model),
    Site(site::Model),
    Category(category::Model),
}

/// What a batch adds to one hour row.
struct HourChange {
    /// The latest contribution's region path (a site that moved region moves its row).
    region_path: String,
    backlog_delta: i64,
    /// The contributions (merging is exact: counts and sketch bins add up in any order).
    facts: Vec<Facts>,
}

/// Every change a batch makes, folded per row.
#[derive(Default)]
pub struct Changes {
    snapshots: Vec<Snapshot>,
    hours: BTreeMap<(i64, Cell), HourChange>,
    /// Each ticket's events in order (the snapshot rule depends on the stored row).
    tickets: BTreeMap<String, Vec<(ticket::Model, Milestones)>>,
    ratings: BTreeMap<String, ticket_rating::Model>,
    /// Per stream: events applied and the latest event time.
    progress: BTreeMap<String, (i64, i64)>,
}

impl Changes {
    pub fn snapshot(&mut self, snapshot: Snapshot) {
        self.snapshots.push(snapshot);
    }

    /// Adds a contribution to one hour row (and so to its cell's backlog, and to its day and
    /// rollup rows: `write_facts`).
    pub fn add_facts(&mut self, hour_us: i64, cell: &Cell, region_path: &str, backlog_delta: i64, facts: Facts) {
        let change = self.hours.entry((hour_us, cell.clone())).or_insert_with(|| HourChange {
            region_path: String::new(),
            backlog_delta: 0,
            facts: Vec::new(),
        });
        region_path.clone_into(&mut change.region_path);
        change.backlog_delta += backlog_delta;
        change.facts.push(facts);
    }

    pub fn record_ticket(&mut self, row: ticket::Model, milestones: Milestones) {
        self.tickets.entry(row.id.clone()).or_default().push((row, milestones));
    }

    pub fn rate(&mut self, rating: ticket_rating::Model) {
        match self.ratings.get(&rating.ticket_id) {
            Some(kept) if !tickets::replaces(kept, &rating) => {}
            _ => {
                self.ratings.insert(rating.ticket_id.clone(), rating);
            }
        }
    }

    /// Counts one applied event of `stream` that happened at `time_us`.
    pub fn count(&mut self, stream: &str, time_us: i64) {
        let (applied, latest) = self.progress.entry(stream.to_owned()).or_insert((0, time_us));
        *applied += 1;
        *latest = std::cmp::max(*latest, time_us);
    }

    /// Writes everything, inside the caller's transaction, with days in `day_zone`.
    pub async fn write(self, db: &impl ConnectionTrait, day_zone: Tz) -> Result<(), DbErr> {
        for snapshot in self.snapshots {
            match snapshot {
                Snapshot::Region(r) => super::upsert_region(db, r).await?,
                Snapshot::Site(s) => super::upsert_site(db, s).await?,
                Snapshot::Category(c) => super::upsert_category(db, c).await?,
            }
        }
        tickets::record_all(db, self.tickets).await?;
        tickets::rate_all(db, self.ratings.into_values().collect()).await?;
        record_progress(db, self.progress).await?;
        // Last: the other streams' consumers add to the same hour, day and rollup rows (the
        // totals in every batch), so their locks are held only from here to the commit.
        write_facts(db, day_zone, self.hours).await
    }
}

/// An hour row as it was before the batch: its region path and backlog delta.
type Before = Option<(String, i64)>;

/// Writes the hour rows, then the day and rollup rows of the spans closed so far (the rollup
/// hour tier's always) and the running backlogs they feed; an hour row that moved to another
/// region path (its site moved) also takes the rare per-row path (the rollup rows keep no path,
/// so a move leaves them as they are).
async fn write_facts(db: &impl ConnectionTrait, day_zone: Tz, hours: BTreeMap<(i64, Cell), HourChange>) -> Result<(), DbErr> {
    if hours.is_empty() {
        return Ok(());
    }
    let closed_us = super::closing::hold(db).await?;
    let before = write_hours(db, &hours).await?;
    let mut day_rows: BTreeMap<days::Key, (i64, Vec<&Facts>)> = BTreeMap::new();
    let mut rollups = levels::Changes::new();
    let mut backlogs: BTreeMap<(Cell, String), (i64, i64)> = BTreeMap::new();
    let mut moved = Vec::new();
    for (((hour_us, cell), change), before) in hours.iter().zip(before) {
        let path = &change.region_path;
        let day = day_of(day_zone, *hour_us);
        if day.end_us <= closed_us {
            let (delta, facts) = day_rows.entry((day.start_us, cell.clone(), path.clone())).or_default();
            *delta += change.backlog_delta;
            facts.extend(&change.facts);
        }
        levels::add(&mut rollups, day_zone, closed_us, *hour_us, cell, change.backlog_delta, &change.facts);
        // What the running backlog of the row's path gains: nothing for an old row whose delta
        // is unchanged; the row's whole delta when it moved here.
        let booked = match before {
            Some((old_path, _)) if old_path == *path => (change.backlog_delta != 0).then_some(change.backlog_delta),
            Some((old_path, old_delta)) => {
                moved.push((*hour_us, cell, old_path, old_delta));
                Some(old_delta + change.backlog_delta)
            }
            None => Some(change.backlog_delta),
        };
        if let Some(delta) = booked {
            let (sum, first) = backlogs.entry((cell.clone(), path.clone())).or_insert((0, *hour_us));
            *sum += delta;
            *first = std::cmp::min(*first, *hour_us);
        }
    }
    days::add_all(db, day_rows).await?;
    levels::add_all(db, rollups).await?;
    book_backlogs(db, backlogs).await?;
    move_rows(db, day_zone, closed_us, moved).await
}

/// Claims the hour rows (creating the missing ones), merges the changes into them and writes
/// them back; returns each row's state before the batch, in key order.
async fn write_hours(db: &impl ConnectionTrait, hours: &BTreeMap<(i64, Cell), HourChange>) -> Result<Vec<Before>, DbErr> {
    let row = |(hour_us, cell): &(i64, Cell), region_path: &str, backlog_delta: i64, facts: Vec<u8>| kpi_hour::ActiveModel {
        hour_us: Set(*hour_us),
        site_id: Set(cell.site_id.clone()),
        category_id: Set(cell.category_id.clone()),
        dimension: Set(cell.dimension),
        perspective: Set(cell.perspective),
        region_path: Set(region_path.to_owned()),
        backlog_delta: Set(backlog_delta),
        facts: Set(facts),
    };
    let claimed = hours.iter().map(|(key, change)| row(key, &change.region_path, 0, Vec::new()));
    let mut stored: BTreeMap<(i64, Cell), kpi_hour::Model> = claim(db, claimed.collect(), hour_key(), kpi_hour::Column::Facts)
        .await?
        .into_iter()
        .map(|m| ((m.hour_us, hour_cell(&m)), m))
        .collect();
    let mut rows = Vec::with_capacity(hours.len());
    let mut before = Vec::with_capacity(hours.len());
    for (key, change) in hours {
        let old = stored.remove(key).ok_or_else(|| DbErr::RecordNotFound("kpi_hour row not claimed".into()))?;
        let was = existed(&old.facts).then_some((old.region_path, old.backlog_delta));
        let stored = Stored { table: "kpi_hour", start_us: key.0, cell: &key.1, facts: &old.facts, backlog_delta: old.backlog_delta };
        let (delta, facts) = merged(stored, change.backlog_delta, change.facts.iter())?;
        rows.push(row(key, &change.region_path, delta, facts));
        before.push(was);
    }
    let written = [kpi_hour::Column::RegionPath, kpi_hour::Column::BacklogDelta, kpi_hour::Column::Facts];
    upsert(db, rows, hour_key().update_columns(written).to_owned()).await?;
    Ok(before)
}

fn hour_cell(m: &kpi_hour::Model) -> Cell {
    Cell { site_id: m.site_id.clone(), category_id: m.category_id.clone(), dimension: m.dimension, perspective: m.perspective }
}

fn hour_key() -> OnConflict {
    OnConflict::columns([
        kpi_hour::Column::HourUs,
        kpi_hour::Column::SiteId,
        kpi_hour::Column::CategoryId,
        kpi_hour::Column::Dimension,
        kpi_hour::Column::Perspective,
    ])
}

/// Whether a claimed row existed before the claim (one it created has empty facts).
pub(super) fn existed(facts: &[u8]) -> bool {
    !facts.is_empty()
}

/// A claimed hour or day row as stored, and where it is (for an error naming it).
pub(super) struct Stored<'a> {
    pub table: &'static str,
    pub start_us: i64,
    pub cell: &'a Cell,
    pub facts: &'a [u8],
    pub backlog_delta: i64,
}

/// A claimed row's backlog delta and encoded facts with contributions added.
pub(super) fn merged<'a>(
    stored: Stored<'_>,
    delta: i64,
    contributions: impl Iterator<Item = &'a Facts>,
) -> Result<(i64, Vec<u8>), DbErr> {
    let mut facts =
        if existed(stored.facts) { decode(stored.facts, stored.table, stored.start_us, stored.cell)? } else { Facts::default() };
    for c in contributions {
        facts.merge(c);
    }
    Ok((stored.backlog_delta + delta, facts.encode()))
}

/// Locks the rows of `rows`' keys in key order, creating the missing ones as given (with empty
/// facts, which the batch overwrites before it commits), and returns them as stored.
///
/// One upsert does both: on PostgreSQL a row another consumer is inserting makes it wait for
/// that commit and then lock the row, so no contribution is lost and no retry is needed; a
/// read-then-insert would take some locks out of key order.
pub(super) async fn claim<A>(
    db: &impl ConnectionTrait,
    rows: Vec<A>,
    key: OnConflict,
    facts: <A::Entity as EntityTrait>::Column,
) -> Result<Vec<<A::Entity as EntityTrait>::Model>, DbErr>
where
    A: ActiveModelTrait + Send,
{
    let lock = key.clone().value(facts, Expr::col((A::Entity::default(), facts))).to_owned();
    let mut stored = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(per_statement::<A>()) {
        let mut query = A::Entity::insert_many(chunk.to_vec()).on_conflict(lock.clone()).into_query();
        query.returning_all();
        for r in flywheel_runtime::bulk::query_all(db, &query).await? {
            stored.push(<A::Entity as EntityTrait>::Model::from_query_result(&r, "")?);
        }
    }
    Ok(stored)
}

/// Inserts `rows`, or updates them as `on_conflict` says, in as few statements as the bound
/// parameter limit allows.
pub(super) async fn upsert<A>(db: &impl ConnectionTrait, rows: Vec<A>, on_conflict: OnConflict) -> Result<(), DbErr>
where
    A: ActiveModelTrait + Send,
{
    for chunk in rows.chunks(per_statement::<A>()) {
        let query = A::Entity::insert_many(chunk.to_vec()).on_conflict(on_conflict.clone()).into_query();
        flywheel_runtime::bulk::execute(db, &query).await?;
    }
    Ok(())
}

fn per_statement<A: ActiveModelTrait>() -> usize {
    MAX_PARAMS / <A::Entity as EntityTrait>::Column::iter().count()
}

/// Adds to the running backlogs, per cell and region path: (delta, hour of the row it comes from).
/// A new row starts at its delta; an existing one adds it and keeps the earlier hour.
async fn book_backlogs(db: &impl ConnectionTrait, backlogs: BTreeMap<(Cell, String), (i64, i64)>) -> Result<(), DbErr> {
    use kpi_backlog::Column::{Backlog, CategoryId, Dimension, FirstHourUs, Perspective, RegionPath, SiteId};
    let rows = backlogs
        .into_iter()
        .map(|((cell, path), (delta, first_hour_us))| kpi_backlog::ActiveModel {
            site_id: Set(cell.site_id),
            category_id: Set(cell.category_id),
            dimension: Set(cell.dimension),
            perspective: Set(cell.perspective),
            region_path: Set(path),
            backlog: Set(delta),
            first_hour_us: Set(first_hour_us),
        })
        .collect();
    let stored = |c| Expr::col((kpi_backlog::Entity, c));
    let booked = |c| Expr::col(("excluded", c));
    let earlier = Expr::case(stored(FirstHourUs).gt(booked(FirstHourUs)), booked(FirstHourUs)).finally(stored(FirstHourUs));
    let on_conflict = OnConflict::columns([SiteId, CategoryId, Dimension, Perspective, RegionPath])
        .value(Backlog, stored(Backlog).add(booked(Backlog)))
        .value(FirstHourUs, earlier)
        .to_owned();
    upsert(db, rows, on_conflict).await
}

/// The rare path of hour rows that moved to another region path (their site moved region):
/// their cell's day rows of that day, if it has closed by `closed_us`, are recounted from the
/// hour rows, and their delta leaves the running backlog of the old path (the new one got it in
/// `book_backlogs`).
async fn move_rows(db: &impl ConnectionTrait, day_zone: Tz, closed_us: i64, moved: Vec<(i64, &Cell, String, i64)>) -> Result<(), DbErr> {
    let mut recounted = BTreeSet::new();
    for (hour_us, cell, old_path, old_delta) in moved {
        let day = day_of(day_zone, hour_us);
        if day.end_us <= closed_us && recounted.insert((day.start_us, cell)) {
            days::recount_cell(db, day, cell).await?;
        }
        unbook_moved(db, cell, &old_path, old_delta).await?;
    }
    Ok(())
}

/// Takes a moved hour row's delta off the running backlog of its previous path, whose earliest
/// hour may have been that row.
async fn unbook_moved(db: &impl ConnectionTrait, cell: &Cell, old_path: &str, delta: i64) -> Result<(), DbErr> {
    let id = (cell.site_id.clone(), cell.category_id.clone(), cell.dimension, cell.perspective, old_path.to_owned());
    let Some(row) = kpi_backlog::Entity::find_by_id(id).lock_exclusive().one(db).await? else {
        return Ok(());
    };
    let first: Option<i64> = kpi_hour::Entity::find()
        .select_only()
        .column_as(Expr::expr(Func::min(Expr::col(kpi_hour::Column::HourUs))), "first")
        .filter(kpi_hour::Column::SiteId.eq(&cell.site_id))
        .filter(kpi_hour::Column::CategoryId.eq(&cell.category_id))
        .filter(kpi_hour::Column::Dimension.eq(cell.dimension))
        .filter(kpi_hour::Column::Perspective.eq(cell.perspective))
        .filter(kpi_hour::Column::RegionPath.eq(old_path))
        .into_tuple()
        .one(db)
        .await?
        .flatten();
    let backlog = row.backlog - delta;
    let mut active = row.into_active_model();
    match first {
        None => active.delete(db).await.map(drop),
        Some(first) => {
            active.backlog = Set(backlog);
            active.first_hour_us = Set(first);
            active.update(db).await.map(drop)
        }
    }
}

/// Counts the applied events per stream: (events, latest event time).
async fn record_progress(db: &impl ConnectionTrait, progress: BTreeMap<String, (i64, i64)>) -> Result<(), DbErr> {
    use stream_progress::Column::{EventsApplied, LastEventUs, Stream};
    let rows = progress
        .into_iter()
        .map(|(stream, (applied, latest))| stream_progress::ActiveModel {
            stream: Set(stream),
            events_applied: Set(applied),
            last_event_us: Set(latest),
        })
        .collect();
    let stored = |c| Expr::col((stream_progress::Entity, c));
    let counted = |c| Expr::col(("excluded", c));
    let later = Expr::case(stored(LastEventUs).lt(counted(LastEventUs)), counted(LastEventUs)).finally(stored(LastEventUs));
    let on_conflict = OnConflict::column(Stream)
        .value(EventsApplied, stored(EventsApplied).add(counted(EventsApplied)))
        .value(LastEventUs, later)
        .to_owned();
    upsert(db, rows, on_conflict).await
}

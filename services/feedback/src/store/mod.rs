//! Persistence: the tables and the queries the use cases share.

pub mod duplicates;
pub mod entities;
pub mod rate;

use crate::convert;
use entities::{report, report_ticket, survey, timeline};
use flywheel_proto::flywheel::feedback::v1::Report;
use flywheel_runtime::db::now_micros;
use flywheel_runtime::events::{OutgoingEvent, outbox};
use flywheel_runtime::{Error, Result, bulk};
use sea_orm::sea_query::{Alias, CommonTableExpression, Expr, ExprTrait, OnConflict, Query, UpdateStatement, Values, WithClause};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel, Iterable, ModelTrait, QueryFilter, QueryOrder,
    QueryTrait, Set, Statement,
};
use std::collections::HashMap;

pub async fn load_report(conn: &impl ConnectionTrait, id: &str) -> Result<report::Model> {
    report::Entity::find_by_id(id.to_owned()).one(conn).await?.ok_or_else(|| Error::not_found("report", id))
}

/// The report with its timeline and surveys, as the contract shows it (nothing redacted).
pub async fn snapshot(conn: &impl ConnectionTrait, row: report::Model) -> Result<Report> {
    let report = with_history(conn, vec![row]).await?.remove(0);
    Ok(report.snapshot(now_micros()))
}

/// A report's row with the rows its snapshot shows, as changed in memory so far.
#[derive(Clone, Debug)]
pub struct ReportRows {
    pub row: report::Model,
    /// The version the database holds: the row is written back only while it still does.
    pub stored_version: i64,
    /// The ticket the stored row is linked to: a new link is written with the row.
    pub stored_ticket_id: String,
    /// The timeline, by sequence number.
    pub steps: Vec<timeline::Model>,
    /// The surveys, by round.
    pub surveys: Vec<survey::Model>,
}

impl ReportRows {
    pub fn snapshot(&self, now_us: i64) -> Report {
        convert::report(self.row.clone(), self.steps.clone(), self.surveys.clone(), now_us)
    }
}

/// `rows` (in their order) with their timelines and surveys: two statements however many.
pub async fn with_history(conn: &impl ConnectionTrait, rows: Vec<report::Model>) -> Result<Vec<ReportRows>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let backend = conn.get_database_backend();
    let steps = timeline::Entity::find()
        .filter(bulk::is_in(backend, timeline::Column::ReportId, ids.clone()))
        .order_by_asc(timeline::Column::ReportId)
        .order_by_asc(timeline::Column::Seq)
        .all(conn)
        .await?;
    let surveys = survey::Entity::find()
        .filter(bulk::is_in(backend, survey::Column::ReportId, ids))
        .order_by_asc(survey::Column::ReportId)
        .order_by_asc(survey::Column::Round)
        .all(conn)
        .await?;
    let mut steps = group_by_report(steps, |t| &t.report_id);
    let mut surveys = group_by_report(surveys, |s| &s.report_id);
    Ok(rows
        .into_iter()
        .map(|row| ReportRows {
            stored_version: row.version,
            stored_ticket_id: row.ticket_id.clone(),
            steps: steps.remove(&row.id).unwrap_or_default(),
            surveys: surveys.remove(&row.id).unwrap_or_default(),
            row,
        })
        .collect())
}

fn group_by_report<T>(rows: Vec<T>, report_id: impl Fn(&T) -> &String) -> HashMap<String, Vec<T>> {
    let mut groups: HashMap<String, Vec<T>> = HashMap::new();
    for row in rows {
        groups.entry(report_id(&row).clone()).or_default().push(row);
    }
    groups
}

pub async fn surveys_of(conn: &impl ConnectionTrait, report_id: &str) -> Result<Vec<survey::Model>> {
    Ok(survey::Entity::find()
        .filter(survey::Column::ReportId.eq(report_id))
        .order_by_asc(survey::Column::Round)
        .all(conn)
        .await?)
}

/// Saves every column of a changed report, bumping its version and update time.
pub async fn save_report(conn: &impl ConnectionTrait, mut row: report::Model) -> Result<report::Model> {
    touch(&mut row, now_micros());
    row.clone().into_active_model().reset_all().update(conn).await?;
    Ok(row)
}

/// What saving a changed report does to it besides the change: the next version, changed at `now_us`.
pub fn touch(row: &mut report::Model, now_us: i64) {
    row.version += 1;
    row.update_us = now_us;
}

/// Rows per multi-row write: a report's values times this stay well below SQLite's 32,766 bound
/// parameters.
const ROWS_PER_STATEMENT: usize = 500;

/// Writes every column of the reports changed in memory (whose version moved past the stored
/// one), one statement per [`ROWS_PER_STATEMENT`]. Each row is written only while the database
/// still holds its stored version, so a concurrent change is never overwritten: then the whole
/// write fails with ABORTED (or NOT_FOUND for a deleted row) and the caller starts over.
pub async fn save_changed<'a>(conn: &impl ConnectionTrait, reports: impl IntoIterator<Item = &'a ReportRows>) -> Result<()> {
    save_changed_with(conn, reports, &[], &[]).await
}

/// [`save_changed`], appending `steps` to the timeline and `events` to the outbox in the same
/// round trip on PostgreSQL ([`bulk::execute_all`]).
pub async fn save_changed_with<'a>(
    conn: &impl ConnectionTrait,
    reports: impl IntoIterator<Item = &'a ReportRows>,
    steps: &[timeline::Model],
    events: &[OutgoingEvent],
) -> Result<()> {
    let backend = conn.get_database_backend();
    let changed: Vec<&ReportRows> = reports.into_iter().filter(|r| r.row.version != r.stored_version).collect();
    let chunks: Vec<&[&ReportRows]> = changed.chunks(ROWS_PER_STATEMENT).collect();
    let mut writes: Vec<Statement> = chunks.iter().map(|chunk| bulk::statement(backend, &guarded_update(chunk))).collect();
    writes.extend(link_inserts(backend, &changed));
    writes.extend(step_inserts(backend, steps));
    writes.extend(outbox::enqueue_statement(backend, events));
    let written = bulk::execute_all(conn, &writes).await?;
    for (chunk, written) in chunks.iter().zip(written) {
        if written != chunk.len() as u64 {
            return Err(conflict(conn, chunk).await);
        }
    }
    Ok(())
}

/// `WITH changed (stored_version, <columns>) AS (VALUES …) UPDATE report SET <column> =
/// changed.<column>, … FROM changed WHERE report.id = changed.id AND report.version =
/// changed.stored_version`: one statement on both backends.
fn guarded_update(reports: &[&ReportRows]) -> UpdateStatement {
    let changed = Alias::new("changed");
    let stored_version = Alias::new("stored_version");
    let columns: Vec<report::Column> = report::Column::iter().collect();
    let values = reports
        .iter()
        .map(|r| Values(std::iter::once(r.stored_version.into()).chain(columns.iter().map(|c| r.row.get(*c))).collect()))
        .collect();
    let table = CommonTableExpression::new()
        .table_name(changed.clone())
        .column(stored_version.clone())
        .columns(columns.iter().copied())
        .values(values)
        .to_owned();
    let assignments = columns
        .iter()
        .filter(|c| !matches!(c, report::Column::Id))
        .map(|c| (*c, Expr::col((changed.clone(), *c))));
    Query::update()
        .table(report::Entity)
        .values(assignments)
        .from(changed.clone())
        .and_where(Expr::col((report::Entity, report::Column::Id)).equals((changed.clone(), report::Column::Id)))
        .and_where(Expr::col((report::Entity, report::Column::Version)).equals((changed, stored_version)))
        .with_cte(WithClause::new().cte(table).to_owned())
        .to_owned()
}

/// Why a guarded update missed a row: the first report whose stored version has moved on.
async fn conflict(conn: &impl ConnectionTrait, reports: &[&ReportRows]) -> Error {
    let current = match report::Entity::find()
        .filter(report::Column::Id.is_in(reports.iter().map(|r| r.row.id.as_str())))
        .all(conn)
        .await
    {
        Ok(rows) => rows.into_iter().map(|r| (r.id, r.version)).collect::<HashMap<_, _>>(),
        Err(e) => return e.into(),
    };
    for r in reports {
        match current.get(&r.row.id) {
            None => return Error::not_found("report", &r.row.id),
            Some(version) if *version != r.stored_version => {
                return Error::Aborted { kind: "report", id: r.row.id.clone(), current: *version, expected: r.stored_version };
            }
            Some(_) => {}
        }
    }
    Error::Internal(anyhow::anyhow!("a guarded report update missed rows that are at their stored versions"))
}

/// Appends a public status step to the report's timeline.
pub async fn append_step(conn: &impl ConnectionTrait, report_id: &str, status: i32, note: &str, time_us: i64) -> Result<()> {
    let last = timeline::Entity::find()
        .filter(timeline::Column::ReportId.eq(report_id))
        .order_by_desc(timeline::Column::Seq)
        .one(conn)
        .await?;
    let seq = last.map_or(1, |t| t.seq + 1);
    insert_step(conn, timeline::Model { report_id: report_id.to_owned(), seq, status, time_us, note: note.to_owned() }).await?;
    Ok(())
}

/// The first step of a new report's timeline, without looking for earlier ones.
pub async fn first_step(conn: &impl ConnectionTrait, report_id: &str, status: i32, time_us: i64) -> Result<timeline::Model> {
    insert_step(conn, timeline::Model { report_id: report_id.to_owned(), seq: 1, status, time_us, note: String::new() }).await
}

async fn insert_step(conn: &impl ConnectionTrait, step: timeline::Model) -> Result<timeline::Model> {
    timeline::ActiveModel::from(step.clone()).insert(conn).await?;
    Ok(step)
}

/// Appends timeline steps worked out in memory, in one statement per [`ROWS_PER_STATEMENT`] steps.
pub async fn insert_steps(conn: &impl ConnectionTrait, steps: &[timeline::Model]) -> Result<()> {
    for insert in step_inserts(conn.get_database_backend(), steps) {
        conn.execute_raw(insert).await?;
    }
    Ok(())
}

/// The links of reports newly linked to a ticket (kept when already there).
fn link_inserts(backend: DbBackend, changed: &[&ReportRows]) -> Vec<Statement> {
    let links: Vec<report_ticket::ActiveModel> = changed
        .iter()
        .filter(|r| !r.row.ticket_id.is_empty() && r.row.ticket_id != r.stored_ticket_id)
        .map(|r| report_ticket::ActiveModel { ticket_id: Set(r.row.ticket_id.clone()), report_id: Set(r.row.id.clone()) })
        .collect();
    let kept = OnConflict::columns([report_ticket::Column::TicketId, report_ticket::Column::ReportId]).do_nothing().to_owned();
    let insert = |chunk: &[report_ticket::ActiveModel]| report_ticket::Entity::insert_many(chunk.to_vec()).on_conflict(kept.clone()).into_query();
    links.chunks(ROWS_PER_STATEMENT).map(|chunk| bulk::statement(backend, &insert(chunk))).collect()
}

fn step_inserts(backend: DbBackend, steps: &[timeline::Model]) -> Vec<Statement> {
    let insert = |chunk: &[timeline::Model]| timeline::Entity::insert_many(chunk.iter().cloned().map(timeline::ActiveModel::from)).into_query();
    steps.chunks(ROWS_PER_STATEMENT).map(|chunk| bulk::statement(backend, &insert(chunk))).collect()
}

/// In one statement: the reports `origins` names and those linked to `tickets`, and the
/// duplicates of either.
pub async fn reports_for_tickets(conn: &impl ConnectionTrait, origins: &[&str], tickets: &[&str]) -> Result<Vec<report::Model>> {
    let backend = conn.get_database_backend();
    let any_of = |column: report::Column, ids: &[&str]| bulk::is_in(backend, (report::Entity, column), ids.iter().copied());
    let mut wanted = Condition::any();
    if !origins.is_empty() {
        wanted = wanted.add(any_of(report::Column::Id, origins)).add(any_of(report::Column::DuplicateOf, origins));
    }
    if !tickets.is_empty() {
        let linked = Query::select()
            .column(report::Column::Id)
            .from(report::Entity)
            .cond_where(linked_to(backend, tickets))
            .to_owned();
        wanted = wanted.add(linked_to(backend, tickets)).add(report::Column::DuplicateOf.in_subquery(linked));
    }
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    Ok(report::Entity::find().filter(wanted).all(conn).await?)
}

/// The reports linked to any of `tickets`: found through `report_ticket`, and still linked.
pub fn linked_to(backend: DbBackend, tickets: &[&str]) -> Condition {
    let links = Query::select()
        .column(report_ticket::Column::ReportId)
        .from(report_ticket::Entity)
        .and_where(bulk::is_in(backend, (report_ticket::Entity, report_ticket::Column::TicketId), tickets.iter().copied()))
        .to_owned();
    Condition::all()
        .add(Expr::col((report::Entity, report::Column::Id)).in_subquery(links))
        .add(bulk::is_in(backend, (report::Entity, report::Column::TicketId), tickets.iter().copied()))
}

/// Reports whose row `column` equals `value` (e.g. the duplicates of a report).
pub async fn reports_where(
    conn: &impl ConnectionTrait,
    column: report::Column,
    value: &str,
) -> Result<Vec<report::Model>> {
    Ok(report::Entity::find().filter(column.eq(value)).order_by_asc(report::Column::Id).all(conn).await?)
}


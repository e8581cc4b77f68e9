//! Persistence: the registry replica, crews, tickets and the ticket change log.

pub mod entities;

use entities::{crew, replica, ticket, ticket_number};
use flywheel_runtime::{Error, Result, bulk};
use prost::Message;
use std::collections::{BTreeMap, HashMap, HashSet};
use sea_orm::sea_query::{Alias, CommonTableExpression, Expr, ExprTrait, Query, UpdateStatement, Values, WithClause};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set};

/// What dispatch replicates from the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Region,
    Site,
    Zone,
    Asset,
    Category,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Region => "region",
            Kind::Site => "site",
            Kind::Zone => "zone",
            Kind::Asset => "asset",
            Kind::Category => "category",
        }
    }
}

/// The registry's `STATUS_RETIRED`.
pub const RETIRED: i32 = 2;

fn decode<M: Message + Default>(bytes: &[u8]) -> Result<M> {
    M::decode(bytes).map_err(|e| Error::Internal(e.into()))
}

/// A replicated registry resource, or None when dispatch has not heard of it.
pub async fn replica<M: Message + Default>(conn: &impl ConnectionTrait, kind: Kind, id: &str) -> Result<Option<(i32, M)>> {
    let row = replica::Entity::find_by_id((kind.as_str().to_owned(), id.to_owned())).one(conn).await?;
    row.map(|r| Ok((r.status, decode(&r.body)?))).transpose()
}

/// The replicated resources `wanted` (kind and id) that dispatch has heard of, in one query.
pub async fn replicas(conn: &impl ConnectionTrait, wanted: &[(Kind, &str)]) -> Result<HashMap<(String, String), replica::Model>> {
    let mut by_kind: HashMap<&str, Vec<&str>> = HashMap::new();
    for (kind, id) in wanted {
        by_kind.entry(kind.as_str()).or_default().push(id);
    }
    let backend = conn.get_database_backend();
    let any = by_kind.into_iter().fold(Condition::any(), |any, (kind, ids)| {
        let named = bulk::is_in(backend, (replica::Entity, replica::Column::Id), ids);
        any.add(Condition::all().add(replica::Column::Kind.eq(kind)).add(named))
    });
    let rows = replica::Entity::find().filter(any).all(conn).await?;
    Ok(rows.into_iter().map(|r| ((r.kind.clone(), r.id.clone()), r)).collect())
}

/// The resource a replica row holds, refused as [`active_replica`] refuses it.
pub fn active_body<M: Message + Default>(rows: &HashMap<(String, String), replica::Model>, kind: Kind, id: &str) -> Result<M> {
    let row = rows.get(&(kind.as_str().to_owned(), id.to_owned())).ok_or_else(|| Error::not_found(kind.as_str(), id))?;
    if row.status == RETIRED {
        return Err(retired(kind, id));
    }
    decode(&row.body)
}

fn retired(kind: Kind, id: &str) -> Error {
    Error::FailedPrecondition {
        kind: kind.as_str(),
        id: id.to_owned(),
        state: "RETIRED".into(),
        reason: format!("the {} is retired", kind.as_str()),
    }
}

/// Which of `report_ids` have a ticket already.
pub async fn reports_with_tickets(conn: &impl ConnectionTrait, report_ids: Vec<String>) -> Result<HashSet<String>> {
    let rows: Vec<Option<String>> = ticket::Entity::find()
        .select_only()
        .column(ticket::Column::ReportId)
        .filter(bulk::is_in(conn.get_database_backend(), (ticket::Entity, ticket::Column::ReportId), report_ids))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows.into_iter().flatten().collect())
}

/// A replicated resource another resource refers to: NOT_FOUND when unknown, FAILED_PRECONDITION
/// when retired.
pub async fn active_replica<M: Message + Default>(conn: &impl ConnectionTrait, kind: Kind, id: &str) -> Result<M> {
    let (status, body) = replica::<M>(conn, kind, id).await?.ok_or_else(|| Error::not_found(kind.as_str(), id))?;
    if status == RETIRED {
        return Err(retired(kind, id));
    }
    Ok(body)
}

/// Stores the registry's latest word on a resource; an older version than the stored one (a
/// late redelivery) changes nothing.
pub async fn put_replica(conn: &impl ConnectionTrait, kind: Kind, id: &str, status: i32, version: i64, body: Vec<u8>) -> Result<()> {
    let existing = replica::Entity::find_by_id((kind.as_str().to_owned(), id.to_owned())).one(conn).await?;
    let row = replica::ActiveModel {
        kind: Set(kind.as_str().to_owned()),
        id: Set(id.to_owned()),
        status: Set(status),
        version: Set(version),
        body: Set(body),
    };
    match existing {
        None => {
            replica::Entity::insert(row).exec_without_returning(conn).await?;
        }
        Some(old) if old.version <= version => {
            replica::Entity::update(row).exec(conn).await?;
        }
        Some(_) => {}
    }
    Ok(())
}

/// Writes `changes` to the row `id` only if it is still at version `expected`; otherwise ABORTED
/// (a stale client, or another replica that got there first) and nothing changes.
pub async fn save_versioned<A>(conn: &impl ConnectionTrait, kind: &'static str, id: &str, expected: i64, changes: A) -> Result<()>
where
    A: sea_orm::ActiveModelTrait + Send,
{
    let done = <A::Entity as EntityTrait>::update_many()
        .set(changes)
        .filter(Expr::col("id").eq(id))
        .filter(Expr::col("version").eq(expected))
        .exec(conn)
        .await?;
    if done.rows_affected == 1 {
        Ok(())
    } else {
        Err(Error::Aborted { kind, id: id.to_owned(), current: expected + 1, expected })
    }
}

pub async fn crew_row(conn: &impl ConnectionTrait, id: &str) -> Result<crew::Model> {
    crew::Entity::find_by_id(id.to_owned()).one(conn).await?.ok_or_else(|| Error::not_found("crew", id))
}

/// The rows of the crews `ids` and of every crew changed after revision `seen`, by id.
pub async fn crews_by_id_or_changed(conn: &impl ConnectionTrait, ids: Vec<String>, seen: i64) -> Result<HashMap<String, crew::Model>> {
    let named = bulk::is_in(conn.get_database_backend(), (crew::Entity, crew::Column::Id), ids);
    let rows = crew::Entity::find().filter(Condition::any().add(named).add(crew::Column::Rev.gt(seen))).all(conn).await?;
    Ok(rows.into_iter().map(|r| (r.id.clone(), r)).collect())
}

pub async fn ticket_row(conn: &impl ConnectionTrait, id: &str) -> Result<ticket::Model> {
    ticket::Entity::find_by_id(id.to_owned()).one(conn).await?.ok_or_else(|| Error::not_found("ticket", id))
}

pub fn body<M: Message + Default>(bytes: &[u8]) -> Result<M> {
    decode(bytes)
}

/// The turn of writers of the ticket change log until the transaction ends (see
/// [`flywheel_runtime::db::take_turns`]): the log's positions become visible in the order they
/// were assigned, which WatchTickets' cursor relies on.
pub async fn take_change_log_turn(conn: &impl ConnectionTrait) -> Result<()> {
    Ok(flywheel_runtime::db::take_turns(conn, &["ticket_change"]).await?)
}

/// The turn of ticket creators until the transaction ends: the origin check (one ticket per
/// report or plan occurrence) and the day's numbering see every earlier creation. Creators take
/// it first, before the change log's turn.
pub async fn take_creation_turn(conn: &impl ConnectionTrait) -> Result<()> {
    Ok(flywheel_runtime::db::take_turns(conn, &["ticket creation"]).await?)
}

/// Hands out the next `n` ticket numbers of `day` (`YYYYMMDD`) under the creation turn and
/// returns the first. A day the table has no row for yet continues after the tickets already
/// coded `prefix` that day (made before the table existed).
pub async fn issue_ticket_numbers(conn: &impl ConnectionTrait, day: &str, prefix: &str, n: i64) -> Result<i64> {
    let bumped = ticket_number::Entity::update_many()
        .col_expr(ticket_number::Column::Issued, Expr::col(ticket_number::Column::Issued).add(n))
        .filter(ticket_number::Column::Day.eq(day))
        .exec_with_returning(conn)
        .await?;
    if let Some(row) = bumped.first() {
        return Ok(row.issued - n + 1);
    }
    let before = ticket::Entity::find().filter(ticket::Column::Code.starts_with(prefix)).count(conn).await? as i64;
    ticket_number::ActiveModel { day: Set(day.to_owned()), issued: Set(before + n) }.insert(conn).await?;
    Ok(before + 1)
}

/// The position of the latest crew change (0 before any).
pub async fn latest_crew_rev(conn: &impl ConnectionTrait) -> Result<i64> {
    let max: Option<Option<i64>> = crew::Entity::find()
        .select_only()
        .column_as(Expr::col(crew::Column::Rev).max(), "max")
        .into_tuple()
        .one(conn)
        .await?;
    Ok(max.flatten().unwrap_or(0))
}

/// The position of the crew change being written, in a write transaction: crew writers take
/// turns, so revisions become visible in order and replicas' indexes miss none.
pub async fn next_crew_rev(conn: &impl ConnectionTrait) -> Result<i64> {
    flywheel_runtime::db::take_turns(conn, &["crew"]).await?;
    Ok(latest_crew_rev(conn).await? + 1)
}

/// Adds each `(crew, delta)` to that crew's open ticket count, stamping an assignment where a
/// delta is positive: one statement however many crews (`WITH load (id, delta, assigned) AS
/// (VALUES …) UPDATE crew … FROM load WHERE crew.id = load.id`, on both backends), with the
/// deltas of one crew summed first (an update from a join changes each row once).
pub async fn add_loads(conn: &impl ConnectionTrait, loads: &[(String, i32)], now_us: i64) -> Result<()> {
    if let Some(update) = loads_update(loads, now_us) {
        bulk::execute(conn, &update).await?;
    }
    Ok(())
}

/// The statement [`add_loads`] runs; `None` when no crew's load changes.
pub fn loads_update(loads: &[(String, i32)], now_us: i64) -> Option<UpdateStatement> {
    let mut by_crew: BTreeMap<&str, (i32, bool)> = BTreeMap::new();
    for (crew, delta) in loads {
        let entry = by_crew.entry(crew.as_str()).or_default();
        entry.0 += delta;
        entry.1 |= *delta > 0;
    }
    by_crew.retain(|_, (delta, assigned)| *delta != 0 || *assigned);
    if by_crew.is_empty() {
        return None;
    }
    let (load, id, delta, assigned) = (Alias::new("load"), Alias::new("id"), Alias::new("delta"), Alias::new("assigned"));
    let rows = by_crew.iter().map(|(crew, (d, a))| Values(vec![(*crew).into(), (*d).into(), i32::from(*a).into()]));
    let table = CommonTableExpression::new()
        .table_name(load.clone())
        .column(id.clone())
        .column(delta.clone())
        .column(assigned.clone())
        .values(rows.collect())
        .to_owned();
    let grows = Expr::col((load.clone(), assigned)).eq(1);
    let stamped = Expr::case(grows, now_us).finally(Expr::col((crew::Entity, crew::Column::LastAssignmentUs)));
    let update = Query::update()
        .table(crew::Entity)
        .value(crew::Column::OpenTicketCount, Expr::col((crew::Entity, crew::Column::OpenTicketCount)).add(Expr::col((load.clone(), delta))))
        .value(crew::Column::LastAssignmentUs, stamped)
        .from(load.clone())
        .and_where(Expr::col((crew::Entity, crew::Column::Id)).equals((load, id)))
        .with_cte(WithClause::new().cte(table).to_owned())
        .to_owned();
    Some(update)
}

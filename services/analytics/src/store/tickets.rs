//! The per-ticket projection behind the TICKETS export.

use super::Filter;
use super::entities::{ticket, ticket_rating};
use crate::domain::time::Span;
use super::batch;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, Iterable, QueryFilter, QueryOrder};
use std::collections::{BTreeMap, HashMap};

/// What one ticket event says beyond the snapshot.
#[derive(Clone, Copy, Debug, Default)]
pub struct Milestones {
    /// (when, time to acknowledge) of a first acceptance in a cycle.
    pub acknowledged: Option<(i64, i64)>,
    /// (when, time to resolve, within SLA) of a resolution.
    pub resolved: Option<(i64, i64, bool)>,
}

/// What a ticket event makes of the stored row, in any order of arrival (a redelivery after a
/// failed attempt may overtake later events): the snapshot only when it is not older than the
/// stored one; the creation and the first acknowledgement as the earliest seen; the resolution
/// as the latest seen.
fn recorded(old: Option<&ticket::Model>, mut row: ticket::Model, m: Milestones) -> ticket::Model {
    if let Some(o) = old {
        if o.version > row.version {
            let snapshot = row;
            row = o.clone();
            row.create_us = row.create_us.min(snapshot.create_us);
        } else {
            row.create_us = row.create_us.min(o.create_us);
            row.first_acknowledge_us = o.first_acknowledge_us;
            row.time_to_acknowledge_us = o.time_to_acknowledge_us;
            row.resolve_us = o.resolve_us;
            row.time_to_resolve_us = o.time_to_resolve_us;
            row.resolved_within_sla = o.resolved_within_sla;
        }
    }
    if let Some((at, ack)) = m.acknowledged.filter(|(at, _)| row.first_acknowledge_us.is_none_or(|first| *at < first)) {
        row.first_acknowledge_us = Some(at);
        row.time_to_acknowledge_us = Some(ack);
    }
    if let Some((at, ttr, within)) = m.resolved.filter(|(at, _, _)| row.resolve_us.is_none_or(|latest| *at > latest)) {
        row.resolve_us = Some(at);
        row.time_to_resolve_us = Some(ttr);
        row.resolved_within_sla = Some(within);
    }
    row
}

/// Stores what a batch's ticket events say: the stored rows read in one statement, each
/// ticket's events applied to its row in order, the rows written in one statement.
pub(super) async fn record_all(db: &impl ConnectionTrait, events: BTreeMap<String, Vec<(ticket::Model, Milestones)>>) -> Result<(), DbErr> {
    if events.is_empty() {
        return Ok(());
    }
    let mut stored = by_key(stored_in::<ticket::Entity>(db, ticket::Column::Id, events.keys()).await?, |t: &ticket::Model| t.id.clone());
    let rows = events
        .into_iter()
        .filter_map(|(id, events)| {
            let old = stored.remove(&id);
            events.into_iter().fold(old, |old, (row, m)| Some(recorded(old.as_ref(), row, m)))
        })
        .map(IntoActiveModel::into_active_model)
        .collect();
    let written = ticket::Column::iter().filter(|c| !matches!(c, ticket::Column::Id));
    batch::upsert(db, rows, OnConflict::column(ticket::Column::Id).update_columns(written).to_owned()).await
}

/// Whether a survey answer replaces the kept one: unless the kept one is from a later round.
pub(super) fn replaces(kept: &ticket_rating::Model, rating: &ticket_rating::Model) -> bool {
    kept.survey_round <= rating.survey_round
}

/// Stores a batch's survey answers (one per ticket, the batch's latest that counts) unless a
/// stored one is from a later round: one read, one write.
pub(super) async fn rate_all(db: &impl ConnectionTrait, ratings: Vec<ticket_rating::Model>) -> Result<(), DbErr> {
    if ratings.is_empty() {
        return Ok(());
    }
    let ids = ratings.iter().map(|r| &r.ticket_id);
    let stored = by_key(stored_in::<ticket_rating::Entity>(db, ticket_rating::Column::TicketId, ids).await?, |r: &ticket_rating::Model| r.ticket_id.clone());
    let rows = ratings
        .into_iter()
        .filter(|r| stored.get(&r.ticket_id).is_none_or(|kept| replaces(kept, r)))
        .map(IntoActiveModel::into_active_model)
        .collect();
    let written = ticket_rating::Column::iter().filter(|c| !matches!(c, ticket_rating::Column::TicketId));
    batch::upsert(db, rows, OnConflict::column(ticket_rating::Column::TicketId).update_columns(written).to_owned()).await
}

/// The stored rows whose `id` column is one of `ids`.
async fn stored_in<'a, E: EntityTrait>(
    db: &impl ConnectionTrait,
    id: E::Column,
    ids: impl Iterator<Item = &'a String>,
) -> Result<Vec<E::Model>, DbErr> {
    let ids: Vec<&String> = ids.collect();
    let mut stored = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(batch::MAX_PARAMS) {
        let named = flywheel_runtime::bulk::is_in(db.get_database_backend(), (E::default(), id), chunk.iter().copied());
        stored.extend(E::find().filter(named).all(db).await?);
    }
    Ok(stored)
}

fn by_key<M>(rows: Vec<M>, key: impl Fn(&M) -> String) -> HashMap<String, M> {
    rows.into_iter().map(|r| (key(&r), r)).collect()
}

/// Tickets opened in `span` that the filter matches, by creation then id, with their ratings.
pub async fn opened_in(
    db: &impl ConnectionTrait,
    filter: &Filter,
    span: Span,
) -> Result<Vec<(ticket::Model, Option<ticket_rating::Model>)>, DbErr> {
    let tickets = ticket::Entity::find()
        .filter(filter.condition())
        .filter(ticket::Column::CreateUs.gte(span.start_us))
        .filter(ticket::Column::CreateUs.lt(span.end_us))
        .order_by_asc(ticket::Column::CreateUs)
        .order_by_asc(ticket::Column::Id)
        .all(db)
        .await?;
    let ids: Vec<String> = tickets.iter().map(|t| t.id.clone()).collect();
    let mut ratings: HashMap<String, ticket_rating::Model> = ticket_rating::Entity::find()
        .filter(ticket_rating::Column::TicketId.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.ticket_id.clone(), r))
        .collect();
    Ok(tickets.into_iter().map(|t| { let r = ratings.remove(&t.id); (t, r) }).collect())
}

//! The per-ticket projection behind the TICKETS export.

use super::Filter;
use super::entities::{ticket, ticket_rating};
use crate::domain::time::Span;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
};

/// What one ticket event says beyond the snapshot.
#[derive(Clone, Copy, Debug, Default)]
pub struct Milestones {
    /// (when, time to acknowledge) of a first acceptance in a cycle.
    pub acknowledged: Option<(i64, i64)>,
    /// (when, time to resolve, within SLA) of a resolution.
    pub resolved: Option<(i64, i64, bool)>,
}

/// Stores what a ticket event says, in any order of arrival (a redelivery after a failed
/// attempt may overtake later events): the snapshot only when it is not older than the stored
/// one; the creation and the first acknowledgement as the earliest seen; the resolution as the
/// latest seen.
pub async fn record(db: &impl ConnectionTrait, mut row: ticket::Model, m: Milestones) -> Result<(), DbErr> {
    let old = ticket::Entity::find_by_id(row.id.clone()).one(db).await?;
    if let Some(o) = &old {
        if o.version > row.version {
            let snapshot = row.clone();
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
    match old {
        Some(_) => row.into_active_model().reset_all().update(db).await.map(drop),
        None => row.into_active_model().insert(db).await.map(drop),
    }
}

/// Stores a survey answer unless one from a later round is stored.
pub async fn rate(db: &impl ConnectionTrait, rating: ticket_rating::Model) -> Result<(), DbErr> {
    match ticket_rating::Entity::find_by_id(rating.ticket_id.clone()).one(db).await? {
        Some(old) if old.survey_round > rating.survey_round => Ok(()),
        Some(_) => rating.into_active_model().reset_all().update(db).await.map(drop),
        None => rating.into_active_model().insert(db).await.map(drop),
    }
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
    let mut ratings: std::collections::HashMap<String, ticket_rating::Model> = ticket_rating::Entity::find()
        .filter(ticket_rating::Column::TicketId.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.ticket_id.clone(), r))
        .collect();
    Ok(tickets.into_iter().map(|t| { let r = ratings.remove(&t.id); (t, r) }).collect())
}

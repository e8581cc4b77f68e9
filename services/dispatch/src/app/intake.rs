//! What feedback's events ask of dispatch besides new tickets (`report_tickets`), applied in the
//! consumer's transaction: support counts, closing on a good rating, reopening once on a bad one.

use super::change::{Cause, Change};
use super::Dispatch;
use crate::store::entities::ticket;
use flywheel_proto::flywheel::dispatch::v1::{Actor, ActorKind, ReopenReason, Ticket, TicketState};
use flywheel_runtime::events::OutgoingEvent;
use flywheel_runtime::{Error, Result};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};

pub(super) fn feedback() -> Cause {
    Cause { actor: Actor { kind: ActorKind::Service as i32, id: "feedback".into(), ..Default::default() }, request_id: String::new() }
}

impl Dispatch {
    /// Records the report's latest "me too" count on its ticket. Informational: no history entry
    /// and no new version, so no one's next command is refused for it.
    pub async fn note_support(&self, txn: &DatabaseTransaction, report_id: &str, support_count: i32) -> Result<()> {
        let Some(row) = ticket::Entity::find().filter(ticket::Column::ReportId.eq(report_id)).one(txn).await? else {
            return Ok(());
        };
        let mut t: Ticket = crate::store::body(&row.body)?;
        if t.support_count >= support_count {
            return Ok(());
        }
        t.support_count = support_count;
        let changes = ticket::ActiveModel { body: Set(prost::Message::encode_to_vec(&t)), ..Default::default() };
        crate::store::save_versioned(txn, "ticket", &row.id, row.version, changes).await
    }

    /// Closes the resolved ticket of a report the resident rated as satisfied (4 or 5 stars).
    pub async fn close_for_rating(&self, txn: &DatabaseTransaction, ticket_id: &str, rating: i32) -> Result<Vec<OutgoingEvent>> {
        let row = ticket::Entity::find_by_id(ticket_id.to_owned()).one(txn).await?;
        let Some(row) = row.filter(|r| rating >= 4 && r.state == TicketState::Resolved as i32) else {
            return Ok(Vec::new());
        };
        let mut ch = Change::of(&row, None, super::system("auto-close"), flywheel_runtime::db::now_micros())?;
        super::commands::close_in(&mut ch, &format!("the resident rated the fix {rating} of 5"))?;
        let (_, events) = ch.commit(txn).await?;
        Ok(events)
    }

    /// Reopens the ticket of a report the resident is not satisfied with; a ticket already back
    /// in work is left alone, so a repeated request reopens once.
    pub async fn reopen_for_report(&self, txn: &DatabaseTransaction, ticket_id: &str, report_id: &str, note: &str) -> Result<Vec<OutgoingEvent>> {
        let mut find = ticket::Entity::find();
        find = if ticket_id.is_empty() { find.filter(ticket::Column::ReportId.eq(report_id)) } else { find.filter(ticket::Column::Id.eq(ticket_id)) };
        let Some(row) = find.one(txn).await? else {
            return Err(Error::not_found("ticket", if ticket_id.is_empty() { report_id } else { ticket_id }));
        };
        if ![TicketState::Resolved as i32, TicketState::Closed as i32].contains(&row.state) {
            return Ok(Vec::new());
        }
        let mut ch = Change::of(&row, None, feedback(), flywheel_runtime::db::now_micros())?;
        self.reopen_in(txn, &mut ch, ReopenReason::ResidentNotSatisfied as i32, note).await?;
        let (_, events) = ch.commit(txn).await?;
        Ok(events)
    }
}

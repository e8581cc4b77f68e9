//! Moving a report's public status: the new timeline step, the event, and the duplicates that
//! follow their primary.

use crate::events::{self, StatusChange};
use crate::store::entities::report;
use crate::store;
use flywheel_proto::flywheel::feedback::v1::{Report, ReportStatus, StatusChangeCause};
use flywheel_runtime::db::now_micros;
use flywheel_runtime::events::OutgoingEvent;
use flywheel_runtime::Result;
use sea_orm::DatabaseTransaction;

/// Why the status moves.
pub struct Move<'a> {
    pub to: ReportStatus,
    pub note: &'a str,
    pub cause: StatusChangeCause,
    pub ticket_id: &'a str,
}

/// Saves `row` (with any other changes the caller made) in status `to`, appends the timeline
/// step and returns the report after the change plus the events: its ReportStatusChanged and
/// one for each duplicate that follows it.
pub async fn move_status(txn: &DatabaseTransaction, row: report::Model, m: Move<'_>) -> Result<(Report, Vec<OutgoingEvent>)> {
    let id = row.id.clone();
    let (report, first) = step(txn, row, &m).await?;
    let mut out = vec![first];
    let follow = Move { cause: StatusChangeCause::PrimaryReport, ..m };
    for duplicate in store::reports_where(txn, report::Column::DuplicateOf, &id).await? {
        if duplicate.status != follow.to as i32 {
            out.push(step(txn, duplicate, &follow).await?.1);
        }
    }
    Ok((report, out))
}

async fn step(txn: &DatabaseTransaction, mut row: report::Model, m: &Move<'_>) -> Result<(Report, OutgoingEvent)> {
    let previous = row.status;
    let now = now_micros();
    row.status = m.to as i32;
    row.close_us = (m.to == ReportStatus::Closed).then_some(now);
    let row = store::save_report(txn, row).await?;
    store::append_step(txn, &row.id, row.status, m.note, now).await?;
    let report = store::snapshot(txn, row).await?;
    let change = StatusChange { previous, note: m.note.to_owned(), cause: m.cause, ticket_id: m.ticket_id.to_owned() };
    let event = events::status_changed(&report, change);
    Ok((report, event))
}

//! Moving a report's public status: the new timeline step, the event, and the duplicates that
//! follow their primary. What changes is worked out in memory ([`Moved::add`]), so a batch of
//! ticket events can fold many moves and write them together.

use crate::events::{self, StatusChange};
use crate::store::entities::{report, timeline};
use crate::store::{self, ReportRows};
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

/// What status moves add besides the changed reports: timeline steps and events, in order.
#[derive(Default)]
pub struct Moved {
    pub steps: Vec<timeline::Model>,
    pub events: Vec<OutgoingEvent>,
}

/// Saves `row` (with any other changes the caller made) in status `to`, appends the timeline
/// step and returns the report after the change plus the events: its ReportStatusChanged and
/// one for each duplicate that follows it.
pub async fn move_status(txn: &DatabaseTransaction, row: report::Model, m: Move<'_>) -> Result<(Report, Vec<OutgoingEvent>)> {
    let duplicates = store::reports_where(txn, report::Column::DuplicateOf, &row.id).await?;
    let mut reports = store::with_history(txn, std::iter::once(row).chain(duplicates).collect()).await?;
    let mut duplicates = reports.split_off(1);
    let mut moved = Moved::default();
    let report = moved.add(&mut reports[0], &mut duplicates, m, now_micros());
    store::save_changed_with(txn, reports.iter().chain(&duplicates), &moved.steps, &[]).await?;
    Ok((report, moved.events))
}

impl Moved {
    /// Moves `primary` (with any other changes the caller made) to status `m.to` at `now_us` in
    /// memory, and each of its `duplicates` (all of them, by id) not yet there; returns the
    /// report after the change and adds the steps and events.
    pub fn add(&mut self, primary: &mut ReportRows, duplicates: &mut [ReportRows], m: Move<'_>, now_us: i64) -> Report {
        let report = self.step(primary, &m, now_us);
        let follow = Move { cause: StatusChangeCause::PrimaryReport, ..m };
        for duplicate in duplicates.iter_mut().filter(|d| d.row.status != follow.to as i32) {
            self.step(duplicate, &follow, now_us);
        }
        report
    }

    fn step(&mut self, r: &mut ReportRows, m: &Move<'_>, now_us: i64) -> Report {
        let previous = r.row.status;
        r.row.status = m.to as i32;
        r.row.close_us = (m.to == ReportStatus::Closed).then_some(now_us);
        store::touch(&mut r.row, now_us);
        let seq = r.steps.last().map_or(1, |t| t.seq + 1);
        let step = timeline::Model { report_id: r.row.id.clone(), seq, status: r.row.status, time_us: now_us, note: m.note.to_owned() };
        r.steps.push(step.clone());
        self.steps.push(step);
        let report = r.snapshot(now_us);
        let change = StatusChange { previous, note: m.note.to_owned(), cause: m.cause, ticket_id: m.ticket_id.to_owned() };
        self.events.push(events::status_changed(&report, change));
        report
    }
}

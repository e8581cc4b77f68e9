//! Following dispatch: each ticket event moves the linked report's public status, opens the
//! survey on resolution and supersedes it on a reopen. A batch of events is applied set-based:
//! its reports are read together, the events folded onto them in memory in order, and what
//! changed written together; a single event is a batch of one.

use super::Feedback;
use super::status::{Move, Moved};
use crate::convert::micros;
use crate::domain::status::{TicketStep, next_status};
use crate::store::entities::survey;
use crate::store::{self, ReportRows};
use flywheel_proto::flywheel::dispatch::v1 as dispatch;
use flywheel_proto::flywheel::feedback::v1::{ReportStatus, StatusChangeCause, SurveyState};
use flywheel_runtime::db::now_micros;
use flywheel_runtime::events::IncomingEvent;
use flywheel_runtime::events::consumer::{BatchFailure, EventHandler, HandlerError};
use sea_orm::{ActiveModelTrait, DatabaseTransaction, IntoActiveModel, Set};
use std::collections::BTreeMap;

pub struct TicketEvents {
    feedback: Feedback,
}

impl TicketEvents {
    pub fn new(feedback: Feedback) -> Self {
        Self { feedback }
    }
}

/// What every ticket event starts with: the ticket after the change and its history entry
/// (fields 1 and 2 of each message), so one decoder reads them all.
#[derive(Clone, PartialEq, prost::Message)]
struct TicketEnvelope {
    #[prost(message, optional, tag = "1")]
    ticket: Option<dispatch::Ticket>,
    #[prost(message, optional, tag = "2")]
    transition: Option<dispatch::TicketTransition>,
}

/// A ticket event as feedback reads it: the step, the ticket after it and the note the
/// report's timeline shows.
struct TicketChange {
    step: TicketStep,
    ticket: dispatch::Ticket,
    note: String,
}

impl TicketChange {
    fn decode(event: &IncomingEvent) -> Result<Self, HandlerError> {
        let step = TicketStep::from_subject(&event.subject);
        let envelope = event.decode::<TicketEnvelope>()?;
        let ticket = envelope
            .ticket
            .ok_or_else(|| HandlerError::Permanent(anyhow::anyhow!("the ticket event carries no ticket")))?;
        let note = match step {
            TicketStep::Resolved => event.decode::<dispatch::TicketResolved>()?.resolution_note,
            TicketStep::Cancelled => event.decode::<dispatch::TicketCancelled>()?.note,
            TicketStep::Reopened => event.decode::<dispatch::TicketReopened>()?.note,
            _ => envelope.transition.map(|t| t.note).unwrap_or_default(),
        };
        Ok(Self { step, ticket, note })
    }

    /// The report the ticket came from; empty when it did not come from one.
    fn origin(&self) -> &str {
        self.ticket.origin.as_ref().map(|o| o.report_id.as_str()).unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl EventHandler for TicketEvents {
    async fn handle(&self, txn: &DatabaseTransaction, event: &IncomingEvent) -> Result<(), HandlerError> {
        self.handle_batch(txn, &[event]).await.map_err(|failure| failure.error)
    }

    async fn handle_batch(&self, txn: &DatabaseTransaction, events: &[&IncomingEvent]) -> Result<(), BatchFailure> {
        let changes = events
            .iter()
            .enumerate()
            .map(|(at, event)| TicketChange::decode(event).map_err(|error| BatchFailure { at: Some(at), error }))
            .collect::<Result<Vec<_>, _>>()?;
        self.feedback
            .follow_tickets(txn, &changes)
            .await
            .map_err(|e| BatchFailure { at: None, error: handler_error(e) })
    }
}

/// Database trouble may pass, and so may a report changed meanwhile (applying again reads it
/// afresh); anything else would fail the same way again.
fn handler_error(e: flywheel_runtime::Error) -> HandlerError {
    match e {
        flywheel_runtime::Error::Internal(_)
        | flywheel_runtime::Error::Unavailable(_)
        | flywheel_runtime::Error::Aborted { .. } => HandlerError::Transient(anyhow::anyhow!(e.to_string())),
        other => HandlerError::Permanent(anyhow::anyhow!(other.to_string())),
    }
}

/// The reports a batch works on, by id, as its events have changed them so far.
type Reports = BTreeMap<String, ReportRows>;

/// What a batch writes besides the reports, in the order of its events.
#[derive(Default)]
struct Writes {
    moved: Moved,
    surveys: Vec<SurveyWrite>,
}

enum SurveyWrite {
    Open(survey::Model),
    Supersede(survey::Model),
}

impl Feedback {
    /// Reads the batch's reports (three statements), applies the changes to them in memory, in
    /// order, and writes the reports, timeline steps and events in one round trip on PostgreSQL
    /// (the rare survey changes one statement each, before them).
    async fn follow_tickets(&self, txn: &DatabaseTransaction, changes: &[TicketChange]) -> flywheel_runtime::Result<()> {
        let mut reports = linked_reports(txn, changes).await?;
        let mut writes = Writes::default();
        for change in changes {
            self.follow(&mut reports, change, now_micros(), &mut writes);
        }
        write_surveys(txn, writes.surveys).await?;
        store::save_changed_with(txn, reports.values(), &writes.moved.steps, &writes.moved.events).await
    }

    /// Applies one ticket event to the linked report in memory, at `now`.
    fn follow(&self, reports: &mut Reports, change: &TicketChange, now: i64, writes: &mut Writes) {
        let Some(mut report) = linked_report(reports, change).and_then(|id| reports.remove(&id)) else {
            // A ticket that did not come from a report.
            return;
        };
        let (step, ticket) = (change.step, &change.ticket);
        let before = report.row.clone();
        report.row.ticket_id = ticket.id.clone();
        report.row.expected_resolve_us = match step {
            TicketStep::Resolved | TicketStep::Closed | TicketStep::Cancelled => None,
            _ => ticket.sla.as_ref().and_then(|s| s.resolve_due_time.as_ref()).map(micros),
        };
        match step {
            TicketStep::Resolved => writes.surveys.extend(self.open_survey(&mut report, &ticket.id, now)),
            TicketStep::Reopened | TicketStep::Cancelled => writes.surveys.extend(supersede_open_survey(&mut report.surveys, now)),
            _ => {}
        }
        if step == TicketStep::Reopened && report.row.status != ReportStatus::Reopened as i32 {
            report.row.reopen_count += 1;
        }
        match next_status(report.row.status, step) {
            Some(to) => {
                let mut duplicates = take_duplicates(reports, &report.row.id);
                let m = Move { to, note: &change.note, cause: StatusChangeCause::Ticket, ticket_id: &ticket.id };
                writes.moved.add(&mut report, &mut duplicates, m, now);
                reports.extend(duplicates.into_iter().map(|d| (d.row.id.clone(), d)));
            }
            None if report.row != before => store::touch(&mut report.row, now),
            None => {}
        }
        reports.insert(report.row.id.clone(), report);
    }

    /// Opens the next survey round for the resolution, superseding one still open.
    fn open_survey(&self, report: &mut ReportRows, ticket_id: &str, now: i64) -> Vec<SurveyWrite> {
        let mut writes = supersede_open_survey(&mut report.surveys, now);
        let round = report.surveys.last().map_or(1, |s| s.round + 1);
        let open_for = i64::try_from(self.settings.survey_open_for.as_micros()).unwrap_or(i64::MAX);
        let opened = survey::Model {
            report_id: report.row.id.clone(),
            round,
            state: SurveyState::Open as i32,
            ticket_id: ticket_id.to_owned(),
            open_us: now,
            close_us: now.saturating_add(open_for),
            rating: 0,
            fixed: 0,
            comment: String::new(),
            rate_us: None,
        };
        report.surveys.push(opened.clone());
        writes.push(SurveyWrite::Open(opened));
        writes
    }
}

/// The reports `changes` work on (their tickets' origins, or for a ticket without one the
/// reports linked to it) and the duplicates that follow them, with their history.
async fn linked_reports(txn: &DatabaseTransaction, changes: &[TicketChange]) -> flywheel_runtime::Result<Reports> {
    let mut origins: Vec<&str> = changes.iter().map(TicketChange::origin).filter(|o| !o.is_empty()).collect();
    let mut tickets: Vec<&str> = changes
        .iter()
        .filter(|c| c.origin().is_empty())
        .map(|c| c.ticket.id.as_str())
        // A ticket without an id could only match the reports no ticket is linked to.
        .filter(|t| !t.is_empty())
        .collect();
    for ids in [&mut origins, &mut tickets] {
        ids.sort_unstable();
        ids.dedup();
    }
    let rows = store::reports_for_tickets(txn, &origins, &tickets).await?;
    Ok(store::with_history(txn, rows).await?.into_iter().map(|r| (r.row.id.clone(), r)).collect())
}

/// The report a ticket works on: its origin, or else the first report (by id) linked to it.
fn linked_report(reports: &Reports, change: &TicketChange) -> Option<String> {
    let origin = change.origin();
    if !origin.is_empty() {
        return reports.contains_key(origin).then(|| origin.to_owned());
    }
    let ticket = change.ticket.id.as_str();
    if ticket.is_empty() {
        return None;
    }
    reports.values().find(|r| r.row.ticket_id == ticket).map(|r| r.row.id.clone())
}

/// The duplicates of report `id`, by id, taken out of `reports` while their primary moves.
fn take_duplicates(reports: &mut Reports, id: &str) -> Vec<ReportRows> {
    let ids: Vec<String> = reports.values().filter(|r| r.row.duplicate_of == id).map(|r| r.row.id.clone()).collect();
    ids.iter().filter_map(|d| reports.remove(d)).collect()
}

/// An open survey is closed unanswered when the work is reopened or cancelled before an answer.
fn supersede_open_survey(surveys: &mut [survey::Model], now: i64) -> Vec<SurveyWrite> {
    surveys
        .iter_mut()
        .filter(|s| s.state == SurveyState::Open as i32 && s.close_us > now)
        .map(|s| {
            s.state = SurveyState::Superseded as i32;
            s.close_us = now;
            SurveyWrite::Supersede(s.clone())
        })
        .collect()
}

/// The survey changes in the order the events made them; a superseded survey's other columns
/// are left as they are.
async fn write_surveys(txn: &DatabaseTransaction, writes: Vec<SurveyWrite>) -> flywheel_runtime::Result<()> {
    for write in writes {
        match write {
            SurveyWrite::Open(opened) => {
                survey::ActiveModel::from(opened).insert(txn).await?;
            }
            SurveyWrite::Supersede(superseded) => {
                let (state, close_us) = (superseded.state, superseded.close_us);
                let mut row = superseded.into_active_model();
                row.state = Set(state);
                row.close_us = Set(close_us);
                row.update(txn).await?;
            }
        }
    }
    Ok(())
}

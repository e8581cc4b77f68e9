//! Following dispatch: each ticket event moves the linked report's public status, opens the
//! survey on resolution and supersedes it on a reopen.

use super::Feedback;
use super::status::{Move, move_status};
use crate::convert::micros;
use crate::domain::status::{TicketStep, next_status};
use crate::store::entities::{report, survey};
use crate::store;
use flywheel_proto::flywheel::dispatch::v1 as dispatch;
use flywheel_proto::flywheel::feedback::v1::{ReportStatus, StatusChangeCause, SurveyState};
use flywheel_runtime::db::now_micros;
use flywheel_runtime::events::IncomingEvent;
use flywheel_runtime::events::consumer::{EventHandler, HandlerError};
use sea_orm::{ActiveModelTrait, DatabaseTransaction, IntoActiveModel, Set};

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

#[async_trait::async_trait]
impl EventHandler for TicketEvents {
    async fn handle(&self, txn: &DatabaseTransaction, event: &IncomingEvent) -> Result<(), HandlerError> {
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
        self.feedback
            .follow_ticket(txn, &ticket, step, &note)
            .await
            .map_err(handler_error)
    }
}

/// Database trouble may pass; anything else would fail the same way again.
fn handler_error(e: flywheel_runtime::Error) -> HandlerError {
    match e {
        flywheel_runtime::Error::Internal(_) | flywheel_runtime::Error::Unavailable(_) => {
            HandlerError::Transient(anyhow::anyhow!(e.to_string()))
        }
        other => HandlerError::Permanent(anyhow::anyhow!(other.to_string())),
    }
}

impl Feedback {
    async fn follow_ticket(
        &self,
        txn: &DatabaseTransaction,
        ticket: &dispatch::Ticket,
        step: TicketStep,
        note: &str,
    ) -> flywheel_runtime::Result<()> {
        let Some(mut row) = linked_report(txn, ticket).await? else {
            // A ticket that did not come from a report.
            return Ok(());
        };
        let before = row.clone();
        row.ticket_id = ticket.id.clone();
        row.expected_resolve_us = match step {
            TicketStep::Resolved | TicketStep::Closed | TicketStep::Cancelled => None,
            _ => ticket.sla.as_ref().and_then(|s| s.resolve_due_time.as_ref()).map(micros),
        };
        let now = now_micros();
        match step {
            TicketStep::Resolved => self.open_survey(txn, &row.id, &ticket.id, now).await?,
            TicketStep::Reopened | TicketStep::Cancelled => supersede_open_survey(txn, &row.id, now).await?,
            _ => {}
        }
        if step == TicketStep::Reopened && row.status != ReportStatus::Reopened as i32 {
            row.reopen_count += 1;
        }
        let Some(to) = next_status(row.status, step) else {
            if row != before {
                store::save_report(txn, row).await?;
            }
            return Ok(());
        };
        let m = Move { to, note, cause: StatusChangeCause::Ticket, ticket_id: &ticket.id };
        let (_, out) = move_status(txn, row, m).await?;
        flywheel_runtime::events::outbox::enqueue_all(txn, &out).await?;
        Ok(())
    }

    async fn open_survey(&self, txn: &DatabaseTransaction, report_id: &str, ticket_id: &str, now: i64) -> flywheel_runtime::Result<()> {
        supersede_open_survey(txn, report_id, now).await?;
        let round = store::surveys_of(txn, report_id).await?.last().map_or(1, |s| s.round + 1);
        let open_for = i64::try_from(self.settings.survey_open_for.as_micros()).unwrap_or(i64::MAX);
        survey::ActiveModel::from(survey::Model {
            report_id: report_id.to_owned(),
            round,
            state: SurveyState::Open as i32,
            ticket_id: ticket_id.to_owned(),
            open_us: now,
            close_us: now.saturating_add(open_for),
            rating: 0,
            fixed: 0,
            comment: String::new(),
            rate_us: None,
        })
        .insert(txn)
        .await?;
        Ok(())
    }
}

/// The report a ticket works on: its origin, or the report already linked to it.
async fn linked_report(txn: &DatabaseTransaction, ticket: &dispatch::Ticket) -> flywheel_runtime::Result<Option<report::Model>> {
    let origin = ticket.origin.as_ref().map(|o| o.report_id.as_str()).unwrap_or_default();
    if !origin.is_empty() {
        return match store::load_report(txn, origin).await {
            Ok(row) => Ok(Some(row)),
            Err(flywheel_runtime::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        };
    }
    Ok(store::reports_where(txn, report::Column::TicketId, &ticket.id).await?.into_iter().next())
}

/// An open survey is closed unanswered when the work is reopened or cancelled before an answer.
async fn supersede_open_survey(txn: &DatabaseTransaction, report_id: &str, now: i64) -> flywheel_runtime::Result<()> {
    let open = store::surveys_of(txn, report_id)
        .await?
        .into_iter()
        .filter(|s| s.state == SurveyState::Open as i32 && s.close_us > now);
    for s in open {
        let mut s = s.into_active_model();
        s.state = Set(SurveyState::Superseded as i32);
        s.close_us = Set(now);
        s.update(txn).await?;
    }
    Ok(())
}

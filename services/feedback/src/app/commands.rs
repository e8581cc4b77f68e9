//! The commands on a filed report: "me too", the survey answer, staff classification and
//! closing, and the audited contact look-up.

use super::{Feedback, limits};
use super::status::{Move, move_status};
use super::placement::active_category;
use crate::caller::Caller;
use crate::domain::report::{self as rules, MAX_NOTE, text};
use crate::domain::{status, survey as survey_rules};
use crate::events;
use crate::store::entities::{contact, report, support, survey};
use crate::store;
use flywheel_proto::flywheel::feedback::v1::{
    ClassifyReportRequest, CloseReportRequest, GetReportContactResponse, RateResolutionRequest, Report,
    ReportChannel, ReportReopenRequested, ReportRated, ReportStatus, ResidentContact, StatusChangeCause,
    SupportReportRequest, SurveyState,
};
use flywheel_runtime::db::now_micros;
use flywheel_runtime::{Error, Result, Violations};
use sea_orm::{ActiveModelTrait, EntityTrait};

impl Feedback {
    /// Returns the report after the support and whether this call counted.
    pub async fn support_report(&self, req: SupportReportRequest, caller: &Caller) -> Result<(Report, bool)> {
        let resident = caller
            .resident_id()
            .ok_or_else(|| Error::PermissionDenied("only residents can support a report".into()))?
            .to_owned();
        let channel_ok = ReportChannel::try_from(req.channel).is_ok_and(|c| c != ReportChannel::Unspecified);
        let mut v = Violations::new();
        v.check(!req.report_id.is_empty(), "report_id", "is required");
        v.check(channel_ok, "channel", "must be a channel");
        v.finish(())?;
        let (id, counted) = self
            .writer
            .write(async |txn| {
                let mut row = store::load_report(txn, &req.report_id).await?;
                if !row.duplicate_of.is_empty() {
                    return Err(precondition(&row, "the report is a duplicate: support its primary report"));
                }
                if !status::is_open(row.status) {
                    return Err(precondition(&row, "the report is no longer open"));
                }
                let already = support::Entity::find_by_id((row.id.clone(), resident.clone())).one(txn).await?;
                if row.resident_id == resident || already.is_some() {
                    return Ok(((row.id, false), Vec::new()));
                }
                let now = now_micros();
                let on = [limits::per_resident(&self.settings, &resident)];
                let turns: Vec<String> = on.iter().filter_map(|l| l.turn().map(str::to_owned)).collect();
                flywheel_runtime::db::take_turns(txn, &turns).await?;
                let mut counters = limits::load(txn, &on, now).await?;
                counters.admit(&on)?;
                support::ActiveModel::from(support::Model {
                    report_id: row.id.clone(),
                    resident_id: resident.clone(),
                    channel: req.channel,
                    time_us: now,
                })
                .insert(txn)
                .await?;
                row.support_count += 1;
                let after = store::snapshot(txn, store::save_report(txn, row).await?).await?;
                counters.count(txn).await?;
                Ok(((after.id.clone(), true), vec![events::supported(&after, req.channel)]))
            })
            .await?;
        let report = store::snapshot(self.db(), store::load_report(self.db(), &id).await?).await?;
        Ok((crate::convert::for_caller(report, caller), counted))
    }

    pub async fn rate_resolution(&self, req: RateResolutionRequest, caller: &Caller) -> Result<Report> {
        let answer = req.rating.clone().ok_or_else(|| Error::invalid("rating", "is required"))?;
        survey_rules::validate_answer(&answer)?;
        let scope = format!("RateResolution/{}", req.report_id);
        let id = self
            .writer
            .write_once(&scope, &req.request_id, async |txn| {
                let row = store::load_report(txn, &req.report_id).await?;
                if !caller.may_rate(&row.resident_id) {
                    return Err(Error::PermissionDenied("only the reporter can rate the resolution".into()));
                }
                let now = now_micros();
                let current = store::surveys_of(txn, &row.id).await?.pop();
                let state = current.as_ref().map(|s| survey_rules::effective_state(s.state, s.close_us, now));
                survey_rules::check_answerable(&row.id, state)?;
                let Some(open) = current else { return Err(Error::not_found("survey", &row.id)) };
                let (round, ticket_id) = (open.round, open.ticket_id.clone());
                survey::ActiveModel::from(survey::Model {
                    state: SurveyState::Answered as i32,
                    close_us: now,
                    rating: answer.rating,
                    fixed: answer.fixed,
                    comment: answer.comment.clone(),
                    rate_us: Some(now),
                    ..open
                })
                .reset_all()
                .update(txn)
                .await?;
                let (low_rating, not_fixed) = survey_rules::reopen_reasons(&answer);
                let reopen = low_rating || not_fixed;
                let rated = ReportRated {
                    report: None,
                    ticket_id: ticket_id.clone(),
                    rating: answer.rating,
                    fixed: answer.fixed,
                    has_comment: !answer.comment.trim().is_empty(),
                    survey_round: round,
                    reopen_requested: reopen,
                };
                if !reopen {
                    let after = store::snapshot(txn, store::save_report(txn, row).await?).await?;
                    return Ok((after.id.clone(), vec![events::rated(&after, rated)]));
                }
                let mut row = row;
                row.reopen_count += 1;
                let note = "You were not satisfied with the fix; the work is being reopened";
                let m = Move { to: ReportStatus::Reopened, note, cause: StatusChangeCause::Survey, ticket_id: "" };
                let (after, changes) = move_status(txn, row, m).await?;
                let request = ReportReopenRequested {
                    report: None,
                    ticket_id,
                    rating: answer.rating,
                    fixed: answer.fixed,
                    low_rating,
                    not_fixed,
                    survey_round: round,
                };
                let mut out = vec![events::rated(&after, rated)];
                out.extend(changes);
                out.push(events::reopen_requested(&after, request));
                Ok((after.id, out))
            })
            .await?;
        self.get_own(&id, caller).await
    }

    pub async fn classify_report(&self, req: ClassifyReportRequest, caller: &Caller) -> Result<Report> {
        caller.require_staff()?;
        let mut v = Violations::new();
        v.check(!req.report_id.is_empty(), "report_id", "is required");
        v.check(!req.category_id.is_empty(), "category_id", "is required");
        v.check(req.version > 0, "version", "is required");
        text(&mut v, "note", &req.note, MAX_NOTE);
        v.finish(())?;
        let scope = format!("ClassifyReport/{}", req.report_id);
        let id = self
            .writer
            .write_once(&scope, &req.request_id, async |txn| {
                let mut row = store::load_report(txn, &req.report_id).await?;
                check_version(&row, req.version)?;
                if !row.category_id.is_empty() {
                    return Err(precondition(&row, "the report is already classified"));
                }
                if row.status == ReportStatus::Closed as i32 {
                    return Err(precondition(&row, "the report is closed"));
                }
                let category = active_category(txn, &req.category_id).await?;
                row.category_id = category.id.clone();
                row.dimension = category.dimension;
                row.perspective = category.perspective;
                row.priority_hint = if req.priority_hint != 0 { req.priority_hint } else { category.default_priority };
                row.needs_field_work = req
                    .needs_field_work
                    .unwrap_or_else(|| rules::needs_field_work(row.kind, true, !row.duplicate_of.is_empty()));
                let row = store::save_report(txn, row).await?;
                if !req.note.is_empty() {
                    store::append_step(txn, &row.id, row.status, &req.note, now_micros()).await?;
                }
                let after = store::snapshot(txn, row).await?;
                Ok((after.id.clone(), vec![events::classified(&after, caller.staff_id())]))
            })
            .await?;
        self.get_own(&id, caller).await
    }

    pub async fn close_report(&self, req: CloseReportRequest, caller: &Caller) -> Result<Report> {
        caller.require_staff()?;
        let mut v = Violations::new();
        v.check(!req.report_id.is_empty(), "report_id", "is required");
        v.check(req.version > 0, "version", "is required");
        v.check(!req.note.trim().is_empty(), "note", "is required");
        text(&mut v, "note", &req.note, MAX_NOTE);
        v.finish(())?;
        let scope = format!("CloseReport/{}", req.report_id);
        let id = self
            .writer
            .write_once(&scope, &req.request_id, async |txn| {
                let row = store::load_report(txn, &req.report_id).await?;
                check_version(&row, req.version)?;
                if row.status == ReportStatus::Closed as i32 {
                    return Err(precondition(&row, "the report is already closed"));
                }
                if !row.ticket_id.is_empty() {
                    return Err(precondition(&row, "a ticket is linked: its status drives the report"));
                }
                let m = Move { to: ReportStatus::Closed, note: &req.note, cause: StatusChangeCause::Staff, ticket_id: "" };
                let (after, out) = move_status(txn, row, m).await?;
                Ok((after.id, out))
            })
            .await?;
        self.get_own(&id, caller).await
    }

    /// The contact details, for staff and the reporter only. Audit-logged without the data.
    pub async fn get_report_contact(&self, report_id: &str, caller: &Caller) -> Result<GetReportContactResponse> {
        let row = store::load_report(self.db(), report_id).await?;
        if !caller.may_see_private(&row.resident_id) {
            tracing::warn!(report = %row.id, "contact look-up refused");
            return Err(Error::PermissionDenied("only staff and the reporter may see the contact details".into()));
        }
        tracing::info!(report = %row.id, staff = caller.staff_id(), "contact details read");
        let stored = contact::Entity::find_by_id(row.id.clone()).one(self.db()).await?;
        let contact = stored.map(|c| ResidentContact { name: c.name, phone: c.phone, email: c.email });
        Ok(GetReportContactResponse { contact: Some(contact.unwrap_or_default()), resident_id: row.resident_id })
    }

    async fn get_own(&self, id: &str, caller: &Caller) -> Result<Report> {
        let report = store::snapshot(self.db(), store::load_report(self.db(), id).await?).await?;
        Ok(crate::convert::for_caller(report, caller))
    }
}

fn precondition(row: &report::Model, reason: &str) -> Error {
    let state = if row.duplicate_of.is_empty() { status::name(row.status) } else { "DUPLICATE".to_owned() };
    Error::FailedPrecondition { kind: "report", id: row.id.clone(), state, reason: reason.to_owned() }
}

fn check_version(row: &report::Model, expected: i64) -> Result<()> {
    if row.version == expected {
        Ok(())
    } else {
        Err(Error::Aborted { kind: "report", id: row.id.clone(), current: row.version, expected })
    }
}

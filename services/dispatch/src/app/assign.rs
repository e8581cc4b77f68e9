//! Choosing a crew: automatic dispatch (index lookup, hard filters and score in the domain) and
//! the dispatcher's manual choice, both inside the caller's transaction.

use super::change::{refuse, Change};
use super::Dispatch;
use crate::domain::scorer::{self, Candidate, Need};
use crate::domain::state::{is_held, waiting_state};
use crate::domain::{duty, time::timestamp};
use crate::store::entities::crew;
use crate::store::{self, Kind};
use flywheel_proto::flywheel::common::v1::Priority;
use flywheel_proto::flywheel::dispatch::v1::{
    self as pb, Crew, DispatchDecision, DispatchTrigger, TicketAction, TicketState,
};
use flywheel_proto::flywheel::registry::v1::Category;
use flywheel_runtime::{Error, Result};
use sea_orm::DatabaseTransaction;
use std::collections::HashMap;

impl Dispatch {
    /// Runs automatic dispatch on the ticket of `ch`, skipping `excluded` crews (see
    /// [`dispatch_among`]). Returns whether a crew was assigned.
    pub(super) async fn auto_dispatch(
        &self,
        txn: &DatabaseTransaction,
        ch: &mut Change,
        trigger: DispatchTrigger,
        excluded: &[String],
    ) -> Result<bool> {
        let t = &ch.ticket;
        let skills = match store::replica::<Category>(txn, Kind::Category, &t.category_id).await? {
            Some((_, c)) => c.required_skills,
            None => Vec::new(),
        };
        let (mut covering, rows) = self.index.covering_rows(txn, &[(&t.site_id, &t.region_path)]).await?;
        let candidates = candidates_among(covering.pop().unwrap_or_default(), &rows, ch.now_us);
        Ok(dispatch_among(ch, trigger, &skills, &candidates, excluded).is_some())
    }

    /// The dispatcher's choice of crew: it must be active and, unless `override_eligibility`,
    /// have the category's skills and cover the site.
    pub(super) async fn manual_crew(&self, txn: &DatabaseTransaction, ch: &Change, crew_id: &str, override_eligibility: bool) -> Result<()> {
        let row = store::crew_row(txn, crew_id).await?;
        let inactive = || Error::FailedPrecondition { kind: "crew", id: crew_id.to_owned(), state: "INACTIVE".into(), reason: "the crew is inactive".into() };
        if !row.active {
            return Err(inactive());
        }
        if override_eligibility {
            return Ok(());
        }
        let crew = crate::convert::crew_config(&row)?;
        let t = &ch.ticket;
        let skills = match store::replica::<Category>(txn, Kind::Category, &t.category_id).await? {
            Some((_, c)) => c.required_skills,
            None => Vec::new(),
        };
        if !skills.iter().all(|s| crew.skills.contains(s)) {
            return Err(refuse(t, format!("crew {crew_id} lacks a skill the category requires (override_eligibility allows it)")));
        }
        let cov = crew.coverage.unwrap_or_default();
        if !cov.site_ids.contains(&t.site_id) && !t.region_path.iter().any(|r| cov.region_ids.contains(r)) {
            return Err(refuse(t, format!("crew {crew_id} does not cover the site (override_eligibility allows it)")));
        }
        Ok(())
    }
}

/// Automatic dispatch among `candidates` (the covering crews): a waiting ticket (NEW, REOPENED)
/// is assigned or marked unassignable; a held one is reassigned or left as it is. Returns the
/// crew assigned, if any.
pub(super) fn dispatch_among(
    ch: &mut Change,
    trigger: DispatchTrigger,
    skills: &[String],
    candidates: &[Candidate],
    excluded: &[String],
) -> Option<String> {
    let t = &ch.ticket;
    let mut excluded = excluded.to_vec();
    excluded.extend(t.declined_crew_ids.iter().cloned());
    let location = t.location.unwrap_or_default();
    let need = Need { skills, p1: t.priority == Priority::P1 as i32, location: &location, excluded: &excluded, now_us: ch.now_us };
    let decision = scorer::decide(trigger, &need, candidates);
    match decision.chosen.clone() {
        Some(chosen) => {
            assign(ch, &chosen.crew_id, decision, true);
            Some(chosen.crew_id)
        }
        None if is_held(ch.state()) => None,
        None => {
            mark_unassignable(ch, decision, trigger);
            None
        }
    }
}

/// The covering crews whose rows are active, with the load the rows hold and their duty now.
pub fn candidates_among(covering: Vec<Crew>, rows: &HashMap<String, crew::Model>, now_us: i64) -> Vec<Candidate> {
    covering
        .into_iter()
        .filter_map(|c| {
            let row = rows.get(&c.id).filter(|r| r.active)?;
            let (on_shift, on_call) = duty::duty(&c, now_us);
            Some(Candidate {
                crew_id: c.id,
                code: c.code,
                name: c.name,
                skills: c.skills,
                base: c.base_location,
                capacity: row.capacity,
                open_tickets: row.open_ticket_count,
                last_assignment_us: row.last_assignment_us,
                on_shift,
                on_call,
            })
        })
        .collect()
}

/// Gives the ticket to `crew_id`: ASSIGN from a waiting state, REASSIGN from a held one.
pub(super) fn assign(ch: &mut Change, crew_id: &str, decision: DispatchDecision, automatic: bool) {
    let previous = if is_held(ch.state()) { ch.ticket.crew_id.clone() } else { String::new() };
    let action = if previous.is_empty() { TicketAction::Assign } else { TicketAction::Reassign };
    let t = &mut ch.ticket;
    t.crew_id = crew_id.to_owned();
    t.assignment_count += 1;
    t.assign_time = Some(timestamp(ch.now_us));
    t.unassignable_reason = 0;
    t.unassignable_detail.clear();
    t.unassignable_since = None;
    let tr = ch.record(action, TicketState::Assigned, |tr| {
        tr.previous_crew_id = previous.clone();
        tr.dispatch = Some(decision.clone());
    });
    ch.publish("assigned", |t| pb::TicketAssigned {
        ticket: Some(t.clone()),
        transition: Some(tr),
        crew_id: crew_id.to_owned(),
        previous_crew_id: previous,
        automatic,
        decision: Some(decision),
        assignment_number: t.assignment_count,
    });
}

/// Leaves a waiting ticket without a crew, with the reason. A retry that finds the same reason
/// records nothing new.
fn mark_unassignable(ch: &mut Change, decision: DispatchDecision, trigger: DispatchTrigger) {
    if trigger == DispatchTrigger::Retry && ch.ticket.unassignable_reason == decision.unassignable_reason {
        return;
    }
    let t = &mut ch.ticket;
    if t.unassignable_reason == 0 {
        t.unassignable_since = Some(timestamp(ch.now_us));
    }
    t.unassignable_reason = decision.unassignable_reason;
    t.unassignable_detail = scorer::explain(&decision);
    let to = waiting_state(t.reopen_count);
    let tr = ch.record(TicketAction::MarkUnassignable, to, |tr| tr.dispatch = Some(decision.clone()));
    ch.publish("marked_unassignable", |t| pb::TicketMarkedUnassignable {
        ticket: Some(t.clone()),
        transition: Some(tr),
        reason: decision.unassignable_reason,
        decision: Some(decision),
    });
}

/// The decision recorded for a dispatcher's choice: nothing was scored.
pub(super) fn manual_decision() -> DispatchDecision {
    DispatchDecision { trigger: DispatchTrigger::Manual as i32, ..Default::default() }
}

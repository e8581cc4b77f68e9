//! The ticket transitions: each checks the state machine, changes the ticket and its SLA clock,
//! appends its history entry and publishes its event; some then run automatic dispatch.

use super::assign::{assign, manual_decision};
use super::change::{refuse, Cause, Change};
use super::tickets::targets;
use super::Dispatch;
use crate::domain::state::{check, is_held, Command, Position};
use crate::domain::time::{duration, timestamp};
use crate::domain::{sla, validate};
use crate::store::{self, Kind};
use flywheel_proto::flywheel::common::v1::Priority;
use flywheel_proto::flywheel::dispatch::v1::{self as pb, *};
use flywheel_proto::flywheel::registry::v1::Category;
use flywheel_runtime::{Error, Result, Violations};
use sea_orm::DatabaseTransaction;

fn position(ch: &Change) -> Position {
    let t = &ch.ticket;
    Position {
        state: ch.state(),
        held_from: TicketState::try_from(t.held_from_state).unwrap_or(TicketState::Unspecified),
        reopen_count: t.reopen_count,
    }
}

fn allowed(ch: &Change, command: Command) -> Result<TicketState> {
    check(&ch.ticket.id, position(ch), command)
}

fn clock(ch: &mut Change) -> &mut TicketSla {
    ch.ticket.sla.get_or_insert_with(TicketSla::default)
}

/// A reason enum that is required, with its note required when the reason is OTHER.
fn reason_and_note(reason: i32, valid: bool, other: bool, note: &str) -> Result<()> {
    let mut v = Violations::new();
    validate::required_enum(&mut v, "reason", reason, valid);
    validate::note(&mut v, note, other);
    v.finish(())
}

fn optional_note(note: &str) -> Result<()> {
    let mut v = Violations::new();
    validate::note(&mut v, note, false);
    v.finish(())
}

impl Dispatch {
    /// A crew member may act only on tickets their own crew holds; staff and services on any.
    async fn check_member(&self, txn: &DatabaseTransaction, ch: &Change) -> Result<()> {
        let actor = &ch.cause.actor;
        if actor.kind != ActorKind::CrewMember as i32 {
            return Ok(());
        }
        self.index.refresh(txn).await?;
        let crew = &ch.ticket.crew_id;
        let member = actor.crew_id == *crew
            && self.index.get(crew).is_some_and(|c| c.members.iter().any(|m| m.member_id == actor.id));
        if member {
            Ok(())
        } else {
            Err(Error::PermissionDenied(format!("{} is not a member of the crew holding ticket {}", actor.id, ch.ticket.id)))
        }
    }

    pub async fn assign_ticket(&self, req: AssignTicketRequest, cause: Cause) -> Result<Ticket> {
        let mut v = Violations::new();
        validate::id(&mut v, "crew_id", &req.crew_id);
        validate::note(&mut v, &req.note, false);
        v.finish(())?;
        self.command("AssignTicket", &req.ticket_id, Some(req.version), cause, &req.request_id, async |txn, ch| {
            allowed(ch, Command::Assign)?;
            self.manual_crew(txn, ch, &req.crew_id, req.override_eligibility).await?;
            assign(ch, &req.crew_id, manual_decision(), false);
            Ok(())
        })
        .await
    }

    pub async fn reassign_ticket(&self, req: ReassignTicketRequest, cause: Cause) -> Result<Ticket> {
        optional_note(&req.note)?;
        self.command("ReassignTicket", &req.ticket_id, Some(req.version), cause, &req.request_id, async |txn, ch| {
            self.reassign_in(txn, ch, &req.crew_id, req.override_eligibility).await
        })
        .await
    }

    async fn reassign_in(&self, txn: &DatabaseTransaction, ch: &mut Change, crew_id: &str, override_eligibility: bool) -> Result<()> {
        allowed(ch, Command::Reassign)?;
        let current = ch.ticket.crew_id.clone();
        if crew_id.is_empty() {
            if !self.auto_dispatch(txn, ch, DispatchTrigger::Reassign, std::slice::from_ref(&current)).await? {
                return Err(refuse(&ch.ticket, "no other crew is eligible; the ticket stays with its crew"));
            }
            return Ok(());
        }
        if crew_id == current {
            return Err(refuse(&ch.ticket, format!("crew {crew_id} already holds the ticket")));
        }
        self.manual_crew(txn, ch, crew_id, override_eligibility).await?;
        assign(ch, crew_id, manual_decision(), false);
        Ok(())
    }

    pub async fn bulk_reassign(&self, req: BulkReassignTicketsRequest, cause: Cause) -> Result<BulkReassignTicketsResponse> {
        let mut v = Violations::new();
        v.check((1..=500).contains(&req.tickets.len()), "tickets", "must name 1..500 tickets");
        let mut seen = std::collections::HashSet::new();
        v.check(req.tickets.iter().all(|t| seen.insert(t.ticket_id.clone())), "tickets", "must not name a ticket twice");
        validate::note(&mut v, &req.note, false);
        v.finish(())?;
        if !req.to_crew_id.is_empty() {
            let crew = store::crew_row(self.db(), &req.to_crew_id).await?;
            if !crew.active {
                return Err(Error::FailedPrecondition { kind: "crew", id: crew.id, state: "INACTIVE".into(), reason: "the crew is inactive".into() });
            }
        }
        let mut results = Vec::with_capacity(req.tickets.len());
        if req.all_or_nothing {
            let tickets = self
                .writer
                .write(async |txn| {
                    let mut done = Vec::new();
                    let mut events = Vec::new();
                    for r in &req.tickets {
                        let row = store::ticket_row(txn, &r.ticket_id).await?;
                        let mut ch = Change::of(&row, Some(r.version), cause.clone(), flywheel_runtime::db::now_micros())?;
                        self.reassign_in(txn, &mut ch, &req.to_crew_id, req.override_eligibility).await?;
                        let (t, e) = ch.commit(txn).await?;
                        done.push(t);
                        events.extend(e);
                    }
                    Ok((done, events))
                })
                .await?;
            self.ticket_changed();
            results.extend(tickets.into_iter().map(|t| BulkReassignResult { ticket_id: t.id.clone(), ticket: Some(t), ..Default::default() }));
        } else {
            for r in &req.tickets {
                let one = ReassignTicketRequest {
                    ticket_id: r.ticket_id.clone(),
                    version: r.version,
                    crew_id: req.to_crew_id.clone(),
                    override_eligibility: req.override_eligibility,
                    note: req.note.clone(),
                    request_id: if req.request_id.is_empty() { String::new() } else { format!("{}/{}", req.request_id, r.ticket_id) },
                };
                results.push(match self.reassign_ticket(one, cause.clone()).await {
                    Ok(t) => BulkReassignResult { ticket_id: r.ticket_id.clone(), ticket: Some(t), ..Default::default() },
                    Err(e) => {
                        let status = tonic::Status::from(e);
                        BulkReassignResult {
                            ticket_id: r.ticket_id.clone(),
                            ticket: None,
                            error_code: code_name(status.code()).to_owned(),
                            error_message: status.message().to_owned(),
                        }
                    }
                });
            }
        }
        let reassigned_count = results.iter().filter(|r| r.ticket.is_some()).count() as i32;
        Ok(BulkReassignTicketsResponse { failed_count: results.len() as i32 - reassigned_count, reassigned_count, results })
    }

    pub async fn accept_ticket(&self, req: AcceptTicketRequest, cause: Cause) -> Result<Ticket> {
        optional_note(&req.note)?;
        self.command("AcceptTicket", &req.ticket_id, Some(req.version), cause, &req.request_id, async |txn, ch| {
            self.check_member(txn, ch).await?;
            let to = allowed(ch, Command::Accept)?;
            let now = ch.now_us;
            ch.ticket.accept_time = Some(timestamp(now));
            let (tta, within, first) = sla::acknowledge(clock(ch), now);
            let tr = ch.record(TicketAction::Accept, to, |tr| tr.note = req.note.clone());
            ch.publish("accepted", |t| pb::TicketAccepted {
                ticket: Some(t.clone()),
                transition: Some(tr),
                crew_id: t.crew_id.clone(),
                time_to_acknowledge: Some(duration(tta)),
                acknowledged_within_sla: within,
                first_in_cycle: first,
            });
            Ok(())
        })
        .await
    }

    pub async fn decline_ticket(&self, req: DeclineTicketRequest, cause: Cause) -> Result<Ticket> {
        let other = req.reason == DeclineReason::Other as i32;
        reason_and_note(req.reason, DeclineReason::try_from(req.reason).is_ok(), other, &req.note)?;
        self.command("DeclineTicket", &req.ticket_id, Some(req.version), cause, &req.request_id, async |txn, ch| {
            self.check_member(txn, ch).await?;
            let to = allowed(ch, Command::Decline)?;
            let crew = std::mem::take(&mut ch.ticket.crew_id);
            ch.ticket.declined_crew_ids.push(crew.clone());
            let tr = ch.record(TicketAction::Decline, to, |tr| {
                tr.previous_crew_id = crew.clone();
                tr.decline_reason = req.reason;
                tr.note = req.note.clone();
            });
            ch.publish("declined", |t| pb::TicketDeclined { ticket: Some(t.clone()), transition: Some(tr), crew_id: crew, reason: req.reason, note: req.note.clone() });
            self.auto_dispatch(txn, ch, DispatchTrigger::Declined, &[]).await?;
            Ok(())
        })
        .await
    }

    pub async fn start_ticket(&self, req: StartTicketRequest, cause: Cause) -> Result<Ticket> {
        optional_note(&req.note)?;
        self.command("StartTicket", &req.ticket_id, Some(req.version), cause, &req.request_id, async |txn, ch| {
            self.check_member(txn, ch).await?;
            let to = allowed(ch, Command::Start)?;
            ch.ticket.start_time = Some(timestamp(ch.now_us));
            ch.record_plain(TicketAction::Start, to, |tr| tr.note = req.note.clone());
            Ok(())
        })
        .await
    }

    pub async fn put_on_hold(&self, req: PutTicketOnHoldRequest, cause: Cause) -> Result<Ticket> {
        let other = req.reason == HoldReason::Other as i32;
        reason_and_note(req.reason, HoldReason::try_from(req.reason).is_ok(), other, &req.note)?;
        let now = flywheel_runtime::db::now_micros();
        if req.expected_resume_time.as_ref().is_some_and(|t| crate::domain::time::micros(t) <= now) {
            return Err(Error::invalid("expected_resume_time", "must be in the future"));
        }
        self.command("PutTicketOnHold", &req.ticket_id, Some(req.version), cause, &req.request_id, async |txn, ch| {
            self.check_member(txn, ch).await?;
            let to = allowed(ch, Command::PutOnHold)?;
            let from = ch.state();
            let now = ch.now_us;
            sla::pause(clock(ch), now);
            ch.ticket.held_from_state = from as i32;
            ch.ticket.hold = Some(TicketHold {
                reason: req.reason,
                note: req.note.clone(),
                start_time: Some(timestamp(now)),
                expected_resume_time: req.expected_resume_time,
            });
            let tr = ch.record(TicketAction::PutOnHold, to, |tr| {
                tr.hold_reason = req.reason;
                tr.note = req.note.clone();
            });
            ch.publish("put_on_hold", |t| pb::TicketPutOnHold {
                ticket: Some(t.clone()),
                transition: Some(tr),
                reason: req.reason,
                note: req.note.clone(),
                expected_resume_time: req.expected_resume_time,
                held_from_state: from as i32,
            });
            Ok(())
        })
        .await
    }

    pub async fn resume_ticket(&self, req: ResumeTicketRequest, cause: Cause) -> Result<Ticket> {
        optional_note(&req.note)?;
        self.command("ResumeTicket", &req.ticket_id, Some(req.version), cause, &req.request_id, async |txn, ch| {
            self.check_member(txn, ch).await?;
            let to = allowed(ch, Command::Resume)?;
            let now = ch.now_us;
            let held = sla::resume(clock(ch), now);
            ch.ticket.hold = None;
            ch.ticket.held_from_state = 0;
            let tr = ch.record(TicketAction::Resume, to, |tr| tr.note = req.note.clone());
            ch.publish("resumed", |t| pb::TicketResumed {
                ticket: Some(t.clone()),
                transition: Some(tr),
                hold_duration: Some(duration(held)),
                resolve_due_time: t.sla.as_ref().and_then(|s| s.resolve_due_time),
                resumed_to_state: to as i32,
            });
            Ok(())
        })
        .await
    }

    pub async fn resolve_ticket(&self, req: ResolveTicketRequest, cause: Cause) -> Result<Ticket> {
        let mut v = Violations::new();
        validate::required_enum(&mut v, "code", req.code, ResolutionCode::try_from(req.code).is_ok());
        validate::required_text(&mut v, "note", &req.note, 4000);
        let probe = Ticket { media_urls: req.media_urls.clone(), ..Default::default() };
        validate::ticket_fields(&mut v, &probe, Some(&["media_urls".to_owned()]));
        v.finish(())?;
        self.command("ResolveTicket", &req.ticket_id, Some(req.version), cause, &req.request_id, async |txn, ch| {
            self.check_member(txn, ch).await?;
            let to = allowed(ch, Command::Resolve)?;
            let now = ch.now_us;
            let r = sla::resolve(clock(ch), now);
            let t = &mut ch.ticket;
            t.resolve_time = Some(timestamp(now));
            t.resolution = Some(TicketResolution { code: req.code, note: req.note.clone(), media_urls: req.media_urls.clone(), crew_id: t.crew_id.clone() });
            let tr = ch.record(TicketAction::Resolve, to, |tr| {
                tr.resolution_code = req.code;
                tr.note = req.note.chars().take(2000).collect();
            });
            ch.publish("resolved", |t| pb::TicketResolved {
                ticket: Some(t.clone()),
                transition: Some(tr),
                crew_id: t.crew_id.clone(),
                resolution_code: req.code,
                resolution_note: req.note.clone(),
                time_to_resolve: Some(duration(r.time_to_resolve_us)),
                elapsed: Some(duration(r.elapsed_us)),
                paused_duration: Some(duration(r.paused_us)),
                resolved_within_sla: r.within_sla,
                first_assignment_resolution: t.assignment_count == 1 && t.reopen_count == 0,
                cycle: t.sla.as_ref().map(|s| s.cycle).unwrap_or(1),
            });
            Ok(())
        })
        .await
    }

    pub async fn close_ticket(&self, req: CloseTicketRequest, cause: Cause) -> Result<Ticket> {
        optional_note(&req.note)?;
        self.command("CloseTicket", &req.ticket_id, Some(req.version), cause, &req.request_id, async |_, ch| close_in(ch, &req.note))
            .await
    }

    pub async fn reopen_ticket(&self, req: ReopenTicketRequest, cause: Cause) -> Result<Ticket> {
        let other = req.reason == ReopenReason::Other as i32;
        reason_and_note(req.reason, ReopenReason::try_from(req.reason).is_ok(), other, &req.note)?;
        self.command("ReopenTicket", &req.ticket_id, Some(req.version), cause, &req.request_id, async |txn, ch| {
            self.reopen_in(txn, ch, req.reason, &req.note).await
        })
        .await
    }

    /// Reopens the ticket of `ch` and dispatches it again (also used for feedback's requests).
    pub(super) async fn reopen_in(&self, txn: &DatabaseTransaction, ch: &mut Change, reason: i32, note: &str) -> Result<()> {
        let to = allowed(ch, Command::Reopen)?;
        let previous_state = ch.state();
        let category: Category = store::replica(txn, Kind::Category, &ch.ticket.category_id).await?.map(|(_, c)| c).unwrap_or_default();
        let (ack, resolve) = targets(&category, ch.ticket.priority);
        let now = ch.now_us;
        let t = &mut ch.ticket;
        let previous_resolve_time = t.resolve_time;
        let previous_crew = t.resolution.as_ref().map(|r| r.crew_id.clone()).unwrap_or_else(|| t.crew_id.clone());
        t.reopen_count += 1;
        t.sla = Some(sla::start_cycle(t.reopen_count + 1, now, ack, resolve));
        t.resolution = None;
        t.declined_crew_ids.clear();
        t.crew_id.clear();
        let tr = ch.record(TicketAction::Reopen, to, |tr| {
            tr.reopen_reason = reason;
            tr.note = note.to_owned();
            tr.previous_crew_id = previous_crew.clone();
        });
        ch.publish("reopened", |t| pb::TicketReopened {
            ticket: Some(t.clone()),
            transition: Some(tr),
            reason,
            note: note.to_owned(),
            report_id: t.origin.as_ref().map(|o| o.report_id.clone()).unwrap_or_default(),
            previous_resolve_time,
            previous_crew_id: previous_crew,
            previous_state: previous_state as i32,
        });
        self.auto_dispatch(txn, ch, DispatchTrigger::Reopened, &[]).await?;
        Ok(())
    }

    pub async fn cancel_ticket(&self, req: CancelTicketRequest, cause: Cause) -> Result<Ticket> {
        let other = req.reason == CancelReason::Other as i32;
        reason_and_note(req.reason, CancelReason::try_from(req.reason).is_ok(), other, &req.note)?;
        self.command("CancelTicket", &req.ticket_id, Some(req.version), cause, &req.request_id, async |_, ch| {
            let to = allowed(ch, Command::Cancel)?;
            let previous_state = ch.state();
            ch.ticket.cancel_time = Some(timestamp(ch.now_us));
            ch.ticket.hold = None;
            let tr = ch.record(TicketAction::Cancel, to, |tr| {
                tr.cancel_reason = req.reason;
                tr.note = req.note.clone();
            });
            ch.publish("cancelled", |t| pb::TicketCancelled {
                ticket: Some(t.clone()),
                transition: Some(tr),
                reason: req.reason,
                note: req.note.clone(),
                previous_state: previous_state as i32,
            });
            Ok(())
        })
        .await
    }

    pub async fn escalate_ticket(&self, req: EscalateTicketRequest, cause: Cause) -> Result<Ticket> {
        let mut v = Violations::new();
        validate::note(&mut v, &req.note, true);
        v.finish(())?;
        self.command("EscalateTicket", &req.ticket_id, Some(req.version), cause, &req.request_id, async |txn, ch| {
            self.escalate_in(txn, ch, EscalationTrigger::Manual, &req.note).await
        })
        .await
    }

    /// Raises the priority one step, notifies the supervising crew (the event) and re-dispatches
    /// a ticket not yet accepted. The cycle's deadlines stay.
    pub(super) async fn escalate_in(&self, txn: &DatabaseTransaction, ch: &mut Change, trigger: EscalationTrigger, note: &str) -> Result<()> {
        let state = allowed(ch, Command::Escalate)?;
        let previous = ch.ticket.priority;
        let raised = (previous - 1).max(Priority::P1 as i32);
        ch.ticket.priority = raised;
        ch.ticket.escalation_level += 1;
        let supervisor = self.supervisor(txn, ch).await?;
        let redispatch = matches!(state, TicketState::New | TicketState::Assigned | TicketState::Reopened);
        let tr = ch.record(TicketAction::Escalate, state, |tr| {
            tr.previous_priority = previous;
            tr.escalation_trigger = trigger as i32;
            tr.note = note.to_owned();
        });
        ch.publish("escalated", |t| pb::TicketEscalated {
            ticket: Some(t.clone()),
            transition: Some(tr),
            trigger: trigger as i32,
            previous_priority: previous,
            priority: raised,
            escalation_level: t.escalation_level,
            supervisor_crew_id: supervisor,
            crew_id: if is_held(state) { t.crew_id.clone() } else { String::new() },
            redispatched: redispatch,
        });
        if redispatch {
            let current = if state == TicketState::Assigned { vec![ch.ticket.crew_id.clone()] } else { vec![] };
            self.auto_dispatch(txn, ch, DispatchTrigger::Escalated, &current).await?;
        }
        Ok(())
    }

    /// The crew to notify of an escalation: the supervisor of the holding crew, else of the
    /// first crew covering the site that has one.
    async fn supervisor(&self, txn: &DatabaseTransaction, ch: &Change) -> Result<String> {
        self.index.refresh(txn).await?;
        let t = &ch.ticket;
        if is_held(ch.state()) {
            return Ok(self.index.get(&t.crew_id).map(|c| c.supervisor_crew_id).unwrap_or_default());
        }
        Ok(self
            .index
            .covering(&t.site_id, &t.region_path)
            .into_iter()
            .map(|c| c.supervisor_crew_id)
            .find(|s| !s.is_empty())
            .unwrap_or_default())
    }
}

/// Signs a resolved ticket off (automatically when dispatch itself is the actor).
pub(super) fn close_in(ch: &mut Change, note: &str) -> Result<()> {
    let to = allowed(ch, Command::Close)?;
    let automatic = ch.cause.actor.kind == ActorKind::System as i32;
    ch.ticket.close_time = Some(timestamp(ch.now_us));
    let tr = ch.record(TicketAction::Close, to, |tr| tr.note = note.to_owned());
    ch.publish("closed", |t| pb::TicketClosed { ticket: Some(t.clone()), transition: Some(tr), automatic });
    Ok(())
}

/// The canonical name of a gRPC code, as BulkReassignResult.error_code carries it.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code as C;
    match code {
        C::InvalidArgument => "INVALID_ARGUMENT",
        C::NotFound => "NOT_FOUND",
        C::AlreadyExists => "ALREADY_EXISTS",
        C::FailedPrecondition => "FAILED_PRECONDITION",
        C::Aborted => "ABORTED",
        C::Unavailable => "UNAVAILABLE",
        C::PermissionDenied => "PERMISSION_DENIED",
        _ => "INTERNAL",
    }
}

//! One write to one ticket: the history entries it appends (each also a row of the change log
//! WatchTickets tails), the events they publish, the crews' open-ticket counts, and the
//! conditional update that makes a stale version (or a concurrent replica) fail with ABORTED.

use crate::convert;
use crate::domain::sla;
use crate::domain::state::{is_held, state_name};
use crate::domain::time::{micros, timestamp};
use crate::store::entities::{ticket, ticket_change};
use crate::store;
use flywheel_proto::flywheel::dispatch::v1::{Actor, Ticket, TicketAction, TicketState, TicketTransition};
use flywheel_runtime::events::OutgoingEvent;
use flywheel_runtime::{Error, Result};
use prost::Message;
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseTransaction, EntityTrait, Set};

/// Who caused a change and under which request.
#[derive(Clone, Debug)]
pub struct Cause {
    pub actor: Actor,
    pub request_id: String,
}

pub struct Change {
    pub ticket: Ticket,
    pub now_us: i64,
    pub cause: Cause,
    pub events: Vec<OutgoingEvent>,
    before: Option<Ticket>,
    history_len: i64,
    /// The crew after the latest entry, the "before" of the next one.
    last_crew: String,
    rows: Vec<ticket_change::ActiveModel>,
}

impl Change {
    /// A change to a stored ticket, which must be at `expected` version (None: any, for the
    /// system's own changes, which still fail if another writer got there first).
    pub fn of(row: &ticket::Model, expected: Option<i64>, cause: Cause, now_us: i64) -> Result<Self> {
        if let Some(expected) = expected.filter(|e| *e != row.version) {
            return Err(Error::Aborted { kind: "ticket", id: row.id.clone(), current: row.version, expected });
        }
        let mut ticket: Ticket = store::body(&row.body)?;
        let before = ticket.clone();
        ticket.version = row.version + 1;
        ticket.update_time = Some(timestamp(now_us));
        let last_crew = before.crew_id.clone();
        Ok(Self { ticket, now_us, cause, events: Vec::new(), before: Some(before), history_len: row.history_len, last_crew, rows: Vec::new() })
    }

    /// A ticket about to be inserted.
    pub fn create(mut ticket: Ticket, cause: Cause, now_us: i64) -> Self {
        ticket.version = 1;
        ticket.create_time = Some(timestamp(now_us));
        ticket.update_time = Some(timestamp(now_us));
        Self { ticket, now_us, cause, events: Vec::new(), before: None, history_len: 0, last_crew: String::new(), rows: Vec::new() }
    }

    pub fn state(&self) -> TicketState {
        TicketState::try_from(self.ticket.state).unwrap_or(TicketState::Unspecified)
    }

    /// Appends a history entry moving the ticket to `to` (after the caller changed its other
    /// fields); `fill` adds the action's own details. Returns the entry for the event.
    pub fn record(&mut self, action: TicketAction, to: TicketState, fill: impl FnOnce(&mut TicketTransition)) -> TicketTransition {
        let from = self.ticket.state;
        self.ticket.state = to as i32;
        self.history_len += 1;
        let mut tr = TicketTransition {
            sequence: self.history_len,
            action: action as i32,
            from_state: from,
            to_state: to as i32,
            time: Some(timestamp(self.now_us)),
            actor: Some(self.cause.actor.clone()),
            crew_id: self.ticket.crew_id.clone(),
            priority: self.ticket.priority,
            request_id: self.cause.request_id.clone(),
            ..Default::default()
        };
        fill(&mut tr);
        let crew_before = std::mem::replace(&mut self.last_crew, self.ticket.crew_id.clone());
        self.rows.push(ticket_change::ActiveModel {
            ticket_id: Set(self.ticket.id.clone()),
            sequence: Set(tr.sequence),
            site_id: Set(self.ticket.site_id.clone()),
            region_path: Set(convert::path(&self.ticket.region_path)),
            crew_before: Set(crew_before),
            crew_after: Set(self.ticket.crew_id.clone()),
            state_before: Set(from),
            state_after: Set(to as i32),
            ticket: Set(self.ticket.encode_to_vec()),
            transition: Set(tr.encode_to_vec()),
            ..Default::default()
        });
        tr
    }

    /// Records an entry whose event carries nothing beyond the ticket and the entry.
    pub fn record_plain(&mut self, action: TicketAction, to: TicketState, fill: impl FnOnce(&mut TicketTransition)) {
        let tr = self.record(action, to, fill);
        if let Some(e) = crate::events::plain(action, &self.ticket, &tr) {
            self.events.push(e);
        }
    }

    /// Whether any history entry was appended.
    pub fn changed(&self) -> bool {
        !self.rows.is_empty()
    }

    /// Publishes `flywheel.dispatch.ticket.<event>` with the message `build` makes from the
    /// ticket as it is now.
    pub fn publish<M: Message>(&mut self, event: &str, build: impl FnOnce(&Ticket) -> M) {
        let message = build(&self.ticket);
        let e = crate::events::ticket(event, &self.ticket, &message);
        self.events.push(e);
    }

    /// Writes the ticket, its history entries and the crews' loads; returns the ticket and events.
    pub async fn commit(self, txn: &DatabaseTransaction) -> Result<(Ticket, Vec<OutgoingEvent>)> {
        let w = self.into_write();
        match &w.expected_version {
            // A conflict inserts nothing instead of failing: callers may carry on after
            // AlreadyExists, and on PostgreSQL a failed statement would abort the transaction.
            None => {
                let inserted = ticket::Entity::insert(w.row)
                    .on_conflict(OnConflict::new().do_nothing().to_owned())
                    .exec_without_returning(txn)
                    .await?;
                if inserted == 0 {
                    return Err(Error::AlreadyExists { kind: "ticket", field: "origin", value: origin_key(&w.ticket) });
                }
            }
            Some(version) => {
                store::save_versioned(txn, "ticket", &w.ticket.id, *version, w.row).await?;
            }
        }
        store::add_loads(txn, &w.loads, w.now_us).await?;
        if !w.history.is_empty() {
            store::take_change_log_turn(txn).await?;
            ticket_change::Entity::insert_many(w.history).exec_without_returning(txn).await?;
        }
        Ok((w.ticket, w.events))
    }

    /// What the change writes: the ticket row, the crews' load changes and the history rows.
    pub fn into_write(mut self) -> TicketWrite {
        let t = &mut self.ticket;
        let state = TicketState::try_from(t.state).unwrap_or(TicketState::Unspecified);
        let sla_clock = t.sla.unwrap_or_default();
        if let Some(s) = t.sla.as_mut() {
            s.stage = sla::stage(s) as i32;
        }
        let next_sla_us = sla::next_mark(&sla_clock, state).map(|(_, at)| at);
        let cell = t.cell.unwrap_or_default();
        let origin = t.origin.clone().unwrap_or_default();
        let row = ticket::ActiveModel {
            id: Set(t.id.clone()),
            code: Set(t.code.clone()),
            site_id: Set(t.site_id.clone()),
            region_path: Set(convert::path(&t.region_path)),
            category_id: Set(t.category_id.clone()),
            priority: Set(t.priority),
            state: Set(t.state),
            crew_id: Set(t.crew_id.clone()),
            origin_kind: Set(origin.kind),
            report_id: Set(Some(origin.report_id).filter(|r| !r.is_empty())),
            plan_id: Set(Some(origin.plan_id).filter(|p| !p.is_empty())),
            occurrence_us: Set(origin.occurrence_time.as_ref().map(micros)),
            unassignable: Set(t.unassignable_reason != 0),
            sla_stage: Set(sla::stage(&sla_clock) as i32),
            dimension: Set(cell.dimension),
            perspective: Set(cell.perspective),
            create_us: Set(t.create_time.as_ref().map(micros).unwrap_or(self.now_us)),
            resolve_due_us: Set(sla_clock.resolve_due_time.as_ref().map(micros).unwrap_or(i64::MAX)),
            next_sla_us: Set(next_sla_us),
            version: Set(t.version),
            history_len: Set(self.history_len),
            body: Set(t.encode_to_vec()),
        };
        let holder = |t: &Ticket| {
            let s = TicketState::try_from(t.state).unwrap_or(TicketState::Unspecified);
            Some(t.crew_id.clone()).filter(|c| is_held(s) && !c.is_empty())
        };
        let (was, now) = (self.before.as_ref().and_then(holder), holder(&self.ticket));
        let loads = if was == now { Vec::new() } else { was.map(|c| (c, -1)).into_iter().chain(now.map(|c| (c, 1))).collect() };
        TicketWrite {
            row,
            expected_version: self.before.as_ref().map(|b| b.version),
            loads,
            history: self.rows,
            now_us: self.now_us,
            ticket: self.ticket,
            events: self.events,
        }
    }
}

/// The rows one change writes, for writing several changes together.
pub struct TicketWrite {
    pub row: ticket::ActiveModel,
    /// The stored version the change started from; `None` for a new ticket.
    pub expected_version: Option<i64>,
    /// Crews whose open-ticket count moves (by -1 or +1).
    pub loads: Vec<(String, i32)>,
    pub history: Vec<ticket_change::ActiveModel>,
    pub now_us: i64,
    pub ticket: Ticket,
    pub events: Vec<OutgoingEvent>,
}

fn origin_key(t: &Ticket) -> String {
    let o = t.origin.clone().unwrap_or_default();
    if o.report_id.is_empty() { format!("plan {} occurrence", o.plan_id) } else { format!("report {}", o.report_id) }
}

/// FAILED_PRECONDITION about a ticket, naming its state.
pub fn refuse(t: &Ticket, reason: impl Into<String>) -> Error {
    let state = TicketState::try_from(t.state).unwrap_or(TicketState::Unspecified);
    Error::FailedPrecondition { kind: "ticket", id: t.id.clone(), state: state_name(state).into(), reason: reason.into() }
}

//! The background work of every replica: SLA deadlines (warnings, breaches, escalation) and the
//! retry of unassignable tickets. Deadlines live in the ticket rows, so a restarted replica picks
//! them up where they stand; each firing is claimed by the conditional update of the ticket
//! version in the same transaction as its events, so it happens once across restarts and
//! replicas.

use super::change::Change;
use super::{system, Dispatch};
use crate::domain::sla::{self, Mark};
use crate::domain::time::{duration, timestamp};
use crate::store::entities::ticket;
use crate::store;
use flywheel_proto::flywheel::dispatch::v1::{self as pb, DispatchTrigger, EscalationTrigger, SlaClock, TicketAction, TicketState};
use flywheel_runtime::db::now_micros;
use flywheel_runtime::{Error, Result};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::time::Duration;
use tokio::sync::watch;

/// How often a replica looks for work other replicas made due (their local wake-ups do not
/// reach it).
const POLL: Duration = Duration::from_millis(500);
/// How often unassignable tickets are retried without a known reason (shifts start and end).
const RETRY_EVERY: Duration = Duration::from_secs(30);
const BATCH: u64 = 200;
/// The least time from one SLA pass to the next. Commits wake the clock, and under a stream of
/// them it reads the deadlines once per this rather than once per commit; a mark falls due
/// minutes after the change that sets it, so it fires at most this late. It also keeps a mark
/// that cannot be fired from spinning the clock.
const MIN_GAP: Duration = Duration::from_millis(100);

impl Dispatch {
    /// Fires due SLA marks until `stop` turns true.
    pub async fn run_sla_clock(self, mut stop: watch::Receiver<bool>) {
        loop {
            let passed = tokio::time::Instant::now();
            let next = match self.fire_due_marks().await {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!(error = %e, "SLA scheduler pass failed");
                    None
                }
            };
            let wait = next
                .map(|at| Duration::from_micros((at - now_micros()).max(0) as u64))
                .map_or(POLL, |d| d.min(POLL));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.sla.notified() => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            tokio::select! {
                _ = tokio::time::sleep_until(passed + MIN_GAP) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
        }
    }

    /// Fires every mark due now; returns when the next one falls due — now, when it fired any,
    /// since firing moves a ticket to its next mark. A pass with nothing due reads one row.
    async fn fire_due_marks(&self) -> Result<Option<i64>> {
        let now = now_micros();
        let earliest: Option<Option<i64>> = ticket::Entity::find()
            .select_only()
            .column(ticket::Column::NextSlaUs)
            .filter(ticket::Column::NextSlaUs.is_not_null())
            .order_by_asc(ticket::Column::NextSlaUs)
            .into_tuple()
            .one(self.db())
            .await?;
        match earliest.flatten() {
            Some(at) if at <= now => {}
            later => return Ok(later),
        }
        let due: Vec<String> = ticket::Entity::find()
            .select_only()
            .column(ticket::Column::Id)
            .filter(ticket::Column::NextSlaUs.lte(now))
            .order_by_asc(ticket::Column::NextSlaUs)
            .limit(BATCH)
            .into_tuple()
            .all(self.db())
            .await?;
        for id in due {
            match self.fire_marks(&id).await {
                Ok(()) | Err(Error::Aborted { .. }) => {}
                Err(e) => tracing::warn!(ticket = %id, error = %e, "SLA mark failed; will retry"),
            }
        }
        Ok(Some(now))
    }

    /// Fires the marks of one ticket that are due, with the escalation a breach brings.
    async fn fire_marks(&self, id: &str) -> Result<()> {
        self.system_change(id, "sla-scheduler", async |txn, ch| {
            let now = ch.now_us;
            while let Some((mark, due)) = ch.ticket.sla.as_ref().and_then(|s| sla::next_mark(s, ch.state())).filter(|(_, at)| *at <= now) {
                self.fire_mark(txn, ch, mark, due).await?;
            }
            Ok(())
        })
        .await
    }

    /// Dispatch changing a ticket on its own: `apply` runs on the ticket as stored, and what it
    /// records is committed only if no one else changed the ticket meanwhile (ABORTED otherwise).
    async fn system_change(
        &self,
        id: &str,
        component: &str,
        apply: impl AsyncFnOnce(&sea_orm::DatabaseTransaction, &mut Change) -> Result<()>,
    ) -> Result<()> {
        let changed = self
            .writer
            .write(async |txn| {
                let row = store::ticket_row(txn, id).await?;
                let mut ch = Change::of(&row, Some(row.version), system(component), now_micros())?;
                apply(txn, &mut ch).await?;
                if !ch.changed() {
                    return Ok((false, Vec::new()));
                }
                let (_, events) = ch.commit(txn).await?;
                Ok((true, events))
            })
            .await?;
        if changed {
            self.ticket_changed();
        }
        Ok(())
    }

    async fn fire_mark(&self, txn: &sea_orm::DatabaseTransaction, ch: &mut Change, mark: Mark, due: i64) -> Result<()> {
        let clock = ch.ticket.sla.get_or_insert_with(Default::default);
        sla::fire(clock, mark);
        let state = ch.state();
        let crew_id = if crate::domain::state::is_held(state) { ch.ticket.crew_id.clone() } else { String::new() };
        let percent = match mark {
            Mark::Warning50 => 50,
            Mark::Warning75 => 75,
            _ => 0,
        };
        if percent > 0 {
            let tr = ch.record(TicketAction::SlaWarning, state, |tr| tr.sla_warning_percent = percent);
            let now = ch.now_us;
            ch.publish("sla_warning", |t| {
                let s = t.sla.unwrap_or_default();
                pb::TicketSlaWarning {
                    ticket: Some(t.clone()),
                    transition: Some(tr),
                    threshold_percent: percent,
                    resolve_due_time: s.resolve_due_time,
                    remaining: Some(duration(sla::remaining(&s, now))),
                    crew_id,
                }
            });
            return Ok(());
        }
        let (clock, trigger) = if mark == Mark::AcknowledgeBreach {
            (SlaClock::Acknowledge, EscalationTrigger::AcknowledgeBreach)
        } else {
            (SlaClock::Resolve, EscalationTrigger::ResolveBreach)
        };
        let tr = ch.record(TicketAction::SlaBreach, state, |tr| tr.sla_clock = clock as i32);
        ch.publish("sla_breached", |t| pb::TicketSlaBreached {
            ticket: Some(t.clone()),
            transition: Some(tr),
            clock: clock as i32,
            due_time: Some(timestamp(due)),
            crew_id,
            priority: t.priority,
        });
        self.escalate_in(txn, ch, trigger, "SLA deadline passed").await
    }

    /// Retries unassignable tickets when woken (crews or load changed) and now and then.
    pub async fn run_retry(self, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(RETRY_EVERY) => {}
                _ = self.retry.notified() => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            if let Err(e) = self.retry_unassignable().await {
                tracing::warn!(error = %e, "retry of unassignable tickets failed");
            }
        }
    }

    async fn retry_unassignable(&self) -> Result<()> {
        let mut after = String::new();
        loop {
            let rows: Vec<String> = ticket::Entity::find()
                .select_only()
                .column(ticket::Column::Id)
                .filter(ticket::Column::Unassignable.eq(true))
                .filter(ticket::Column::State.is_in([TicketState::New as i32, TicketState::Reopened as i32]))
                .filter(ticket::Column::Id.gt(after.clone()))
                .order_by_asc(ticket::Column::Id)
                .limit(BATCH)
                .into_tuple()
                .all(self.db())
                .await?;
            let Some(last) = rows.last().cloned() else { return Ok(()) };
            for id in rows {
                match self.retry_one(&id).await {
                    Ok(()) | Err(Error::Aborted { .. }) => {}
                    Err(e) => tracing::warn!(ticket = %id, error = %e, "retry failed"),
                }
            }
            after = last;
        }
    }

    async fn retry_one(&self, id: &str) -> Result<()> {
        self.system_change(id, "auto-dispatch", async |txn, ch| {
            if ch.ticket.unassignable_reason != 0 && matches!(ch.state(), TicketState::New | TicketState::Reopened) {
                self.auto_dispatch(txn, ch, DispatchTrigger::Retry, &[]).await?;
            }
            Ok(())
        })
        .await
    }
}

//! The transactional outbox. A service writes its events in the same transaction as the state
//! change ([`enqueue`]); the [`Relay`] publishes them afterwards with `Nats-Msg-Id` = event id,
//! retrying with backoff until JetStream acknowledges, and deletes them once acknowledged: the
//! table holds only what is waiting. RPCs never wait on NATS.

use super::OutgoingEvent;
use crate::db::now_micros;
use async_nats::jetstream;
use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, DatabaseConnection, QueryOrder, QuerySelect, QueryTrait, Set};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub seq: i64,
        #[sea_orm(unique)]
        pub event_id: String,
        pub subject: String,
        pub source: String,
        pub aggregate_id: String,
        pub correlation_id: String,
        pub time_us: i64,
        pub payload: Vec<u8>,
        pub attempts: i32,
        pub last_error: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Writes `event` to the outbox inside the caller's transaction.
pub async fn enqueue(conn: &impl ConnectionTrait, event: &OutgoingEvent) -> Result<(), DbErr> {
    enqueue_all(conn, std::slice::from_ref(event)).await
}

/// Writes `events` to the outbox in order, in one statement.
pub async fn enqueue_all(conn: &impl ConnectionTrait, events: &[OutgoingEvent]) -> Result<(), DbErr> {
    if let Some(insert) = enqueue_statement(conn.get_database_backend(), events) {
        conn.execute_raw(insert).await?;
    }
    Ok(())
}

/// The statement [`enqueue_all`] runs, for a caller that joins it to its other writes
/// ([`crate::bulk::execute_all`]); `None` for no events.
pub fn enqueue_statement(backend: sea_orm::DbBackend, events: &[OutgoingEvent]) -> Option<sea_orm::Statement> {
    if events.is_empty() {
        return None;
    }
    let rows = events.iter().map(|event| entity::ActiveModel {
        event_id: Set(event.id.to_string()),
        subject: Set(event.subject.clone()),
        source: Set(event.source.clone()),
        aggregate_id: Set(event.aggregate_id.clone()),
        correlation_id: Set(event.correlation_id.clone()),
        time_us: Set(event.time_us),
        payload: Set(event.payload.clone()),
        attempts: Set(0),
        last_error: Set(None),
        ..Default::default()
    });
    Some(crate::bulk::statement(backend, &entity::Entity::insert_many(rows).into_query()))
}

/// A handle the services use to wake the relay right after a commit, so events leave at once
/// instead of on the next poll.
#[derive(Clone, Default)]
pub struct Outbox {
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new() -> Self {
        Self::default()
    }

    /// Tells the relay there is something new.
    pub fn notify(&self) {
        self.wake.notify_one();
    }
}

const BATCH: u64 = 256;
const POLL: Duration = Duration::from_millis(500);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const PUBLISH_ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// The least time between two counts of a backlog larger than a batch. A count reads every
/// waiting row, so counting at each batch would make draining a large backlog quadratic.
const RECOUNT_EVERY: Duration = Duration::from_secs(1);

/// Publishes the outbox to JetStream.
pub struct Relay {
    db: DatabaseConnection,
    js: jetstream::Context,
    outbox: Outbox,
    service: &'static str,
    counts: Mutex<CountTurns>,
}

impl Relay {
    pub fn new(db: DatabaseConnection, js: jetstream::Context, outbox: Outbox, service: &'static str) -> Self {
        Self { db, js, outbox, service, counts: Mutex::default() }
    }

    /// Runs until `stop` turns true, then makes one last attempt to drain before returning.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut backoff = MIN_BACKOFF;
        let mut streams_ready = false;
        loop {
            if *stop.borrow() {
                break;
            }
            if !streams_ready {
                match super::streams::ensure_owned(&self.js, self.service).await {
                    Ok(()) => streams_ready = true,
                    Err(err) => {
                        tracing::warn!(error = %err, "JetStream not ready; retrying");
                        sleep_or_stop(&mut stop, backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                }
            }
            match self.drain_once().await {
                // A batch short of full emptied the outbox as it stood: what was committed since
                // has woken the relay (a wake-up before the wait is kept for it), so reading the
                // table once more would find nothing but cost a round trip per batch.
                Ok(sent) if (sent as u64) < BATCH => {
                    backoff = MIN_BACKOFF;
                    tokio::select! {
                        _ = self.outbox.wake.notified() => {}
                        _ = tokio::time::sleep(POLL) => {}
                        _ = stop.changed() => {}
                    }
                }
                Ok(_) => backoff = MIN_BACKOFF,
                Err(err) => {
                    tracing::warn!(error = %err, backoff_ms = backoff.as_millis() as u64, "outbox publish failed; retrying");
                    sleep_or_stop(&mut stop, backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        if let Err(err) = self.flush(Duration::from_secs(5)).await {
            tracing::warn!(error = %err, "outbox not fully flushed at shutdown; it is sent on next start");
        }
    }

    /// Publishes until the outbox is empty or `within` has passed.
    pub async fn flush(&self, within: Duration) -> anyhow::Result<()> {
        tokio::time::timeout(within, async {
            while self.drain_once().await? > 0 {}
            anyhow::Ok(())
        })
        .await?
    }

    /// Publishes one batch in order; returns how many were sent. Every event of the batch is sent
    /// before the first acknowledgement is awaited (one round trip per batch, not per event), and
    /// the acknowledged prefix is deleted in one statement. Deleting, not marking, keeps every
    /// read of the table to the rows still waiting. An event after a failure may reach
    /// JetStream anyway; it is sent again later and JetStream drops the copy by its `Nats-Msg-Id`.
    async fn drain_once(&self) -> anyhow::Result<usize> {
        let pending = entity::Entity::find()
            .order_by_asc(entity::Column::Seq)
            .limit(BATCH)
            .all(&self.db)
            .await?;
        self.record_backlog(&pending).await;
        let mut acks = Vec::with_capacity(pending.len());
        let mut failure = None;
        for row in &pending {
            match self.send(row).await {
                Ok(ack) => acks.push(ack),
                Err(err) => {
                    failure = Some((row, err));
                    break;
                }
            }
        }
        let mut acked = Vec::with_capacity(acks.len());
        for (row, ack) in pending.iter().zip(acks) {
            match tokio::time::timeout(PUBLISH_ACK_TIMEOUT, ack).await {
                Ok(Ok(_)) => acked.push(row.seq),
                Ok(Err(err)) => {
                    failure = Some((row, err.into()));
                    break;
                }
                Err(elapsed) => {
                    failure = Some((row, elapsed.into()));
                    break;
                }
            }
        }
        if !acked.is_empty() {
            let sent = crate::bulk::is_in(self.db.get_database_backend(), entity::Column::Seq, acked.iter().copied());
            entity::Entity::delete_many().filter(sent).exec(&self.db).await?;
            metrics::counter!("flywheel_outbox_published_total", "service" => self.service).increment(acked.len() as u64);
        }
        if let Some((row, err)) = failure {
            self.record_failure(row, &err).await;
            return Err(err);
        }
        Ok(acked.len())
    }

    /// Sends one event; the returned future resolves when JetStream acknowledges it.
    async fn send(&self, row: &entity::Model) -> anyhow::Result<jetstream::context::PublishAckFuture> {
        let event = OutgoingEvent {
            id: row.event_id.parse()?,
            subject: row.subject.clone(),
            source: row.source.clone(),
            aggregate_id: row.aggregate_id.clone(),
            correlation_id: row.correlation_id.clone(),
            time_us: row.time_us,
            payload: row.payload.clone(),
        };
        Ok(self.js.publish_with_headers(event.subject.clone(), event.headers(), event.payload.into()).await?)
    }

    async fn record_failure(&self, row: &entity::Model, err: &anyhow::Error) {
        let result = entity::Entity::update_many()
            .col_expr(entity::Column::Attempts, Expr::value(row.attempts + 1))
            .col_expr(entity::Column::LastError, Expr::value(Some(err.to_string())))
            .filter(entity::Column::Seq.eq(row.seq))
            .exec(&self.db)
            .await;
        if let Err(db_err) = result {
            tracing::warn!(error = %db_err, "could not record the outbox failure");
        }
    }

    /// Sets the backlog gauges. A batch short of full is the whole backlog; a full one means more
    /// wait, counted at most once per `RECOUNT_EVERY` (the last count stands in between).
    async fn record_backlog(&self, batch: &[entity::Model]) {
        let backlog = if (batch.len() as u64) < BATCH {
            Some(batch.len() as u64)
        } else if self.counts.lock().unwrap_or_else(|e| e.into_inner()).take(Instant::now()) {
            Some(entity::Entity::find().count(&self.db).await.unwrap_or(BATCH))
        } else {
            None
        };
        if let Some(backlog) = backlog {
            metrics::gauge!("flywheel_outbox_backlog", "service" => self.service).set(backlog as f64);
        }
        let age_s = batch
            .first()
            .map(|r| (now_micros() - r.time_us).max(0) as f64 / 1e6)
            .unwrap_or(0.0);
        metrics::gauge!("flywheel_outbox_oldest_age_seconds", "service" => self.service).set(age_s);
    }
}

/// When the relay last counted its backlog.
#[derive(Default)]
struct CountTurns {
    last: Option<Instant>,
}

impl CountTurns {
    /// Whether a count is due at `now`; if so, it is recorded as taken.
    fn take(&mut self, now: Instant) -> bool {
        let due = self.last.is_none_or(|last| now.saturating_duration_since(last) >= RECOUNT_EVERY);
        if due {
            self.last = Some(now);
        }
        due
    }
}

async fn sleep_or_stop(stop: &mut watch::Receiver<bool>, d: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = stop.changed() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backlog_is_counted_at_first_then_at_most_once_per_recount_interval() {
        let start = Instant::now();
        let mut turns = CountTurns::default();
        assert!(turns.take(start));
        assert!(!turns.take(start));
        assert!(!turns.take(start + RECOUNT_EVERY / 2));
        assert!(turns.take(start + RECOUNT_EVERY));
        assert!(!turns.take(start + RECOUNT_EVERY + RECOUNT_EVERY / 2));
        assert!(turns.take(start + RECOUNT_EVERY * 3));
    }
}

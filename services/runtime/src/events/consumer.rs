//! Durable pull consumers with explicit ack and an inbox: the handler's changes and the event id
//! are committed in one transaction, so a redelivered event is recognised and changes nothing.
//! A failing event is retried a bounded number of times, then parked on the dead-letter subject.
//! The messages a pull has already brought are applied together in one transaction (one commit
//! for many events under load); a failing event leaves the batch and is handled alone.

use super::IncomingEvent;
use crate::db::{begin_write, now_micros};
use crate::events::outbox::Outbox;
use crate::events::streams;
use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::{FutureExt, StreamExt};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, DatabaseTransaction, QueryTrait, Set};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub mod entity {
    use sea_orm::entity::prelude::*;

    /// One row per applied event and consumer.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "inbox")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub consumer: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: String,
        pub subject: String,
        pub applied_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Why a handler could not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Retrying may help (a database hiccup); the event is redelivered with backoff.
    #[error("transient: {0}")]
    Transient(#[source] anyhow::Error),
    /// Retrying cannot help (an undecodable body); the event goes to the dead letters at once.
    #[error("permanent: {0}")]
    Permanent(#[source] anyhow::Error),
}

impl From<DbErr> for HandlerError {
    fn from(e: DbErr) -> Self {
        Self::Transient(e.into())
    }
}

impl From<prost::DecodeError> for HandlerError {
    fn from(e: prost::DecodeError) -> Self {
        Self::Permanent(e.into())
    }
}

/// Applies events to a service's state inside the transaction the consumer opened.
#[async_trait::async_trait]
pub trait EventHandler: Send + Sync + 'static {
    async fn handle(&self, txn: &DatabaseTransaction, event: &IncomingEvent) -> Result<(), HandlerError>;

    /// Applies several events, in order, in one transaction. The default handles them one by
    /// one; a handler overrides it to read and write for the whole batch at once. A failure
    /// names the event at fault (its index in `events`) when there is one, so the rest can be
    /// applied without it; `at: None` sends every event of the batch through `handle_batch` alone.
    async fn handle_batch(&self, txn: &DatabaseTransaction, events: &[&IncomingEvent]) -> Result<(), BatchFailure> {
        for (at, event) in events.iter().enumerate() {
            self.handle(txn, event).await.map_err(|error| BatchFailure { at: Some(at), error })?;
        }
        Ok(())
    }

    /// Called after a transaction that applied events committed: the place to wake whatever
    /// reads the changes (a wake-up from inside `handle` could come before they are visible).
    fn committed(&self) {}
}

/// Which events a durable consumer reads.
#[derive(Clone, Debug)]
pub struct ConsumerSpec {
    /// Durable name: the consuming service, plus a suffix when it reads one stream twice.
    pub durable: String,
    pub stream: &'static str,
    /// Subject filters within the stream; empty means all.
    pub filter_subjects: Vec<String>,
    /// Deliveries before the event is dead-lettered.
    pub max_deliver: u64,
    /// Events applied in one transaction at most ([`MAX_BATCH`] unless the subscription says).
    pub max_batch: usize,
    /// How long a batch waits for more events once its first has arrived; zero applies what has
    /// arrived at once. A consumer nobody waits on gathers larger batches, each with the same
    /// few round trips and one commit, so it takes fewer cores from the ones somebody waits on.
    pub linger: Duration,
}

/// The outcome of one delivery.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    Applied,
    AlreadyApplied,
}

/// Events applied in one transaction at most, by default: enough that under load a backlog is
/// worked off in few commits and round trips (a serial consumer's throughput is its batch over
/// its batch's latency), few enough that the locks taken are held briefly.
pub const MAX_BATCH: usize = 256;

/// Messages one pull request asks for, in batches: two, so the next batch is already buffered
/// when one is applied.
const PULLED_BATCHES: usize = 2;

/// The server's own limit of unacknowledged messages a consumer holds (nats-server's default),
/// raised for a consumer whose pulls ask for more.
const MAX_ACK_PENDING: usize = 1000;

/// Why a batch was not committed.
#[derive(Debug)]
pub struct BatchFailure {
    /// The event whose handler failed; `None` when the failure belongs to the batch as a whole
    /// (the inbox lookup or the commit).
    pub at: Option<usize>,
    pub error: HandlerError,
}

/// Applies a batch of events exactly once, in order, in one transaction: events the inbox has
/// (or that repeat an earlier one of the batch) are skipped, the others handled and recorded.
/// Nothing is committed unless every handler succeeds.
pub async fn apply_batch_once(
    db: &DatabaseConnection,
    consumer: &str,
    handler: &dyn EventHandler,
    events: &[&IncomingEvent],
) -> Result<Vec<Applied>, BatchFailure> {
    let whole = |error: DbErr| BatchFailure { at: None, error: error.into() };
    let stream = events.first().and_then(|e| streams::holding(&e.subject)).map_or("", |s| s.name);
    let mut phases = Phases::start(consumer, stream);
    let txn = begin_write(db).await.map_err(whole)?;
    let mut in_batch = HashSet::new();
    let first_of_batch: Vec<&IncomingEvent> = events.iter().copied().filter(|e| in_batch.insert(e.id.as_str())).collect();
    let recorded = record(&txn, consumer, &first_of_batch).await.map_err(whole)?;
    phases.end("inbox");
    let mut fresh_ids: HashSet<&str> = recorded.iter().map(String::as_str).collect();
    let outcomes: Vec<Applied> = events
        .iter()
        .map(|event| if fresh_ids.remove(event.id.as_str()) { Applied::Applied } else { Applied::AlreadyApplied })
        .collect();
    let fresh: Vec<usize> = (0..events.len()).filter(|at| outcomes[*at] == Applied::Applied).collect();
    if fresh.is_empty() {
        txn.rollback().await.map_err(whole)?;
        return Ok(outcomes);
    }
    let batch: Vec<&IncomingEvent> = fresh.iter().map(|at| events[*at]).collect();
    handler
        .handle_batch(&txn, &batch)
        .await
        .map_err(|failure| BatchFailure { at: failure.at.map(|i| fresh[i]), error: failure.error })?;
    phases.end("handle");
    txn.commit().await.map_err(whole)?;
    phases.end("commit");
    Ok(outcomes)
}

/// Where a batch's transaction spends its time (`flywheel_consumer_phase_seconds`): beginning it
/// and recording the events in the inbox, the handlers, the commit — what a consumer that falls
/// behind waits for.
struct Phases<'a> {
    consumer: &'a str,
    stream: &'static str,
    since: std::time::Instant,
}

impl<'a> Phases<'a> {
    fn start(consumer: &'a str, stream: &'static str) -> Self {
        Phases { consumer, stream, since: std::time::Instant::now() }
    }

    fn end(&mut self, phase: &'static str) {
        let now = std::time::Instant::now();
        let labels = [("consumer", self.consumer.to_owned()), ("stream", self.stream.to_owned()), ("phase", phase.to_owned())];
        metrics::histogram!("flywheel_consumer_phase_seconds", &labels).record((now - self.since).as_secs_f64());
        self.since = now;
    }
}

/// Records `events` (ids distinct) in the inbox and returns the ids that were not there yet.
///
/// Inserting first and letting the primary key skip the known ones is one statement, and it
/// cannot go wrong the way a `SELECT … IN (…)` can on PostgreSQL: a plan cached while the inbox
/// was empty keeps scanning every row of the consumer once the table has grown. A delivery of
/// the same event in flight on another connection makes the insert wait for its outcome.
async fn record(txn: &DatabaseTransaction, consumer: &str, events: &[&IncomingEvent]) -> Result<Vec<String>, DbErr> {
    let rows = events.iter().map(|event| entity::ActiveModel {
        consumer: Set(consumer.to_owned()),
        event_id: Set(event.id.clone()),
        subject: Set(event.subject.clone()),
        applied_us: Set(now_micros()),
    });
    let mut query = entity::Entity::insert_many(rows)
        .on_conflict(OnConflict::columns([entity::Column::Consumer, entity::Column::EventId]).do_nothing().to_owned())
        .into_query();
    query.returning_col(entity::Column::EventId);
    let mut fresh = Vec::with_capacity(events.len());
    for row in crate::bulk::query_all(txn, &query).await? {
        fresh.push(row.try_get::<String>("", "event_id")?);
    }
    Ok(fresh)
}

/// Applies one event exactly once: skips it when the inbox has it, otherwise runs the handler
/// and records the id in the same transaction.
pub async fn apply_once(
    db: &DatabaseConnection,
    consumer: &str,
    handler: &dyn EventHandler,
    event: &IncomingEvent,
) -> Result<Applied, HandlerError> {
    match apply_batch_once(db, consumer, handler, &[event]).await {
        Ok(mut outcomes) => Ok(outcomes.pop().unwrap_or(Applied::AlreadyApplied)),
        Err(failure) => Err(failure.error),
    }
}

/// Runs a durable consumer until `stop` turns true, reconnecting as needed.
pub async fn run(
    js: jetstream::Context,
    db: DatabaseConnection,
    spec: ConsumerSpec,
    handler: Arc<dyn EventHandler>,
    outbox: Outbox,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(200);
    while !*stop.borrow() {
        let consumer = Consumer { js: &js, db: &db, spec: &spec, handler: handler.as_ref(), outbox: &outbox };
        match consumer.consume(&mut stop).await {
            Ok(()) => break,
            Err(err) => {
                tracing::warn!(consumer = %spec.durable, error = %err, "consumer interrupted; reconnecting");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// A consumer's subject filters, in one order, whether held as one subject or as a list.
fn filters(one: &str, many: &[String]) -> Vec<String> {
    let mut all: Vec<String> = many.iter().map(String::as_str).chain([one]).filter(|f| !f.is_empty()).map(str::to_owned).collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// A message that carries a Flywheel event, and how often it has been delivered.
struct Delivery {
    message: jetstream::Message,
    event: IncomingEvent,
    delivered: u64,
}

struct Consumer<'a> {
    js: &'a jetstream::Context,
    db: &'a DatabaseConnection,
    spec: &'a ConsumerSpec,
    handler: &'a dyn EventHandler,
    outbox: &'a Outbox,
}

impl Consumer<'_> {
    async fn consume(&self, stop: &mut watch::Receiver<bool>) -> anyhow::Result<()> {
        let spec = self.spec;
        // The stream may not exist yet when its publisher has never run; the dead letters are
        // needed before the first failure.
        let source = streams::ALL.into_iter().find(|s| s.name == spec.stream);
        for stream in source.into_iter().chain([&streams::DEADLETTER]) {
            streams::ensure_exists(self.js, stream).await?;
        }
        let stream = self.js.get_stream(spec.stream).await?;
        let mut config = pull::Config {
            durable_name: Some(spec.durable.clone()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(30),
            max_ack_pending: MAX_ACK_PENDING.max(PULLED_BATCHES * spec.max_batch) as i64,
            ..Default::default()
        };
        match spec.filter_subjects.as_slice() {
            [] => {}
            [one] => config.filter_subject = one.clone(),
            many => config.filter_subjects = many.to_vec(),
        }
        let mut consumer = stream.get_or_create_consumer(&spec.durable, config.clone()).await?;
        let held = &consumer.cached_info().config;
        if filters(&held.filter_subject, &held.filter_subjects) != filters(&config.filter_subject, &config.filter_subjects) {
            // A consumer an earlier release made reads other subjects. JetStream edits the
            // filter in place and keeps the position; should it refuse, the old filter still
            // works, since a handler acks what it has no use for.
            match stream.update_consumer(config).await {
                Ok(updated) => {
                    tracing::info!(consumer = %spec.durable, filters = ?spec.filter_subjects, "consumer's subject filter updated");
                    consumer = updated;
                }
                Err(err) => tracing::warn!(consumer = %spec.durable, error = %err, "consumer's subject filter not updated; it keeps the old one"),
            }
        }
        let max_batch = spec.max_batch.max(1);
        let mut messages = consumer.stream().max_messages_per_batch(PULLED_BATCHES * max_batch).messages().await?;
        loop {
            let first = tokio::select! {
                m = messages.next() => m,
                _ = stop.changed() => return Ok(()),
            };
            let Some(first) = first else {
                anyhow::bail!("message stream ended");
            };
            // Whatever else has already arrived joins the batch. The client hands over one read
            // of the socket at a time, so while messages keep coming a yield lets the
            // connection's next read join too. A consumer with a linger then waits for more until
            // its batch is full or the linger has passed; without one, a message that arrives
            // alone is applied at once.
            let gathered_until = tokio::time::Instant::now() + spec.linger;
            let mut received = vec![first];
            loop {
                let before = received.len();
                while received.len() < max_batch {
                    match messages.next().now_or_never() {
                        Some(Some(next)) => received.push(next),
                        _ => break,
                    }
                }
                if received.len() == max_batch || received.len() == before {
                    break;
                }
                tokio::task::yield_now().await;
            }
            while received.len() < max_batch && !spec.linger.is_zero() {
                match tokio::time::timeout_at(gathered_until, messages.next()).await {
                    Ok(Some(next)) => received.push(next),
                    Ok(None) | Err(_) => break,
                }
            }
            let mut batch = Vec::with_capacity(received.len());
            let mut interrupted = None;
            for message in received {
                match message {
                    Ok(message) => batch.extend(self.accept(message).await?),
                    Err(e) => interrupted = Some(e),
                }
            }
            self.apply(batch).await?;
            if let Some(e) = interrupted {
                return Err(e.into());
            }
        }
    }

    /// The delivery a message carries, or None when it is no Flywheel event (dead-lettered).
    async fn accept(&self, message: jetstream::Message) -> anyhow::Result<Option<Delivery>> {
        let (delivered, pending) = message
            .info()
            .map(|i| (i.delivered.max(1) as u64, i.pending))
            .unwrap_or((1, 0));
        metrics::gauge!("flywheel_consumer_pending", "consumer" => self.spec.durable.clone()).set(pending as f64);
        match IncomingEvent::from_message(message.subject.as_str(), message.headers.as_ref(), message.payload.clone()) {
            Some(event) => Ok(Some(Delivery { message, event, delivered })),
            None => {
                dead_letter(self.js, self.spec, &message, "not a Flywheel event: no ce-id header").await?;
                message.ack().await.map_err(|e| anyhow::anyhow!(e))?;
                Ok(None)
            }
        }
    }

    /// Applies the batch in one transaction and acks it after the commit. An event whose handler
    /// fails is taken out and retried or dead-lettered on its own, and the rest applied again
    /// without it; when the batch as a whole fails, each event is applied alone.
    async fn apply(&self, mut batch: Vec<Delivery>) -> anyhow::Result<()> {
        // Busy time over wall time says whether the consumer is what a backlog waits for.
        let started = std::time::Instant::now();
        let labels = [("consumer", self.spec.durable.clone()), ("stream", self.spec.stream.to_owned())];
        metrics::counter!("flywheel_consumer_batches_total", &labels).increment(1);
        metrics::histogram!("flywheel_consumer_batch_events", &labels).record(batch.len() as f64);
        let applied = self.apply_all(&mut batch).await;
        metrics::histogram!("flywheel_consumer_batch_seconds", &labels).record(started.elapsed().as_secs_f64());
        applied
    }

    async fn apply_all(&self, batch: &mut Vec<Delivery>) -> anyhow::Result<()> {
        while !batch.is_empty() {
            let events: Vec<&IncomingEvent> = batch.iter().map(|d| &d.event).collect();
            match apply_batch_once(self.db, &self.spec.durable, self.handler, &events).await {
                Ok(outcomes) => {
                    if outcomes.contains(&Applied::Applied) {
                        self.outbox.notify();
                        self.handler.committed();
                    }
                    for (delivery, outcome) in batch.iter().zip(outcomes) {
                        self.count(outcome);
                        delivery.message.ack().await.map_err(|e| anyhow::anyhow!(e))?;
                    }
                    return Ok(());
                }
                Err(BatchFailure { at: Some(at), error }) => {
                    let failed = batch.remove(at);
                    self.settle_failure(&failed, error).await?;
                }
                Err(BatchFailure { at: None, .. }) => {
                    for delivery in batch.drain(..) {
                        self.apply_alone(delivery).await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn apply_alone(&self, delivery: Delivery) -> anyhow::Result<()> {
        match apply_once(self.db, &self.spec.durable, self.handler, &delivery.event).await {
            Ok(outcome) => {
                if outcome == Applied::Applied {
                    self.outbox.notify();
                    self.handler.committed();
                }
                self.count(outcome);
                delivery.message.ack().await.map_err(|e| anyhow::anyhow!(e))
            }
            Err(error) => self.settle_failure(&delivery, error).await,
        }
    }

    fn count(&self, outcome: Applied) {
        metrics::counter!("flywheel_events_consumed_total",
            "consumer" => self.spec.durable.clone(),
            "outcome" => if outcome == Applied::Applied { "applied" } else { "duplicate" })
        .increment(1);
    }

    /// A failed event is redelivered with backoff while retrying may help, else dead-lettered.
    async fn settle_failure(&self, delivery: &Delivery, error: HandlerError) -> anyhow::Result<()> {
        let (spec, event, delivered) = (self.spec, &delivery.event, delivery.delivered);
        match error {
            // While the database itself is unreachable the event is not at fault: it waits, however
            // many deliveries that takes, instead of being dead-lettered.
            HandlerError::Transient(err) if delivered < spec.max_deliver || !database_answers(self.db).await => {
                tracing::warn!(consumer = %spec.durable, event = %event.id, delivered, error = %err, "event failed; will retry");
                let delay = Duration::from_millis(200 * 2u64.pow(delivered.min(8) as u32)).min(MAX_RETRY_DELAY);
                delivery.message.ack_with(AckKind::Nak(Some(delay))).await.map_err(|e| anyhow::anyhow!(e))
            }
            err => {
                tracing::error!(consumer = %spec.durable, event = %event.id, delivered, error = %err, "event dead-lettered");
                dead_letter(self.js, spec, &delivery.message, &err.to_string()).await?;
                metrics::counter!("flywheel_events_dead_lettered_total", "consumer" => spec.durable.clone()).increment(1);
                delivery.message.ack().await.map_err(|e| anyhow::anyhow!(e))
            }
        }
    }
}

const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

async fn database_answers(db: &DatabaseConnection) -> bool {
    tokio::time::timeout(Duration::from_secs(2), db.ping()).await.is_ok_and(|r| r.is_ok())
}

/// Parks a message on the consumer's dead-letter subject with the original headers and the error.
async fn dead_letter(
    js: &jetstream::Context,
    spec: &ConsumerSpec,
    message: &jetstream::Message,
    error: &str,
) -> anyhow::Result<()> {
    let mut headers = message.headers.clone().unwrap_or_default();
    headers.insert("flywheel-dead-subject", message.subject.as_str());
    headers.insert("flywheel-dead-error", error.replace(['\r', '\n'], " ").as_str());
    // The original Nats-Msg-Id would make JetStream treat the dead letter as a duplicate.
    let dead_id = format!("dead-{}-{}", spec.durable, message.info().map(|i| i.stream_sequence).unwrap_or(0));
    headers.insert(super::HEADER_MSG_ID, dead_id.as_str());
    js.publish_with_headers(streams::dead_letter_subject(&spec.durable), headers, message.payload.clone())
        .await?
        .await?;
    Ok(())
}

//! Durable pull consumers with explicit ack and an inbox: the handler's changes and the event id
//! are committed in one transaction, so a redelivered event is recognised and changes nothing.
//! A failing event is retried a bounded number of times, then parked on the dead-letter subject.

use super::IncomingEvent;
use crate::db::{begin_write, now_micros};
use crate::events::outbox::Outbox;
use crate::events::streams;
use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::StreamExt;
use sea_orm::entity::prelude::*;
use sea_orm::{DatabaseConnection, DatabaseTransaction, Set};
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
}

/// The outcome of one delivery.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    Applied,
    AlreadyApplied,
}

/// Applies one event exactly once: skips it when the inbox has it, otherwise runs the handler
/// and records the id in the same transaction.
pub async fn apply_once(
    db: &DatabaseConnection,
    consumer: &str,
    handler: &dyn EventHandler,
    event: &IncomingEvent,
) -> Result<Applied, HandlerError> {
    let txn = begin_write(db).await?;
    let seen = entity::Entity::find_by_id((consumer.to_owned(), event.id.clone()))
        .one(&txn)
        .await?;
    if seen.is_some() {
        txn.rollback().await?;
        return Ok(Applied::AlreadyApplied);
    }
    handler.handle(&txn, event).await?;
    entity::ActiveModel {
        consumer: Set(consumer.to_owned()),
        event_id: Set(event.id.clone()),
        subject: Set(event.subject.clone()),
        applied_us: Set(now_micros()),
    }
    .insert(&txn)
    .await?;
    match txn.commit().await {
        Ok(()) => Ok(Applied::Applied),
        // A concurrent delivery of the same event committed first.
        Err(e) if crate::error::is_unique_violation(&e) => Ok(Applied::AlreadyApplied),
        Err(e) => Err(e.into()),
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
        match consume(&js, &db, &spec, handler.as_ref(), &outbox, &mut stop).await {
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

async fn consume(
    js: &jetstream::Context,
    db: &DatabaseConnection,
    spec: &ConsumerSpec,
    handler: &dyn EventHandler,
    outbox: &Outbox,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    streams::ensure_all(js).await?;
    let stream = js.get_stream(spec.stream).await?;
    let mut config = pull::Config {
        durable_name: Some(spec.durable.clone()),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(30),
        ..Default::default()
    };
    match spec.filter_subjects.as_slice() {
        [] => {}
        [one] => config.filter_subject = one.clone(),
        many => config.filter_subjects = many.to_vec(),
    }
    let consumer = stream.get_or_create_consumer(&spec.durable, config).await?;
    let mut messages = consumer.messages().await?;
    loop {
        let message = tokio::select! {
            m = messages.next() => m,
            _ = stop.changed() => return Ok(()),
        };
        let Some(message) = message else {
            anyhow::bail!("message stream ended");
        };
        let message = message?;
        let (delivered, pending) = message
            .info()
            .map(|i| (i.delivered.max(1) as u64, i.pending))
            .unwrap_or((1, 0));
        metrics::gauge!("flywheel_consumer_pending", "consumer" => spec.durable.clone()).set(pending as f64);

        let Some(event) = IncomingEvent::from_message(
            message.subject.as_str(),
            message.headers.as_ref(),
            message.payload.clone(),
        ) else {
            dead_letter(js, spec, &message, "not a Flywheel event: no ce-id header").await?;
            message.ack().await.map_err(|e| anyhow::anyhow!(e))?;
            continue;
        };

        match apply_once(db, &spec.durable, handler, &event).await {
            Ok(applied) => {
                outbox.notify();
                metrics::counter!("flywheel_events_consumed_total",
                    "consumer" => spec.durable.clone(),
                    "outcome" => if applied == Applied::Applied { "applied" } else { "duplicate" })
                .increment(1);
                message.ack().await.map_err(|e| anyhow::anyhow!(e))?;
            }
            // While the database itself is unreachable the event is not at fault: it waits, however
            // many deliveries that takes, instead of being dead-lettered.
            Err(HandlerError::Transient(err)) if delivered < spec.max_deliver || !database_answers(db).await => {
                tracing::warn!(consumer = %spec.durable, event = %event.id, delivered, error = %err, "event failed; will retry");
                let delay = Duration::from_millis(200 * 2u64.pow(delivered.min(8) as u32)).min(MAX_RETRY_DELAY);
                message.ack_with(AckKind::Nak(Some(delay))).await.map_err(|e| anyhow::anyhow!(e))?;
            }
            Err(err) => {
                tracing::error!(consumer = %spec.durable, event = %event.id, delivered, error = %err, "event dead-lettered");
                dead_letter(js, spec, &message, &err.to_string()).await?;
                metrics::counter!("flywheel_events_dead_lettered_total", "consumer" => spec.durable.clone()).increment(1);
                message.ack().await.map_err(|e| anyhow::anyhow!(e))?;
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

//! Rebuilding every projection: replay FLYWHEEL_REGISTRY, FLYWHEEL_DISPATCH and
//! FLYWHEEL_FEEDBACK from their first message into emptied tables, through the same projector
//! and inbox as the incremental path, in ONE transaction — readers keep seeing the previous
//! tables until it commits, and a failure leaves them untouched. Events published after the
//! replay's end point are applied later by the durable consumers (the inbox skips the overlap).

use crate::store;
use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull};
use chrono_tz::Tz;
use flywheel_runtime::db::{begin_write, now_micros};
use flywheel_runtime::events::IncomingEvent;
use flywheel_runtime::events::consumer::{HandlerError, entity as inbox};
use futures::StreamExt;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter, Set, TransactionTrait,
};
use std::io::Write;
use std::time::Duration;

/// `flywheel-analytics rebuild`: the configured database and NATS, progress on stdout.
pub fn main() -> std::process::ExitCode {
    let config = match flywheel_runtime::Config::from_env(crate::SERVICE) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("flywheel-analytics: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(run(&config, &mut std::io::stdout())));
    match result {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flywheel-analytics rebuild failed: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Connects as the service would and rebuilds, writing progress lines to `out`.
pub async fn run(config: &flywheel_runtime::Config, out: &mut (impl Write + Send)) -> anyhow::Result<()> {
    let db = flywheel_runtime::db::connect_and_migrate::<crate::migration::Migrator>(&config.database_url).await?;
    let nats = flywheel_runtime::events::connection::options(config).connect(config.nats_url.as_str()).await?;
    let js = jetstream::new(nats);
    for subscription in &crate::ANALYTICS {
        flywheel_runtime::events::streams::ensure_exists(&js, subscription.stream).await?;
    }
    let day_zone = crate::settings::Settings::from_env()?.time_zone;
    let result = rebuild(&db, &js, day_zone, out).await;
    db.close().await?;
    result
}

/// Rebuilds every projection, with day rows in `day_zone`.
pub async fn rebuild(db: &DatabaseConnection, js: &jetstream::Context, day_zone: Tz, out: &mut (impl Write + Send)) -> anyhow::Result<()> {
    store::set_meta(db, store::META_REBUILD_STARTED, Some(now_micros())).await?;
    let result = replay_all(db, js, day_zone, out).await;
    if result.is_err() {
        store::set_meta(db, store::META_REBUILD_STARTED, None).await?;
    }
    result
}

async fn replay_all(db: &DatabaseConnection, js: &jetstream::Context, day_zone: Tz, out: &mut (impl Write + Send)) -> anyhow::Result<()> {
    let txn = begin_write(db).await?;
    store::clear_projections(&txn).await?;
    inbox::Entity::delete_many().filter(inbox::Column::Consumer.eq(crate::CONSUMER)).exec(&txn).await?;
    for stream in crate::STREAMS {
        replay(&txn, js, stream, day_zone, out).await?;
    }
    store::set_meta(&txn, store::META_REBUILD_STARTED, None).await?;
    txn.commit().await?;
    writeln!(out, "rebuild committed")?;
    Ok(())
}

/// Replays one stream from its first message to the last one present when the replay began.
async fn replay(
    db: &DatabaseTransaction,
    js: &jetstream::Context,
    stream_name: &str,
    day_zone: Tz,
    out: &mut (impl Write + Send),
) -> anyhow::Result<()> {
    let mut stream = js.get_stream(stream_name).await?;
    let last = stream.info().await?.state.last_sequence;
    writeln!(out, "{stream_name}: replaying {last} messages")?;
    let (mut applied, mut skipped) = (0u64, 0u64);
    if last == 0 {
        return Ok(());
    }
    let consumer = stream
        .create_consumer(pull::OrderedConfig { deliver_policy: DeliverPolicy::All, ..Default::default() })
        .await?;
    let mut messages = consumer.messages().await?;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), messages.next())
            .await
            .map_err(|_| anyhow::anyhow!("{stream_name}: no message within 30 s"))?
            .ok_or_else(|| anyhow::anyhow!("{stream_name}: the replay ended early"))??;
        let sequence = message.info().map_err(|e| anyhow::anyhow!(e))?.stream_sequence;
        match IncomingEvent::from_message(message.subject.as_str(), message.headers.as_ref(), message.payload.clone()) {
            Some(event) if apply_new(db, day_zone, &event).await? => applied += 1,
            // Not a Flywheel event, or the same event stored twice: the incremental path skips
            // both too (dead letter, inbox).
            _ => skipped += 1,
        }
        if sequence % 1000 == 0 || sequence >= last {
            writeln!(out, "{stream_name}: {sequence}/{last} ({applied} applied, {skipped} skipped)")?;
        }
        if sequence >= last {
            return Ok(());
        }
    }
}

/// Applies an event unless this rebuild already did, and records it in the inbox; inside a
/// savepoint, so an event that fails leaves nothing behind (as its own transaction would).
async fn apply_new(txn: &DatabaseTransaction, day_zone: Tz, event: &IncomingEvent) -> anyhow::Result<bool> {
    if inbox::Entity::find_by_id((crate::CONSUMER.to_owned(), event.id.clone())).one(txn).await?.is_some() {
        return Ok(false);
    }
    let db = txn.begin().await?;
    match crate::projector::apply(&db, day_zone, &[event]).await.map_err(|failure| failure.error) {
        Ok(()) => {}
        // An event the projector cannot read went to the dead letters on the incremental path.
        Err(HandlerError::Permanent(e)) => {
            tracing::warn!(event = %event.id, error = %e, "skipped an unreadable event");
            return Ok(false);
        }
        Err(HandlerError::Transient(e)) => return Err(e),
    }
    inbox::ActiveModel {
        consumer: Set(crate::CONSUMER.to_owned()),
        event_id: Set(event.id.clone()),
        subject: Set(event.subject.clone()),
        applied_us: Set(now_micros()),
    }
    .insert(&db)
    .await?;
    db.commit().await?;
    Ok(true)
}

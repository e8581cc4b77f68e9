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
use flywheel_runtime::events::consumer::{BatchFailure, HandlerError, entity as inbox};
use flywheel_runtime::events::subscriptions::Subscription;
use futures::StreamExt;
use sea_orm::{ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter, Set};
use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

/// Events the replay applies as one batch: a few hundred share one set of statements.
const REPLAY_BATCH: usize = 256;

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
    for subscription in &crate::ANALYTICS {
        replay(&txn, js, subscription, day_zone, out).await?;
    }
    store::set_meta(&txn, store::META_REBUILD_STARTED, None).await?;
    txn.commit().await?;
    writeln!(out, "rebuild committed")?;
    Ok(())
}

/// Replays one stream from its first message to the last one present when the replay began,
/// applying the events its durable consumer receives (the others are skipped, as it never sees them).
async fn replay(
    db: &DatabaseTransaction,
    js: &jetstream::Context,
    subscription: &Subscription,
    day_zone: Tz,
    out: &mut (impl Write + Send),
) -> anyhow::Result<()> {
    let stream_name = subscription.stream.name;
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
    let mut batch = Vec::with_capacity(REPLAY_BATCH);
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), messages.next())
            .await
            .map_err(|_| anyhow::anyhow!("{stream_name}: no message within 30 s"))?
            .ok_or_else(|| anyhow::anyhow!("{stream_name}: the replay ended early"))??;
        let sequence = message.info().map_err(|e| anyhow::anyhow!(e))?.stream_sequence;
        match IncomingEvent::from_message(message.subject.as_str(), message.headers.as_ref(), message.payload.clone()) {
            Some(event) if subscription.takes(&event.subject) => batch.push(event),
            // Filtered out, or not a Flywheel event (dead-lettered on the incremental path).
            _ => skipped += 1,
        }
        let progress = sequence % 1000 == 0 || sequence >= last;
        if batch.len() == REPLAY_BATCH || progress {
            let fresh = apply_new(db, day_zone, &batch).await?;
            applied += fresh;
            skipped += batch.len() as u64 - fresh;
            batch.clear();
        }
        if progress {
            writeln!(out, "{stream_name}: {sequence}/{last} ({applied} applied, {skipped} skipped)")?;
        }
        if sequence >= last {
            return Ok(());
        }
    }
}

/// Applies, as one batch, the events this rebuild has not applied yet (the same event stored
/// twice counts once, as the inbox makes it on the incremental path), records them in the
/// inbox, and returns how many it applied. The projector reads every event before it writes,
/// so an event it cannot read is taken out with nothing written, and the rest applied again.
async fn apply_new(txn: &DatabaseTransaction, day_zone: Tz, events: &[IncomingEvent]) -> anyhow::Result<u64> {
    let mut seen: HashSet<String> = inbox::Entity::find()
        .filter(inbox::Column::Consumer.eq(crate::CONSUMER))
        .filter(inbox::Column::EventId.is_in(events.iter().map(|e| e.id.as_str())))
        .all(txn)
        .await?
        .into_iter()
        .map(|row| row.event_id)
        .collect();
    let mut fresh: Vec<&IncomingEvent> = events.iter().filter(|e| seen.insert(e.id.clone())).collect();
    loop {
        match crate::projector::apply(txn, day_zone, &fresh).await {
            Ok(()) => break,
            // An event the projector cannot read went to the dead letters on the incremental path.
            Err(BatchFailure { at: Some(at), error: HandlerError::Permanent(e) }) => {
                tracing::warn!(event = %fresh[at].id, error = %e, "skipped an unreadable event");
                fresh.remove(at);
            }
            Err(failure) => return Err(failure.error.into()),
        }
    }
    let applied_us = now_micros();
    let rows = fresh.iter().map(|event| inbox::ActiveModel {
        consumer: Set(crate::CONSUMER.to_owned()),
        event_id: Set(event.id.clone()),
        subject: Set(event.subject.clone()),
        applied_us: Set(applied_us),
    });
    inbox::Entity::insert_many(rows).exec_without_returning(txn).await?;
    Ok(fresh.len() as u64)
}

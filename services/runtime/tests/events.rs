//! The outbox and the inbox against a real nats-server and a real SQLite database.

use async_nats::jetstream::{self, consumer::pull};
use flywheel_runtime::db::{begin_write, connect_and_migrate};
use flywheel_runtime::events::consumer::{self, BatchFailure, ConsumerSpec, EventHandler, HandlerError};
use flywheel_runtime::events::outbox::{self, Outbox, Relay};
use flywheel_runtime::events::{IncomingEvent, OutgoingEvent, streams};
use flywheel_testing::{NatsServer, TestDatabase, eventually};
use futures::StreamExt;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, Statement};
use sea_orm_migration::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::watch;

struct Migrator;

struct CreateApplied;

impl MigrationName for CreateApplied {
    fn name(&self) -> &str {
        "m9000_test_applied"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateApplied {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("CREATE TABLE applied (event_id TEXT NOT NULL)")
            .await
            .map(|_| ())
    }
}

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = flywheel_runtime::migrations::all();
        all.push(Box::new(CreateApplied));
        all
    }
}

/// Records every application in a table, failing the first `fail_first` attempts.
struct RecordingHandler {
    attempts: AtomicUsize,
    fail_first: usize,
    permanent: bool,
    /// The size of each batch the consumer handed over.
    batches: std::sync::Mutex<Vec<usize>>,
}

impl RecordingHandler {
    fn new(fail_first: usize, permanent: bool) -> Arc<Self> {
        Arc::new(Self { attempts: AtomicUsize::new(0), fail_first, permanent, batches: Default::default() })
    }
}

#[async_trait::async_trait]
impl EventHandler for RecordingHandler {
    async fn handle(&self, txn: &DatabaseTransaction, event: &IncomingEvent) -> Result<(), HandlerError> {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst);
        let backend = txn.get_database_backend();
        let sql = match backend {
            sea_orm::DbBackend::Postgres => "INSERT INTO applied (event_id) VALUES ($1)",
            _ => "INSERT INTO applied (event_id) VALUES (?)",
        };
        txn.execute_raw(Statement::from_sql_and_values(backend, sql, [event.id.clone().into()]))
        .await?;
        if self.permanent {
            return Err(HandlerError::Permanent(anyhow::anyhow!("cannot be applied")));
        }
        if attempt < self.fail_first {
            // The insert above is rolled back with the transaction.
            return Err(HandlerError::Transient(anyhow::anyhow!("try again")));
        }
        Ok(())
    }

    async fn handle_batch(&self, txn: &DatabaseTransaction, events: &[&IncomingEvent]) -> Result<(), BatchFailure> {
        self.batches.lock().unwrap().push(events.len());
        for (at, event) in events.iter().enumerate() {
            self.handle(txn, event).await.map_err(|error| BatchFailure { at: Some(at), error })?;
        }
        Ok(())
    }
}

async fn applied_count(db: &DatabaseConnection) -> i64 {
    count(db, "SELECT COUNT(*) AS n FROM applied").await
}

/// The `n` a counting query returns.
async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap().unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

fn event(n: usize) -> OutgoingEvent {
    OutgoingEvent::new(
        "registry",
        "flywheel.registry.site.registered",
        format!("site-{n}"),
        "corr",
        &prost_types::Timestamp { seconds: n as i64, nanos: 0 },
    )
}

async fn read_all(js: &jetstream::Context, stream: &str, expect: usize) -> Vec<jetstream::Message> {
    let consumer = js
        .get_stream(stream)
        .await
        .unwrap()
        .create_consumer(pull::Config::default())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut batch = consumer.messages().await.unwrap();
    while got.len() < expect {
        let m = tokio::time::timeout(Duration::from_secs(20), batch.next())
            .await
            .expect("the expected events arrive")
            .unwrap()
            .unwrap();
        m.ack().await.unwrap();
        got.push(m);
    }
    // Nothing more arrives.
    assert!(tokio::time::timeout(Duration::from_millis(500), batch.next()).await.is_err());
    got
}

#[tokio::test]
async fn outbox_publishes_each_event_once_after_nats_comes_back() {
    let mut nats = NatsServer::start().await;
    let database = TestDatabase::new();
    let db = connect_and_migrate::<Migrator>(&database.url()).await.unwrap();
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(nats.url())
        .await
        .unwrap();
    let js = jetstream::new(client);
    let outbox = Outbox::new();
    let (stop, stop_rx) = watch::channel(false);
    let relay = tokio::spawn(Relay::new(db.clone(), js.clone(), outbox.clone(), "registry").run(stop_rx));

    nats.stop();
    let events: Vec<_> = (0..3).map(event).collect();
    let txn = begin_write(&db).await.unwrap();
    for e in &events {
        outbox::enqueue(&txn, e).await.unwrap();
    }
    txn.commit().await.unwrap();
    outbox.notify();
    tokio::time::sleep(Duration::from_millis(300)).await;
    nats.restart().await;

    let reader = jetstream::new(nats.client().await);
    eventually(Duration::from_secs(20), || {
        let reader = reader.clone();
        async move { reader.get_stream(streams::REGISTRY.name).await.ok() }
    })
    .await;
    let got = read_all(&reader, streams::REGISTRY.name, 3).await;
    let ids: Vec<String> = got
        .iter()
        .map(|m| m.headers.as_ref().unwrap().get("ce-id").unwrap().as_str().to_owned())
        .collect();
    let expected: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(ids, expected, "in order, once each");
    let h = got[0].headers.as_ref().unwrap();
    assert_eq!(h.get("ce-type").unwrap().as_str(), "flywheel.registry.site.registered.v1");
    assert_eq!(h.get("ce-source").unwrap().as_str(), "flywheel/registry");
    assert_eq!(h.get("ce-subject").unwrap().as_str(), "site-0");
    assert_eq!(h.get("content-type").unwrap().as_str(), "application/protobuf");
    assert_eq!(h.get("Nats-Msg-Id").unwrap().as_str(), expected[0]);

    stop.send(true).unwrap();
    relay.await.unwrap();
}

async fn publish_raw(js: &jetstream::Context, e: &OutgoingEvent, msg_id: &str) {
    let mut headers = e.headers();
    headers.insert("Nats-Msg-Id", msg_id);
    js.publish_with_headers(e.subject.clone(), headers, e.payload.clone().into())
        .await
        .unwrap()
        .await
        .unwrap();
}

/// Waits until the test consumer's info satisfies `done`.
async fn consumer_reaches(js: &jetstream::Context, done: impl Fn(&jetstream::consumer::Info) -> bool + Clone) {
    eventually(Duration::from_secs(20), || {
        let (js, done) = (js.clone(), done.clone());
        async move {
            let mut c = js.get_consumer_from_stream::<pull::Config, _, _>("test-consumer", streams::REGISTRY.name).await.ok()?;
            let info = c.info().await.ok()?;
            done(info).then_some(())
        }
    })
    .await;
}

struct Running {
    db: DatabaseConnection,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

async fn run_consumer(nats: &NatsServer, handler: Arc<dyn EventHandler>, max_deliver: u64) -> Running {
    run_lingering_consumer(nats, handler, max_deliver, Duration::ZERO).await
}

async fn run_lingering_consumer(nats: &NatsServer, handler: Arc<dyn EventHandler>, max_deliver: u64, linger: Duration) -> Running {
    let database = Box::leak(Box::new(TestDatabase::new()));
    let db = connect_and_migrate::<Migrator>(&database.url()).await.unwrap();
    let js = jetstream::new(nats.client().await);
    streams::ensure_all(&js).await.unwrap();
    let (stop, stop_rx) = watch::channel(false);
    let spec = ConsumerSpec {
        durable: "test-consumer".into(),
        stream: streams::REGISTRY.name,
        filter_subjects: vec!["flywheel.registry.site.>".into()],
        max_deliver,
        max_batch: consumer::MAX_BATCH,
        linger,
    };
    let task = tokio::spawn(consumer::run(js, db.clone(), spec, handler, Outbox::new(), stop_rx));
    Running { db, stop, task }
}

#[tokio::test]
async fn a_redelivered_event_is_applied_once() {
    let nats = NatsServer::start().await;
    let handler = RecordingHandler::new(0, false);
    let running = run_consumer(&nats, handler.clone(), 5).await;
    let js = jetstream::new(nats.client().await);

    let e = event(1);
    // The same event arrives twice (a replay past the de-duplication window looks like this).
    publish_raw(&js, &e, "copy-1").await;
    publish_raw(&js, &e, "copy-2").await;
    publish_raw(&js, &event(2), "other").await;

    eventually(Duration::from_secs(20), || {
        let h = handler.clone();
        async move { (h.attempts.load(Ordering::SeqCst) >= 2).then_some(()) }
    })
    .await;
    // Give the duplicate its chance to be (wrongly) applied.
    consumer_reaches(&js, |info| info.num_pending == 0 && info.num_ack_pending == 0).await;
    assert_eq!(applied_count(&running.db).await, 2, "two distinct events, each applied once");
    assert_eq!(handler.attempts.load(Ordering::SeqCst), 2, "the duplicate never reached the handler");
    running.stop.send(true).unwrap();
    running.task.await.unwrap();
}

#[tokio::test]
async fn a_lingering_consumer_applies_what_arrives_within_its_linger_in_one_batch() {
    let nats = NatsServer::start().await;
    let handler = RecordingHandler::new(0, false);
    let running = run_lingering_consumer(&nats, handler.clone(), 5, Duration::from_secs(2)).await;
    let js = jetstream::new(nats.client().await);
    consumer_reaches(&js, |_| true).await;

    publish_raw(&js, &event(1), "first").await;
    // Arrives while the first waits: without a linger the first would be applied alone.
    tokio::time::sleep(Duration::from_millis(300)).await;
    publish_raw(&js, &event(2), "second").await;
    consumer_reaches(&js, |info| info.num_pending == 0 && info.num_ack_pending == 0 && info.ack_floor.stream_sequence == 2).await;
    assert_eq!(applied_count(&running.db).await, 2);
    assert_eq!(*handler.batches.lock().unwrap(), vec![2], "both events in one batch");
    running.stop.send(true).unwrap();
    running.task.await.unwrap();
}

#[tokio::test]
async fn a_consumer_made_with_another_filter_takes_the_new_one_and_keeps_its_place() {
    let nats = NatsServer::start().await;
    let js = jetstream::new(nats.client().await);
    streams::ensure_all(&js).await.unwrap();
    // As an earlier release made it: every registry event, and one of them applied already.
    let stream = js.get_stream(streams::REGISTRY.name).await.unwrap();
    let earlier = pull::Config { durable_name: Some("test-consumer".into()), ack_policy: jetstream::consumer::AckPolicy::Explicit, ..Default::default() };
    let old = stream.create_consumer(earlier).await.unwrap();
    publish_raw(&js, &event(1), "before").await;
    let mut delivered = old.fetch().max_messages(1).messages().await.unwrap();
    delivered.next().await.unwrap().unwrap().double_ack().await.unwrap();

    let handler = RecordingHandler::new(0, false);
    let running = run_consumer(&nats, handler.clone(), 5).await;
    consumer_reaches(&js, |info| info.config.filter_subject == "flywheel.registry.site.>").await;
    let region = OutgoingEvent::new("registry", "flywheel.registry.region.created", "region-1", "corr", &prost_types::Timestamp::default());
    publish_raw(&js, &region, "region").await;
    publish_raw(&js, &event(2), "after").await;
    consumer_reaches(&js, |info| info.num_pending == 0 && info.num_ack_pending == 0 && info.ack_floor.stream_sequence == 3).await;
    assert_eq!(applied_count(&running.db).await, 1, "only the site event after the update: the first was acked before, the region's is filtered out");
    running.stop.send(true).unwrap();
    running.task.await.unwrap();
}

#[tokio::test]
async fn a_failed_event_is_retried_then_applied_once() {
    let nats = NatsServer::start().await;
    let handler = RecordingHandler::new(2, false);
    let running = run_consumer(&nats, handler.clone(), 5).await;
    let js = jetstream::new(nats.client().await);
    publish_raw(&js, &event(7), "e7").await;

    let db = running.db.clone();
    eventually(Duration::from_secs(30), || {
        let db = db.clone();
        async move { (applied_count(&db).await == 1).then_some(()) }
    })
    .await;
    assert_eq!(handler.attempts.load(Ordering::SeqCst), 3);
    running.stop.send(true).unwrap();
    running.task.await.unwrap();
}

#[tokio::test]
async fn an_event_that_cannot_be_applied_goes_to_the_dead_letters() {
    let nats = NatsServer::start().await;
    let handler = RecordingHandler::new(0, true);
    let running = run_consumer(&nats, handler.clone(), 3).await;
    let js = jetstream::new(nats.client().await);
    let e = event(9);
    publish_raw(&js, &e, "e9").await;

    let dead = read_all(&js, streams::DEADLETTER.name, 1).await;
    let h = dead[0].headers.as_ref().unwrap();
    assert_eq!(dead[0].subject.as_str(), "flywheel.deadletter.test-consumer");
    assert_eq!(h.get("ce-id").unwrap().as_str(), e.id.to_string());
    assert_eq!(h.get("flywheel-dead-subject").unwrap().as_str(), e.subject);
    assert!(h.get("flywheel-dead-error").unwrap().as_str().contains("cannot be applied"));
    assert_eq!(applied_count(&running.db).await, 0, "nothing half-applied");
    running.stop.send(true).unwrap();
    running.task.await.unwrap();
}

/// Records every application, refusing for good the event whose timestamp is `poison` seconds.
struct PoisonHandler {
    poison: i64,
}

#[async_trait::async_trait]
impl EventHandler for PoisonHandler {
    async fn handle(&self, txn: &DatabaseTransaction, event: &IncomingEvent) -> Result<(), HandlerError> {
        RecordingHandler::new(0, false).handle(txn, event).await?;
        if event.decode::<prost_types::Timestamp>()?.seconds == self.poison {
            return Err(HandlerError::Permanent(anyhow::anyhow!("poisoned")));
        }
        Ok(())
    }
}

/// The same as [`PoisonHandler`], set-based: it looks at the whole batch first and names the
/// poisoned event by its index in the batch, which holds only the events the inbox has not seen.
struct BatchPoisonHandler {
    poison: i64,
}

#[async_trait::async_trait]
impl EventHandler for BatchPoisonHandler {
    async fn handle(&self, txn: &DatabaseTransaction, event: &IncomingEvent) -> Result<(), HandlerError> {
        self.handle_batch(txn, &[event]).await.map_err(|f| f.error)
    }

    async fn handle_batch(&self, txn: &DatabaseTransaction, events: &[&IncomingEvent]) -> Result<(), BatchFailure> {
        for (at, event) in events.iter().enumerate() {
            let seconds = event.decode::<prost_types::Timestamp>().map_err(|e| BatchFailure { at: Some(at), error: e.into() })?.seconds;
            if seconds == self.poison {
                return Err(BatchFailure { at: Some(at), error: HandlerError::Permanent(anyhow::anyhow!("poisoned")) });
            }
        }
        for (at, event) in events.iter().enumerate() {
            RecordingHandler::new(0, false).handle(txn, event).await.map_err(|error| BatchFailure { at: Some(at), error })?;
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_failing_event_leaves_its_batch_and_the_rest_is_applied_once() {
    failing_event_leaves_its_batch(Arc::new(PoisonHandler { poison: 40 })).await;
}

#[tokio::test]
async fn a_set_based_handler_names_the_failing_event_and_the_rest_is_applied_once() {
    failing_event_leaves_its_batch(Arc::new(BatchPoisonHandler { poison: 40 })).await;
}

/// 150 events (the 40th poisoned) with copies among them, all waiting before the consumer starts.
async fn failing_event_leaves_its_batch(handler: Arc<dyn EventHandler>) {
    let nats = NatsServer::start().await;
    let js = jetstream::new(nats.client().await);
    streams::ensure_all(&js).await.unwrap();
    // Everything is waiting before the consumer starts, so its first pulls bring whole batches,
    // with copies of some events among them.
    let events: Vec<OutgoingEvent> = (1..=150).map(event).collect();
    for (n, e) in events.iter().enumerate() {
        publish_raw(&js, e, &format!("m{n}")).await;
        if n % 7 == 0 {
            publish_raw(&js, e, &format!("copy{n}")).await;
        }
    }
    let running = run_consumer(&nats, handler, 3).await;

    let dead = read_all(&js, streams::DEADLETTER.name, 1).await;
    assert_eq!(dead[0].headers.as_ref().unwrap().get("ce-id").unwrap().as_str(), events[39].id.to_string());
    let db = running.db.clone();
    eventually(Duration::from_secs(30), || {
        let db = db.clone();
        async move { (applied_count(&db).await == 149).then_some(()) }
    })
    .await;
    let distinct = count(&db, "SELECT COUNT(DISTINCT event_id) AS n FROM applied").await;
    assert_eq!(distinct, 149, "every other event applied exactly once, none half-applied");
    running.stop.send(true).unwrap();
    running.task.await.unwrap();
}

#[tokio::test]
async fn acknowledged_outbox_rows_are_deleted_and_waiting_ones_kept() {
    let nats = NatsServer::start().await;
    let database = TestDatabase::new();
    let db = connect_and_migrate::<Migrator>(&database.url()).await.unwrap();
    let js = jetstream::new(nats.client().await);
    streams::ensure_all(&js).await.unwrap();
    let relay = Relay::new(db.clone(), js.clone(), Outbox::new(), "registry");
    let txn = begin_write(&db).await.unwrap();
    outbox::enqueue_all(&txn, &(0..3).map(event).collect::<Vec<_>>()).await.unwrap();
    txn.commit().await.unwrap();
    relay.flush(Duration::from_secs(10)).await.unwrap();
    assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM outbox").await, 0, "every acknowledged row is gone");
    assert_eq!(read_all(&js, streams::REGISTRY.name, 3).await.len(), 3);

    // An event whose subject no stream takes is never acknowledged: it stays, with its error.
    let unrouted = OutgoingEvent { subject: "flywheel.nowhere.v1".into(), ..event(7) };
    let txn = begin_write(&db).await.unwrap();
    outbox::enqueue(&txn, &unrouted).await.unwrap();
    txn.commit().await.unwrap();
    assert!(relay.flush(Duration::from_secs(10)).await.is_err());
    assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM outbox WHERE attempts = 1 AND last_error IS NOT NULL").await, 1);
}

/// The runtime's migrations before the relay deleted what it sent.
struct MigratorBeforeDeletingSentRows;

impl MigratorTrait for MigratorBeforeDeletingSentRows {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = flywheel_runtime::migrations::all();
        all.truncate(3);
        all
    }
}

#[tokio::test]
async fn the_upgrade_deletes_the_rows_already_sent_and_keeps_the_waiting_ones() {
    let database = TestDatabase::new();
    let db = connect_and_migrate::<MigratorBeforeDeletingSentRows>(&database.url()).await.unwrap();
    for (n, published) in [(1, "5"), (2, "NULL"), (3, "6"), (4, "NULL")] {
        let sql = format!(
            "INSERT INTO outbox (event_id, subject, source, aggregate_id, correlation_id, time_us, payload, published_us, attempts) \
             VALUES ('e{n}', 's', 'registry', 'a', 'c', {n}, '', {published}, 0)"
        );
        db.execute_unprepared(&sql).await.unwrap();
    }
    drop(db);
    let db = connect_and_migrate::<Migrator>(&database.url()).await.unwrap();
    let left = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), "SELECT event_id FROM outbox ORDER BY seq"))
        .await
        .unwrap();
    let left: Vec<String> = left.iter().map(|r| r.try_get("", "event_id").unwrap()).collect();
    assert_eq!(left, ["e2", "e4"]);
    let txn = begin_write(&db).await.unwrap();
    outbox::enqueue(&txn, &event(5)).await.unwrap();
    txn.commit().await.unwrap();
    assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM outbox").await, 3);
}

fn incoming(n: usize) -> IncomingEvent {
    IncomingEvent {
        id: format!("event-{n}"),
        subject: "flywheel.registry.site.registered".into(),
        source: "registry".into(),
        aggregate_id: format!("site-{n}"),
        correlation_id: "corr".into(),
        time_us: n as i64,
        payload: Default::default(),
    }
}

#[tokio::test]
async fn a_batch_applies_only_what_the_inbox_lacks_and_concurrent_deliveries_apply_once() {
    let test_db = TestDatabase::new();
    let db = connect_and_migrate::<Migrator>(&test_db.url()).await.unwrap();
    let handler = RecordingHandler::new(0, false);
    let (one, two, three) = (incoming(1), incoming(2), incoming(3));

    let first = consumer::apply_batch_once(&db, "test", handler.as_ref(), &[&one]).await.unwrap();
    assert_eq!(first, [consumer::Applied::Applied]);
    // One known event, one new one twice over, another new one.
    let mixed = consumer::apply_batch_once(&db, "test", handler.as_ref(), &[&one, &two, &two, &three]).await.unwrap();
    use consumer::Applied::{AlreadyApplied, Applied};
    assert_eq!(mixed, [AlreadyApplied, Applied, AlreadyApplied, Applied]);
    assert_eq!(applied_count(&db).await, 3);
    // Another consumer keeps its own inbox.
    let other = consumer::apply_batch_once(&db, "other", handler.as_ref(), &[&one]).await.unwrap();
    assert_eq!(other, [Applied]);
    assert_eq!(applied_count(&db).await, 4);

    // The same fresh events delivered to two connections at once: one applies them, the other
    // waits for it and skips them.
    let batch: Vec<IncomingEvent> = (10..30).map(incoming).collect();
    let apply = || {
        let (db, handler, batch) = (db.clone(), handler.clone(), batch.clone());
        tokio::spawn(async move {
            let refs: Vec<&IncomingEvent> = batch.iter().collect();
            consumer::apply_batch_once(&db, "test", handler.as_ref(), &refs).await.unwrap()
        })
    };
    let (a, b) = (apply(), apply());
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let applied = |o: &[consumer::Applied]| o.iter().filter(|x| **x == Applied).count();
    assert_eq!(applied(&a) + applied(&b), 20, "every event applied by exactly one delivery: {a:?} {b:?}");
    assert_eq!(applied_count(&db).await, 24);
}

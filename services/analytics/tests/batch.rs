//! A batch of events lands exactly where the same events applied one at a time land: every
//! projection table is compared row for row (SQLite, or PostgreSQL with FLYWHEEL_TEST_POSTGRES).

mod common;

use common::*;
use flywheel_analytics::domain::kpi::Facts;
use flywheel_analytics::migration::Migrator;
use flywheel_analytics::projector::Projector;
use flywheel_analytics::store::entities::*;
use flywheel_proto::flywheel::common::v1::ScenarioCell;
use flywheel_proto::flywheel::dispatch::v1 as dispatch;
use flywheel_proto::flywheel::feedback::v1 as feedback;
use flywheel_proto::flywheel::registry::v1 as registry;
use flywheel_runtime::db::connect_and_migrate;
use flywheel_runtime::events::IncomingEvent;
use flywheel_runtime::events::consumer::{self, Applied, BatchFailure, HandlerError};
use flywheel_testing::TestDatabase;
use prost::Message;
use sea_orm::{DatabaseConnection, EntityTrait};

const CONSUMER: &str = flywheel_analytics::CONSUMER;

/// The events of a test, in the order a consumer receives them.
#[derive(Default)]
struct Events(Vec<IncomingEvent>);

impl Events {
    fn push(&mut self, subject: &str, aggregate: &str, time_us: i64, msg: &impl Message) -> IncomingEvent {
        let event = IncomingEvent {
            id: format!("ev-{}", self.0.len()),
            subject: subject.to_owned(),
            source: "test".into(),
            aggregate_id: aggregate.to_owned(),
            correlation_id: "corr-test".into(),
            time_us,
            payload: msg.encode_to_vec().into(),
        };
        self.0.push(event.clone());
        event
    }

    /// Delivers an event again (same id), as JetStream does after a lost ack.
    fn redeliver(&mut self, event: IncomingEvent) {
        self.0.push(event);
    }

    fn region(&mut self, id: &str, ancestors: &[&str], at: i64) {
        let region = registry::Region {
            id: id.into(),
            code: id.into(),
            name: format!("Region {id}"),
            kind: registry::RegionKind::Street as i32,
            ancestor_ids: ancestors.iter().map(|a| a.to_string()).collect(),
            status: registry::Status::Active as i32,
            version: 1,
            ..Default::default()
        };
        self.push("flywheel.registry.region.created", id, at, &registry::RegionCreated { region: Some(region) });
    }

    fn site(&mut self, subject: &str, id: &str, path: &[String], version: i64, at: i64) {
        let site = registry::Site {
            id: id.into(),
            code: id.into(),
            name: format!("Site {id}"),
            region_id: path.last().cloned().unwrap_or_default(),
            region_path: path.to_vec(),
            status: registry::Status::Active as i32,
            version,
            create_time: Some(ts(at)),
            ..Default::default()
        };
        match subject {
            "flywheel.registry.site.registered" => self.push(subject, id, at, &registry::SiteRegistered { site: Some(site) }),
            _ => self.push(subject, id, at, &registry::SiteUpdated { site: Some(site), ..Default::default() }),
        };
    }

    fn category(&mut self, subject: &str, id: &str, cell: ScenarioCell, version: i64, at: i64) {
        let category = registry::Category {
            id: id.into(),
            code: id.into(),
            name: format!("Category {id} v{version}"),
            cell: Some(cell),
            status: registry::Status::Active as i32,
            version,
            ..Default::default()
        };
        match subject {
            "flywheel.registry.category.defined" => self.push(subject, id, at, &registry::CategoryDefined { category: Some(category) }),
            _ => self.push(subject, id, at, &registry::CategoryChanged { category: Some(category), ..Default::default() }),
        };
    }

    fn report(&mut self, subject: &str, r: &feedback::Report, at: i64) -> IncomingEvent {
        match subject {
            "flywheel.feedback.report.submitted" => self.push(subject, &r.id, at, &feedback::ReportSubmitted { report: Some(r.clone()) }),
            _ => self.push(subject, &r.id, at, &feedback::ReportSupported { report: Some(r.clone()), support_count: 1, ..Default::default() }),
        }
    }

    fn rated(&mut self, r: &feedback::Report, ticket: &str, round: i32, rating: i32, fixed: feedback::FixedAnswer, at: i64) {
        let m = feedback::ReportRated {
            report: Some(r.clone()),
            ticket_id: ticket.into(),
            rating,
            fixed: fixed as i32,
            survey_round: round,
            ..Default::default()
        };
        self.push("flywheel.feedback.report.rated", &r.id, at, &m);
    }
}

/// One ticket's life: every event carries the next version of its snapshot.
struct Life {
    ticket: dispatch::Ticket,
}

impl Life {
    fn new(w: &World, id: &str, site: &str) -> Self {
        Self { ticket: ticket(w, id, site) }
    }

    fn next(&mut self, state: dispatch::TicketState) -> Option<dispatch::Ticket> {
        self.ticket.version += 1;
        self.ticket.state = state as i32;
        Some(self.ticket.clone())
    }

    fn created(&mut self, e: &mut Events, at: i64) -> IncomingEvent {
        self.ticket.create_time = Some(ts(at));
        let m = dispatch::TicketCreated { ticket: self.next(dispatch::TicketState::New), ..Default::default() };
        e.push("flywheel.dispatch.ticket.created", &self.ticket.id, at, &m)
    }

    fn assigned(&mut self, e: &mut Events, at: i64) -> IncomingEvent {
        self.ticket.assignment_count += 1;
        let m = dispatch::TicketAssigned { ticket: self.next(dispatch::TicketState::Assigned), ..Default::default() };
        e.push("flywheel.dispatch.ticket.assigned", &self.ticket.id, at, &m)
    }

    fn accepted(&mut self, e: &mut Events, at: i64, ack: prost_types::Duration) {
        let m = dispatch::TicketAccepted {
            ticket: self.next(dispatch::TicketState::Accepted),
            time_to_acknowledge: Some(ack),
            first_in_cycle: true,
            ..Default::default()
        };
        e.push("flywheel.dispatch.ticket.accepted", &self.ticket.id, at, &m);
    }

    fn resolved(&mut self, e: &mut Events, at: i64, ttr: prost_types::Duration, within_sla: bool) {
        let m = dispatch::TicketResolved {
            ticket: self.next(dispatch::TicketState::Resolved),
            time_to_resolve: Some(ttr),
            resolved_within_sla: within_sla,
            first_assignment_resolution: within_sla,
            ..Default::default()
        };
        e.push("flywheel.dispatch.ticket.resolved", &self.ticket.id, at, &m);
    }

    fn reopened(&mut self, e: &mut Events, at: i64, previous_resolve: i64) {
        self.ticket.reopen_count += 1;
        let m = dispatch::TicketReopened {
            ticket: self.next(dispatch::TicketState::Reopened),
            previous_resolve_time: Some(ts(previous_resolve)),
            ..Default::default()
        };
        e.push("flywheel.dispatch.ticket.reopened", &self.ticket.id, at, &m);
    }

    fn closed(&mut self, e: &mut Events, at: i64) {
        let m = dispatch::TicketClosed { ticket: self.next(dispatch::TicketState::Closed), ..Default::default() };
        e.push("flywheel.dispatch.ticket.closed", &self.ticket.id, at, &m);
    }

    fn cancelled(&mut self, e: &mut Events, at: i64) {
        let m = dispatch::TicketCancelled { ticket: self.next(dispatch::TicketState::Cancelled), ..Default::default() };
        e.push("flywheel.dispatch.ticket.cancelled", &self.ticket.id, at, &m);
    }

    fn breached(&mut self, e: &mut Events, at: i64) {
        let m = dispatch::TicketSlaBreached {
            ticket: Some(self.ticket.clone()),
            clock: dispatch::SlaClock::Resolve as i32,
            ..Default::default()
        };
        e.push("flywheel.dispatch.ticket.sla_breached", &self.ticket.id, at, &m);
        let m = dispatch::TicketEscalated { ticket: Some(self.ticket.clone()), ..Default::default() };
        e.push("flywheel.dispatch.ticket.escalated", &self.ticket.id, at, &m);
    }
}

/// A duration with a fraction of a second, so the sketches' float sums depend on merge order.
fn fine(us: i64, nanos: i32) -> prost_types::Duration {
    prost_types::Duration { seconds: us / 1_000_000, nanos }
}

/// A day of a district: registry set-up, reports, supports and ratings, tickets through their
/// whole life (several events of one ticket and of one hour and cell close together), a site
/// that moves region between two tickets of the same hour, stale snapshots, redeliveries, and
/// a rush of 32 tickets created and assigned over 30 cells.
fn day_of_events() -> Events {
    let t0 = us("2025-03-01T01:00:00Z");
    let mut e = Events::default();
    let w = World::guangzhou();
    let setup = t0 - 24 * HOUR;
    e.region(&w.city, &[], setup);
    e.region(&w.district, &[&w.city], setup);
    e.region(&w.street, &[&w.city, &w.district], setup);
    e.region("r-pazhou", &[&w.city, &w.district], setup);
    e.site("flywheel.registry.site.registered", &w.site_a, &w.path(), 1, setup);
    e.site("flywheel.registry.site.registered", &w.site_b, &w.path(), 1, setup);
    e.category("flywheel.registry.category.defined", &w.category, safety_living(), 1, setup);
    e.category("flywheel.registry.category.changed", &w.category, safety_living(), 3, setup + MINUTE);
    // Stale: an older version changes nothing.
    e.category("flywheel.registry.category.changed", &w.category, ScenarioCell { dimension: 3, perspective: 3 }, 2, setup + 2 * MINUTE);

    let complaint = report(&w, "rep-1", &w.site_a, feedback::ReportKind::Complaint);
    let praise = report(&w, "rep-2", &w.site_b, feedback::ReportKind::Praise);
    let other = report(&w, "rep-3", &w.site_a, feedback::ReportKind::Complaint);
    let submitted = e.report("flywheel.feedback.report.submitted", &complaint, t0);
    e.report("flywheel.feedback.report.submitted", &praise, t0 + MINUTE);
    e.report("flywheel.feedback.report.submitted", &other, t0 + 2 * MINUTE);
    e.report("flywheel.feedback.report.supported", &complaint, t0 + 3 * MINUTE);
    e.report("flywheel.feedback.report.supported", &complaint, t0 + 4 * MINUTE);

    let mut one = Life::new(&w, "t-1", &w.site_a);
    let created = one.created(&mut e, t0 + 2 * MINUTE);
    let stale = one.assigned(&mut e, t0 + 3 * MINUTE);
    one.accepted(&mut e, t0 + 12 * MINUTE, fine(10 * MINUTE, 250_000_000));
    let mut two = Life::new(&w, "t-2", &w.site_a);
    two.created(&mut e, t0 + 5 * MINUTE);
    two.assigned(&mut e, t0 + 6 * MINUTE);
    e.redeliver(created);
    two.accepted(&mut e, t0 + 35 * MINUTE, fine(30 * MINUTE, 100_000_000));

    // Site B moves to another street between two tickets of the same hour: the hour row moves.
    let mut three = Life::new(&w, "t-3", &w.site_b);
    three.created(&mut e, t0 + 10 * MINUTE);
    let moved = vec![w.city.clone(), w.district.clone(), "r-pazhou".into()];
    e.site("flywheel.registry.site.updated", &w.site_b, &moved, 2, t0 + 15 * MINUTE);
    let mut four = Life::new(&w, "t-4", &w.site_b);
    four.ticket.region_path = moved;
    four.created(&mut e, t0 + 20 * MINUTE);
    four.assigned(&mut e, t0 + 21 * MINUTE);

    // The rush: 32 tickets created and assigned over 30 cells, interleaved as dispatch does.
    let mut rush: Vec<Life> = (0..32)
        .map(|i| {
            let mut l = Life::new(&w, &format!("t-rush-{i}"), if i % 2 == 0 { &w.site_a } else { &w.site_b });
            l.ticket.category_id = format!("c-{}", i % 15);
            l.ticket.cell = Some(ScenarioCell { dimension: i % 3 + 1, perspective: i / 3 % 3 + 1 });
            l
        })
        .collect();
    for (i, l) in rush.iter_mut().enumerate() {
        l.created(&mut e, t0 + 40 * MINUTE + i as i64 * 1_000_000);
        if i % 2 == 1 {
            l.assigned(&mut e, t0 + 41 * MINUTE + i as i64 * 1_000_000);
        }
    }
    for (i, l) in rush.iter_mut().enumerate().filter(|(i, _)| i % 2 == 0) {
        l.assigned(&mut e, t0 + 50 * MINUTE + i as i64 * 1_000_000);
    }

    one.resolved(&mut e, t0 + 2 * HOUR, fine(2 * HOUR, 500_000_000), true);
    one.closed(&mut e, t0 + 3 * HOUR);
    // An older snapshot arriving late changes neither the snapshot nor the milestones.
    e.redeliver(IncomingEvent { id: "ev-stale".into(), ..stale });
    e.rated(&complaint, "t-1", 1, 4, feedback::FixedAnswer::Yes, t0 + 3 * HOUR);
    e.rated(&complaint, "t-1", 2, 5, feedback::FixedAnswer::Yes, t0 + 3 * HOUR + 5 * MINUTE);
    // A late answer to the first survey does not replace the second.
    e.rated(&complaint, "t-1", 1, 1, feedback::FixedAnswer::No, t0 + 3 * HOUR + 6 * MINUTE);

    two.breached(&mut e, t0 + 4 * HOUR);
    two.resolved(&mut e, t0 + 5 * HOUR, fine(5 * HOUR, 700_000_000), false);
    two.reopened(&mut e, t0 + 6 * HOUR, t0 + 5 * HOUR);
    two.assigned(&mut e, t0 + 6 * HOUR + MINUTE);
    two.accepted(&mut e, t0 + 6 * HOUR + 10 * MINUTE, fine(9 * MINUTE, 300_000_000));
    two.resolved(&mut e, t0 + 6 * HOUR + 50 * MINUTE, fine(50 * MINUTE, 900_000_000), true);
    two.reopened(&mut e, t0 + 6 * HOUR + 55 * MINUTE, t0 + 6 * HOUR + 50 * MINUTE);
    two.cancelled(&mut e, t0 + 7 * HOUR);
    e.rated(&other, "t-2", 1, 2, feedback::FixedAnswer::No, t0 + 7 * HOUR);
    three.cancelled(&mut e, t0 + 7 * HOUR);
    e.redeliver(submitted);
    // After local midnight in Asia/Shanghai: the next day's rows.
    let late = report(&w, "rep-4", &w.site_b, feedback::ReportKind::Praise);
    e.report("flywheel.feedback.report.submitted", &late, t0 + 15 * HOUR + 30 * MINUTE);
    e
}

async fn fresh_db() -> (TestDatabase, DatabaseConnection) {
    let database = TestDatabase::new();
    let db = connect_and_migrate::<Migrator>(&database.url()).await.unwrap();
    (database, db)
}

fn projector() -> Projector {
    Projector { day_zone: chrono_tz::Asia::Shanghai }
}

/// Every row of a table, in a stable order.
async fn rows<E: EntityTrait>(db: &DatabaseConnection) -> Vec<String>
where
    E::Model: std::fmt::Debug,
{
    let mut rows: Vec<String> = E::find().all(db).await.unwrap().iter().map(|m| format!("{m:?}")).collect();
    rows.sort();
    rows
}

/// Every projection table, by name.
async fn projections(db: &DatabaseConnection) -> Vec<(&'static str, Vec<String>)> {
    vec![
        ("kpi_hour", rows::<kpi_hour::Entity>(db).await),
        ("kpi_day", rows::<kpi_day::Entity>(db).await),
        ("kpi_backlog", rows::<kpi_backlog::Entity>(db).await),
        ("ticket", rows::<ticket::Entity>(db).await),
        ("ticket_rating", rows::<ticket_rating::Entity>(db).await),
        ("stream_progress", rows::<stream_progress::Entity>(db).await),
        ("site", rows::<site::Entity>(db).await),
        ("region", rows::<region::Entity>(db).await),
        ("category", rows::<category::Entity>(db).await),
    ]
}

#[tokio::test]
async fn batches_land_where_one_event_at_a_time_lands() {
    let events = day_of_events();
    let projector = projector();
    let (_one_db, one) = fresh_db().await;
    for event in &events.0 {
        consumer::apply_once(&one, CONSUMER, &projector, event).await.unwrap();
    }
    let want = projections(&one).await;

    // Not vacuous: the hour row of site B moved to its new street, reopens counted back, the
    // stale snapshot and the late first-round answer ignored.
    let tables: std::collections::HashMap<_, _> = want.iter().cloned().collect();
    let hours = tables["kpi_hour"].join("\n");
    assert!(hours.contains("site_id: \"s-pazhou\", category_id: \"c-lighting\", dimension: 1, perspective: 2, region_path: \"/r-gz/r-haizhu/r-pazhou/\", backlog_delta: 2"), "{hours}");
    let hour_rows = kpi_hour::Entity::find().all(&one).await.unwrap();
    assert!(hour_rows.iter().any(|r| Facts::decode(&r.facts).unwrap().counters.reopened_resolutions == 1), "{hours}");
    assert!(tables["ticket"].iter().any(|t| t.contains("id: \"t-1\"") && t.contains("version: 5")), "{:?}", tables["ticket"]);
    assert!(tables["ticket_rating"].iter().any(|r| r.contains("\"t-1\", survey_round: 2, rating: 5")), "{:?}", tables["ticket_rating"]);
    // The first hour: A and B in SAFETY x LIVING and the rush's 32 cells; then one row per hour
    // of t-1's and t-2's later events (two at t0 + 7 h: t-3 cancelled at B), and the late report.
    assert_eq!(tables["kpi_hour"].len(), 34 + 7 + 1);

    for size in [64, 7] {
        let (_batched_db, batched) = fresh_db().await;
        let all: Vec<&IncomingEvent> = events.0.iter().collect();
        for batch in all.chunks(size) {
            consumer::apply_batch_once(&batched, CONSUMER, &projector, batch).await.unwrap();
        }
        for ((table, got), (_, want)) in projections(&batched).await.iter().zip(&want) {
            assert_eq!(got, want, "{table} after batches of {size}");
        }
    }
}

#[tokio::test]
async fn an_unreadable_event_fails_alone_and_the_batch_leaves_nothing() {
    let mut events = day_of_events();
    let t0 = us("2025-03-01T01:00:00Z");
    let garbage = IncomingEvent { payload: vec![0xff, 0xff, 0xff].into(), ..events.0[20].clone() };
    events.0.insert(12, IncomingEvent { id: "ev-garbage".into(), subject: "flywheel.dispatch.ticket.created".into(), ..garbage });
    let empty = dispatch::TicketClosed::default();
    events.push("flywheel.dispatch.ticket.closed", "t-none", t0, &empty);
    let (_database, db) = fresh_db().await;
    let all: Vec<&IncomingEvent> = events.0.iter().collect();
    let projector = projector();

    // The garbage in the middle of a batch, then the ticketless event at the end of the rest.
    for (at, batch) in [(12, &all[..20]), (all.len() - 14, &all[13..])] {
        match consumer::apply_batch_once(&db, CONSUMER, &projector, batch).await {
            Err(BatchFailure { at: Some(failed), error: HandlerError::Permanent(_) }) => assert_eq!(failed, at),
            other => panic!("want event {at} to fail permanently, got {other:?}"),
        }
        assert!(projections(&db).await.iter().all(|(_, rows)| rows.is_empty()));
    }
    let readable = &all[..12];
    let applied = consumer::apply_batch_once(&db, CONSUMER, &projector, readable).await.unwrap();
    assert!(applied.iter().all(|a| *a == Applied::Applied));
    assert!(!rows::<kpi_hour::Entity>(&db).await.is_empty());
}

/// Consumers of several streams apply batches at once that touch the same hour, day and backlog
/// rows, each in its own order: none waits on another in a cycle, and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batches_on_the_same_rows_lose_nothing() {
    let (_database, db) = fresh_db().await;
    let (consumers, batches, size) = (4, 6, 64);
    let tasks: Vec<_> = (0..consumers)
        .map(|c| {
            let db = db.clone();
            tokio::spawn(async move {
                let w = World::guangzhou();
                let t0 = us("2025-03-01T01:00:00Z");
                for b in 0..batches {
                    let mut e = Events::default();
                    for i in 0..size {
                        // 16 cells over two hours, walked forwards by some consumers and
                        // backwards by the others.
                        let k = if c % 2 == 0 { i } else { size - 1 - i };
                        let mut life = Life::new(&w, &format!("t-{c}-{b}-{i}"), if k % 2 == 0 { &w.site_a } else { &w.site_b });
                        life.ticket.category_id = format!("c-{}", k % 8);
                        life.created(&mut e, t0 + (k % 2) * HOUR + i);
                    }
                    let batch: Vec<IncomingEvent> =
                        e.0.into_iter().map(|ev| IncomingEvent { id: format!("{c}-{b}-{}", ev.id), ..ev }).collect();
                    let batch: Vec<&IncomingEvent> = batch.iter().collect();
                    consumer::apply_batch_once(&db, CONSUMER, &projector(), &batch).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let total = consumers * batches * size;
    let opened = |rows: Vec<Vec<u8>>| -> i64 { rows.iter().map(|f| Facts::decode(f).unwrap().counters.tickets_opened).sum() };
    assert_eq!(opened(kpi_hour::Entity::find().all(&db).await.unwrap().into_iter().map(|r| r.facts).collect()), total);
    assert_eq!(opened(kpi_day::Entity::find().all(&db).await.unwrap().into_iter().map(|r| r.facts).collect()), total);
    let backlog: i64 = kpi_backlog::Entity::find().all(&db).await.unwrap().iter().map(|r| r.backlog).sum();
    assert_eq!(backlog, total);
    assert_eq!(rows::<ticket::Entity>(&db).await.len() as i64, total);
}

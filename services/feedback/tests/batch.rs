//! Ticket events applied in batches leave the same reports, timelines, surveys and outbox rows
//! as the same events applied one by one, and a batch costs the same statements whatever its size.

use flywheel_feedback::app::Feedback;
use flywheel_feedback::app::tickets::TicketEvents;
use flywheel_feedback::migration::Migrator;
use flywheel_feedback::settings::Settings;
use flywheel_feedback::store::{self, entities::{report, survey, timeline}};
use flywheel_proto::flywheel::dispatch::v1 as dispatch;
use flywheel_proto::flywheel::feedback::v1::{ReportStatus, ReportStatusChanged};
use flywheel_runtime::db::{begin_write, connect_and_migrate};
use flywheel_runtime::events::consumer::{EventHandler, HandlerError};
use flywheel_runtime::events::outbox::{self, Outbox};
use flywheel_runtime::events::{IncomingEvent, OutgoingEvent};
use flywheel_runtime::writer::Writer;
use flywheel_runtime::Error;
use flywheel_testing::TestDatabase;
use prost::Message;
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, QueryOrder};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const SUBMITTED_US: i64 = 1_700_000_000_000_000;

/// A fresh feedback database and the handler of ticket events on it.
struct Fixture {
    _db: TestDatabase,
    conn: DatabaseConnection,
    handler: TicketEvents,
}

impl Fixture {
    async fn new() -> Self {
        Self::with(|_| {}).await
    }

    /// With `prepare` applied to the connection before the handler gets it.
    async fn with(prepare: impl FnOnce(&mut DatabaseConnection)) -> Self {
        let db = TestDatabase::new();
        let mut conn = connect_and_migrate::<Migrator>(&db.url()).await.unwrap();
        prepare(&mut conn);
        let feedback = Feedback::new(Writer::new(conn.clone(), Outbox::new()), Settings::default());
        Self { _db: db, conn, handler: TicketEvents::new(feedback) }
    }

    async fn file(&self, id: &str, duplicate_of: &str) {
        report::ActiveModel::from(report_row(id, duplicate_of)).insert(&self.conn).await.unwrap();
        let first = timeline::Model { report_id: id.into(), seq: 1, status: ReportStatus::Submitted as i32, time_us: SUBMITTED_US, note: String::new() };
        timeline::ActiveModel::from(first).insert(&self.conn).await.unwrap();
    }

    /// Applies `events` in one transaction, as the consumer does with a batch.
    async fn apply(&self, events: &[IncomingEvent]) {
        let txn = begin_write(&self.conn).await.unwrap();
        let batch: Vec<&IncomingEvent> = events.iter().collect();
        self.handler.handle_batch(&txn, &batch).await.unwrap();
        txn.commit().await.unwrap();
    }

    /// Everything the events wrote, without what must differ between two runs: instants and
    /// event ids.
    async fn state(&self) -> State {
        let reports = report::Entity::find().order_by_asc(report::Column::Id).all(&self.conn).await.unwrap();
        let steps = timeline::Entity::find()
            .order_by_asc(timeline::Column::ReportId)
            .order_by_asc(timeline::Column::Seq)
            .all(&self.conn)
            .await
            .unwrap();
        let surveys = survey::Entity::find()
            .order_by_asc(survey::Column::ReportId)
            .order_by_asc(survey::Column::Round)
            .all(&self.conn)
            .await
            .unwrap();
        let outbox = outbox::entity::Entity::find().order_by_asc(outbox::entity::Column::Seq).all(&self.conn).await.unwrap();
        State {
            reports: reports.into_iter().map(|r| report::Model { update_us: 0, close_us: r.close_us.map(|_| 0), ..r }).collect(),
            steps: steps.into_iter().map(|t| timeline::Model { time_us: 0, ..t }).collect(),
            surveys: surveys
                .into_iter()
                .map(|s| survey::Model { open_us: 0, close_us: 0, rate_us: s.rate_us.map(|_| 0), ..s })
                .collect(),
            outbox: outbox.into_iter().map(|o| (o.subject, o.aggregate_id, o.correlation_id, status_change(&o.payload))).collect(),
        }
    }
}

struct State {
    reports: Vec<report::Model>,
    steps: Vec<timeline::Model>,
    surveys: Vec<survey::Model>,
    outbox: Vec<(String, String, String, ReportStatusChanged)>,
}

/// A status change event without its instants.
fn status_change(payload: &[u8]) -> ReportStatusChanged {
    let zero = |t: &mut Option<prost_types::Timestamp>| {
        if let Some(t) = t {
            *t = prost_types::Timestamp::default();
        }
    };
    let mut change = ReportStatusChanged::decode(payload).unwrap();
    let report = change.report.as_mut().unwrap();
    zero(&mut report.update_time);
    zero(&mut report.close_time);
    for step in &mut report.timeline {
        zero(&mut step.time);
    }
    for survey in &mut report.surveys {
        zero(&mut survey.open_time);
        zero(&mut survey.close_time);
    }
    change
}

fn report_row(id: &str, duplicate_of: &str) -> report::Model {
    report::Model {
        id: id.into(),
        tracking_code: format!("T{}", id.to_uppercase().replace('-', "")),
        kind: 1,
        site_id: "site-tower".into(),
        region_path: "/region-gz/region-haizhu/".into(),
        zone_id: String::new(),
        lat: Some(23.1062),
        lng: Some(113.324),
        address: "222 Yuejiang West Road".into(),
        category_id: "cat-light".into(),
        dimension: 1,
        perspective: 1,
        priority_hint: 3,
        description: "The street light by the north gate is out".into(),
        media_urls: String::new(),
        channel: 1,
        resident_id: "res-1".into(),
        needs_field_work: true,
        status: ReportStatus::Submitted as i32,
        ticket_id: String::new(),
        duplicate_of: duplicate_of.into(),
        duplicate_count: 0,
        support_count: 0,
        reopen_count: 0,
        correlation_id: format!("corr-{id}"),
        version: 1,
        submit_us: SUBMITTED_US,
        update_us: SUBMITTED_US,
        close_us: None,
        expected_resolve_us: None,
    }
}

/// Ticket `id` as dispatch carries it, from report `origin` (none when empty), due at `due_s`.
fn ticket(id: &str, origin: &str, due_s: i64) -> dispatch::Ticket {
    dispatch::Ticket {
        id: id.into(),
        origin: (!origin.is_empty()).then(|| dispatch::TicketOrigin {
            kind: dispatch::TicketOriginKind::ResidentReport as i32,
            report_id: origin.into(),
            ..Default::default()
        }),
        sla: Some(dispatch::TicketSla {
            resolve_due_time: Some(prost_types::Timestamp { seconds: due_s, nanos: 0 }),
            ..Default::default()
        }),
        correlation_id: format!("corr-{id}"),
        ..Default::default()
    }
}

/// The ticket event `step` with `note` where that event carries one.
fn event(step: &str, ticket: dispatch::Ticket, note: &str) -> IncomingEvent {
    let transition = Some(dispatch::TicketTransition { note: note.into(), ..Default::default() });
    let t = Some(ticket.clone());
    let payload = match step {
        "created" => dispatch::TicketCreated { ticket: t, transition }.encode_to_vec(),
        "assigned" => dispatch::TicketAssigned { ticket: t, transition, ..Default::default() }.encode_to_vec(),
        "accepted" => dispatch::TicketAccepted { ticket: t, transition, ..Default::default() }.encode_to_vec(),
        "started" => dispatch::TicketStarted { ticket: t, transition, ..Default::default() }.encode_to_vec(),
        "resolved" => dispatch::TicketResolved { ticket: t, resolution_note: note.into(), ..Default::default() }.encode_to_vec(),
        "reopened" => dispatch::TicketReopened { ticket: t, note: note.into(), ..Default::default() }.encode_to_vec(),
        "cancelled" => dispatch::TicketCancelled { ticket: t, note: note.into(), ..Default::default() }.encode_to_vec(),
        "closed" => dispatch::TicketClosed { ticket: t, transition, ..Default::default() }.encode_to_vec(),
        other => panic!("no ticket event {other}"),
    };
    incoming(&format!("flywheel.dispatch.ticket.{step}"), &ticket.id, payload)
}

fn incoming(subject: &str, ticket_id: &str, payload: Vec<u8>) -> IncomingEvent {
    let out = OutgoingEvent { payload, ..OutgoingEvent::new("dispatch", subject, ticket_id, "corr", &dispatch::TicketCreated::default()) };
    IncomingEvent::from_message(subject, Some(&out.headers()), out.payload.into()).unwrap()
}

/// Every kind of ticket event, several for one report close together, on a report with a
/// duplicate that follows it, tickets without an origin, and tickets of no known report.
fn lifecycle() -> Vec<IncomingEvent> {
    const DUE: i64 = 1_900_000_000;
    let a = || ticket("t-a", "r-a", DUE);
    vec![
        event("created", a(), "Dispatched to the lighting crew"),
        event("created", ticket("t-b", "r-b", DUE), ""),
        event("assigned", a(), "Crew 7"),
        event("created", ticket("t-c", "r-c", DUE), ""),
        event("created", ticket("t-x", "r-missing", DUE), ""),
        event("assigned", ticket("t-b", "r-b", DUE), ""),
        event("accepted", a(), ""),
        event("accepted", ticket("t-c", "", DUE), ""),
        event("started", a(), "On the way"),
        event("created", ticket("t-d", "r-d", DUE), ""),
        event("started", ticket("t-c", "", DUE + 60), "Started without an origin"),
        event("assigned", ticket("t-d", "r-d", DUE + 3600), "A later due time"),
        event("resolved", a(), "The bulb was replaced"),
        event("cancelled", ticket("t-b", "r-b", DUE), "Handed to the power company"),
        event("reopened", a(), "Still dark"),
        event("started", a(), ""),
        event("resolved", a(), "The wiring was replaced"),
        event("created", ticket("t-unknown", "", DUE), ""),
        event("closed", a(), ""),
        event("closed", ticket("t-d", "r-d", DUE), "Nothing to do"),
        event("reopened", ticket("t-d", "", DUE), "It came back"),
    ]
}

async fn filed() -> Fixture {
    let fixture = Fixture::new().await;
    for (id, duplicate_of) in [("r-a", ""), ("r-a-dup", "r-a"), ("r-b", ""), ("r-c", ""), ("r-d", "")] {
        fixture.file(id, duplicate_of).await;
    }
    fixture
}

async fn applied_in_batches_of(size: usize, events: &[IncomingEvent]) -> State {
    let fixture = filed().await;
    for batch in events.chunks(size) {
        fixture.apply(batch).await;
    }
    fixture.state().await
}

#[tokio::test]
async fn batches_change_what_one_by_one_changes() {
    let events = lifecycle();
    let one_by_one = applied_in_batches_of(1, &events).await;
    assert_eq!(one_by_one.outbox.len(), 21, "{:#?}", one_by_one.outbox);
    let a = one_by_one.reports.iter().find(|r| r.id == "r-a").unwrap();
    assert_eq!((a.status, a.reopen_count), (ReportStatus::Closed as i32, 1));
    assert_eq!(one_by_one.surveys.len(), 2);
    for size in [events.len(), 4] {
        let batched = applied_in_batches_of(size, &events).await;
        assert_eq!(batched.reports, one_by_one.reports, "reports in batches of {size}");
        assert_eq!(batched.steps, one_by_one.steps, "timelines in batches of {size}");
        assert_eq!(batched.surveys, one_by_one.surveys, "surveys in batches of {size}");
        assert_eq!(batched.outbox, one_by_one.outbox, "outbox rows in batches of {size}");
    }
}

#[tokio::test]
async fn an_undecodable_event_fails_alone() {
    let fixture = filed().await;
    let mut events = lifecycle();
    events.insert(2, incoming("flywheel.dispatch.ticket.assigned", "t-a", vec![0xff, 0xff]));
    let batch: Vec<&IncomingEvent> = events.iter().collect();
    let txn = begin_write(&fixture.conn).await.unwrap();
    let failure = fixture.handler.handle_batch(&txn, &batch).await.unwrap_err();
    assert_eq!(failure.at, Some(2));
    assert!(matches!(failure.error, HandlerError::Permanent(_)), "{:?}", failure.error);
}

#[tokio::test]
async fn a_report_changed_meanwhile_is_not_overwritten() {
    let fixture = filed().await;
    let loaded = store::load_report(&fixture.conn, "r-a").await.unwrap();
    let mut held = store::with_history(&fixture.conn, vec![loaded.clone()]).await.unwrap().remove(0);
    // "Me too" from another resident commits first.
    store::save_report(&fixture.conn, report::Model { support_count: 1, ..loaded }).await.unwrap();
    held.row.status = ReportStatus::Accepted as i32;
    store::touch(&mut held.row, SUBMITTED_US + 1);
    let refused = store::save_changed(&fixture.conn, [&held]).await.unwrap_err();
    assert!(matches!(refused, Error::Aborted { current: 2, expected: 1, .. }), "{refused:?}");
    let stored = store::load_report(&fixture.conn, "r-a").await.unwrap();
    assert_eq!((stored.status, stored.support_count), (ReportStatus::Submitted as i32, 1));
}

#[tokio::test]
async fn a_ticket_finds_the_reports_linked_to_it_and_no_longer_those_linked_elsewhere() {
    let fixture = filed().await;
    let linked = |tickets: &'static [&'static str]| {
        let conn = fixture.conn.clone();
        async move {
            let rows = store::reports_for_tickets(&conn, &[], tickets).await.unwrap();
            let mut ids: Vec<String> = rows.into_iter().map(|r| r.id).collect();
            ids.sort();
            ids
        }
    };
    fixture.apply(&[event("created", ticket("t-a", "r-a", 1_900_000_000), "")]).await;
    // The primary, and the duplicate that follows it.
    assert_eq!(linked(&["t-a"]).await, ["r-a", "r-a-dup"]);
    // The same report is taken over by another ticket (in the same batch as an event of the first).
    fixture
        .apply(&[event("cancelled", ticket("t-a", "r-a", 1_900_000_000), ""), event("created", ticket("t-a2", "r-a", 1_900_000_000), "")])
        .await;
    assert_eq!(linked(&["t-a2"]).await, ["r-a", "r-a-dup"]);
    assert!(linked(&["t-a"]).await.is_empty(), "the report moved on to t-a2");
    assert!(linked(&["t-b"]).await.is_empty(), "t-b was never seen");
}

/// Statements `handle_batch` runs for `reports` reports whose tickets are created and assigned
/// in one batch.
async fn statements_for(reports: usize) -> usize {
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    let fixture = Fixture::with(|conn| conn.set_metric_callback(move |_| _ = counter.fetch_add(1, Ordering::Relaxed))).await;
    let ids: Vec<String> = (0..reports).map(|n| format!("r-{n:02}")).collect();
    for id in &ids {
        fixture.file(id, "").await;
    }
    let created = ids.iter().map(|id| event("created", ticket(&format!("t{id}"), id, 1_900_000_000), ""));
    let assigned = ids.iter().map(|id| event("assigned", ticket(&format!("t{id}"), id, 1_900_000_000), "Crew 7"));
    let events: Vec<IncomingEvent> = created.chain(assigned).collect();
    let batch: Vec<&IncomingEvent> = events.iter().collect();
    let txn = begin_write(&fixture.conn).await.unwrap();
    let before = count.load(Ordering::Relaxed);
    fixture.handler.handle_batch(&txn, &batch).await.unwrap();
    let statements = count.load(Ordering::Relaxed) - before;
    txn.commit().await.unwrap();
    statements
}

#[tokio::test]
async fn a_batch_costs_the_same_statements_whatever_its_size() {
    let (two, sixty_four) = (statements_for(1).await, statements_for(32).await);
    eprintln!("statements for 2 events: {two}, for 64 events: {sixty_four}");
    assert_eq!(two, sixty_four);
}

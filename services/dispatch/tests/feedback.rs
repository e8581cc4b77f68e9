//! Feedback's events over a real nats-server: a report that needs field work becomes exactly one
//! ticket however often it is delivered, and a reopen request reopens that ticket once.

mod common;

use common::*;
use flywheel_proto::flywheel::dispatch::v1::*;
use flywheel_proto::flywheel::feedback::v1 as feedback;
use flywheel_proto::flywheel::registry::v1 as registry;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

fn report(id: &str, site: &str, category: &str) -> feedback::Report {
    feedback::Report {
        id: id.into(),
        tracking_code: "R-0001".into(),
        site_id: site.into(),
        category_id: category.into(),
        description: "the lamp at the tower gate is out".into(),
        needs_field_work: true,
        correlation_id: "corr-report-1".into(),
        ..Default::default()
    }
}

async fn ticket_of(client: &Client, report_id: &str) -> Ticket {
    flywheel_testing::eventually(WAIT, || {
        let mut c = client.clone();
        let req = ListTicketsRequest { report_id: report_id.into(), ..Default::default() };
        async move { c.list_tickets(req).await.ok()?.into_inner().tickets.into_iter().next() }
    })
    .await
}

#[tokio::test]
async fn a_report_delivered_twice_makes_one_ticket_assigned_once() {
    let mut h = Harness::start().await;
    let d = district(&h, (HOUR, 8 * HOUR)).await;
    create_crew(&mut h.client, crew("tower", &[&d.tower.id], &[], 5)).await;
    let js = h.js().await;

    let r = report("report-1", &d.tower.id, &d.lights.id);
    let msg = feedback::ReportSubmitted { report: Some(r.clone()) };
    let event = publish(&js, "feedback", "flywheel.feedback.report.submitted", &r.id, &msg).await;
    republish(&js, &event, "second-delivery").await;
    // A different event about the same report (its classification) must not make a second one.
    let classified = feedback::ReportClassified { report: Some(r.clone()), classified_by: "staff-1".into() };
    publish(&js, "feedback", "flywheel.feedback.report.classified", &r.id, &classified).await;
    consumed(&js, "FLYWHEEL_FEEDBACK").await;

    let t = ticket_of(&h.client, &r.id).await;
    let all = h.client.list_tickets(ListTicketsRequest::default()).await.unwrap().into_inner().tickets;
    assert_eq!(all.len(), 1, "one ticket for the report");
    assert_eq!(t.state, TicketState::Assigned as i32);
    assert_eq!(t.correlation_id, "corr-report-1", "the report's correlation id follows the ticket");
    let origin = t.origin.clone().unwrap();
    assert_eq!((origin.kind, origin.report_id.as_str()), (TicketOriginKind::ResidentReport as i32, "report-1"));
    let full = get(&mut h.client, &t.id).await;
    assert_eq!(full.history[0].actor.as_ref().unwrap().kind, ActorKind::Service as i32);
    let events = ticket_events(&js, &t.id, |e| e.len() >= 2).await;
    assert_eq!(events, ["created", "assigned"], "assigned once");

    // "Me too" supports show on the ticket without changing its version.
    let supported = feedback::ReportSupported { report: Some(r.clone()), support_count: 3, ..Default::default() };
    publish(&js, "feedback", "flywheel.feedback.report.supported", &r.id, &supported).await;
    let t = until(&h.client, &t.id, |t| t.support_count == 3).await;
    assert_eq!(t.version, full.version);

    // The resident is not satisfied: the reopen request, delivered twice, reopens once.
    let c = &mut h.client;
    let t = c.accept_ticket(AcceptTicketRequest { ticket_id: t.id.clone(), version: t.version, ..Default::default() }).await.unwrap().into_inner();
    let t = c.start_ticket(StartTicketRequest { ticket_id: t.id.clone(), version: t.version, ..Default::default() }).await.unwrap().into_inner();
    let resolve = ResolveTicketRequest { ticket_id: t.id.clone(), version: t.version, code: 1, note: "new lamp".into(), ..Default::default() };
    let t = c.resolve_ticket(resolve).await.unwrap().into_inner();
    let reopen = feedback::ReportReopenRequested { report: Some(r.clone()), ticket_id: t.id.clone(), rating: 1, low_rating: true, survey_round: 1, ..Default::default() };
    let event = publish(&js, "feedback", "flywheel.feedback.report.reopen_requested", &r.id, &reopen).await;
    republish(&js, &event, "second-reopen").await;
    consumed(&js, "FLYWHEEL_FEEDBACK").await;
    let t = get(&mut h.client, &t.id).await;
    assert_eq!(t.reopen_count, 1);
    assert_eq!(t.state, TicketState::Assigned as i32, "reopened and dispatched again");
    let reopen_entry = t.history.iter().find(|e| e.action == TicketAction::Reopen as i32).unwrap();
    assert_eq!(reopen_entry.reopen_reason, ReopenReason::ResidentNotSatisfied as i32);
    let events = ticket_events(&js, &t.id, |e| e.len() >= 7).await;
    assert_eq!(events, ["created", "assigned", "accepted", "started", "resolved", "reopened", "assigned"]);

    // Fixed the second time: a satisfied rating closes the resolved ticket.
    let c = &mut h.client;
    let t = c.accept_ticket(AcceptTicketRequest { ticket_id: t.id.clone(), version: t.version, ..Default::default() }).await.unwrap().into_inner();
    let t = c.start_ticket(StartTicketRequest { ticket_id: t.id.clone(), version: t.version, ..Default::default() }).await.unwrap().into_inner();
    let resolve = ResolveTicketRequest { ticket_id: t.id.clone(), version: t.version, code: 1, note: "rewired".into(), ..Default::default() };
    let t = c.resolve_ticket(resolve).await.unwrap().into_inner();
    let rated = feedback::ReportRated { report: Some(r.clone()), ticket_id: t.id.clone(), rating: 5, survey_round: 2, ..Default::default() };
    publish(&js, "feedback", "flywheel.feedback.report.rated", &r.id, &rated).await;
    let t = until(&h.client, &t.id, |t| t.state == TicketState::Closed as i32).await;
    let closer = t.history.last().unwrap().actor.clone().unwrap();
    assert_eq!(closer.kind, ActorKind::System as i32);
}

#[tokio::test]
async fn reports_without_field_work_make_no_ticket() {
    let h = Harness::start().await;
    let d = district(&h, (HOUR, 8 * HOUR)).await;
    let js = h.js().await;
    let praise = feedback::Report { needs_field_work: false, ..report("praise-1", &d.tower.id, &d.lights.id) };
    publish(&js, "feedback", "flywheel.feedback.report.submitted", "praise-1", &feedback::ReportSubmitted { report: Some(praise) }).await;
    consumed(&js, "FLYWHEEL_FEEDBACK").await;
    let mut c = h.client.clone();
    assert!(c.list_tickets(ListTicketsRequest::default()).await.unwrap().into_inner().tickets.is_empty());
}

/// Reports that arrive together are ticketed in one batch exactly as one by one: one ticket per
/// report in arrival order (consecutive codes), each decision seeing the load of the ones
/// before it (no crew past its capacity), a "me too" between them applied to its ticket, and a
/// report that cannot be ticketed (its zone is of another site) dead-lettered without holding
/// up the others.
#[tokio::test]
async fn reports_arriving_together_are_ticketed_as_one_by_one() {
    let mut h = Harness::start().await;
    let d = district(&h, (HOUR, 8 * HOUR)).await;
    let small = create_crew(&mut h.client, crew("small", &[&d.tower.id], &[], 3)).await;
    let large = create_crew(&mut h.client, crew("large", &[&d.tower.id], &[], 100)).await;
    let js = h.js().await;
    let zone = registry::Zone { id: "wetland-boardwalk".into(), site_id: d.wetland.id.clone(), code: "boardwalk".into(), name: "Boardwalk".into(), status: 1, version: 1, ..Default::default() };
    publish(&js, "registry", "flywheel.registry.zone.created", &zone.id, &registry::ZoneCreated { zone: Some(zone.clone()) }).await;
    consumed(&js, "FLYWHEEL_REGISTRY").await;
    h.service.take().unwrap().stop().await.unwrap();

    let mut expected = Vec::new();
    for i in 0..20 {
        let r = report(&format!("report-{i:02}"), &d.tower.id, &d.lights.id);
        publish(&js, "feedback", "flywheel.feedback.report.submitted", &r.id, &feedback::ReportSubmitted { report: Some(r.clone()) }).await;
        match i {
            5 => {
                let wrong_zone = feedback::Report { zone_id: zone.id.clone(), ..report("report-wrong-zone", &d.tower.id, &d.lights.id) };
                let msg = feedback::ReportSubmitted { report: Some(wrong_zone) };
                publish(&js, "feedback", "flywheel.feedback.report.submitted", "report-wrong-zone", &msg).await;
            }
            8 => {
                let supported = feedback::ReportSupported { report: Some(r.clone()), support_count: 4, ..Default::default() };
                publish(&js, "feedback", "flywheel.feedback.report.supported", &r.id, &supported).await;
            }
            12 => {
                // The same report again, classified: no second ticket.
                let classified = feedback::ReportClassified { report: Some(r.clone()), classified_by: "staff-1".into() };
                publish(&js, "feedback", "flywheel.feedback.report.classified", &r.id, &classified).await;
            }
            _ => {}
        }
        expected.push(r.id);
    }
    h.restart().await;
    consumed(&js, "FLYWHEEL_FEEDBACK").await;

    let list = ListTicketsRequest { page_size: 100, ..Default::default() };
    let mut tickets = h.client.list_tickets(list).await.unwrap().into_inner().tickets;
    tickets.sort_by_key(|t| t.origin.clone().unwrap_or_default().report_id);
    let reports: Vec<String> = tickets.iter().map(|t| t.origin.clone().unwrap_or_default().report_id).collect();
    assert_eq!(reports, expected, "one ticket per report, none for the wrong zone");
    let numbers: Vec<i64> = tickets.iter().map(|t| t.code.rsplit('-').next().unwrap().parse().unwrap()).collect();
    assert_eq!(numbers, (1..=20).collect::<Vec<i64>>(), "codes in arrival order: {:?}", tickets.iter().map(|t| &t.code).collect::<Vec<_>>());
    assert!(tickets.iter().all(|t| t.state == TicketState::Assigned as i32), "every ticket assigned");
    assert_eq!(tickets[8].support_count, 4, "the support between the reports reached its ticket");
    for c in [&small, &large] {
        let assigned = tickets.iter().filter(|t| t.crew_id == c.id).count() as i32;
        let now = h.client.get_crew(GetCrewRequest { id: c.id.clone() }).await.unwrap().into_inner();
        assert_eq!(now.open_ticket_count, assigned, "crew {} counts the tickets it was given", c.code);
        assert!(assigned <= c.capacity, "crew {} got {assigned} tickets, past its capacity {}", c.code, c.capacity);
    }
}

/// Feedback's own bookkeeping between reports (status changes, duplicate links), which a
/// consumer created before its filter narrowed still receives, changes nothing and does not
/// split the reports around it: they are ticketed as one run, at one instant.
#[tokio::test]
async fn events_that_change_no_ticket_leave_the_reports_around_them_one_run() {
    use flywheel_runtime::events::consumer::apply_batch_once;
    use flywheel_runtime::events::{outbox::Outbox, IncomingEvent};

    let mut h = Harness::start().await;
    let d = district(&h, (HOUR, 8 * HOUR)).await;
    create_crew(&mut h.client, crew("tower", &[&d.tower.id], &[], 100)).await;
    h.service.take().unwrap().stop().await.unwrap();

    let db = flywheel_runtime::db::connect_and_migrate::<flywheel_dispatch::migration::Migrator>(&h.db.url()).await.unwrap();
    let intake = flywheel_dispatch::consumers::FeedbackIntake {
        dispatch: flywheel_dispatch::app::Dispatch::new(flywheel_runtime::writer::Writer::new(db.clone(), Outbox::new())),
    };
    let event = |n: usize, subject: &str, payload: Vec<u8>| IncomingEvent {
        id: format!("event-{n}"),
        subject: subject.into(),
        source: "feedback".into(),
        aggregate_id: format!("report-{n}"),
        correlation_id: format!("corr-{n}"),
        time_us: flywheel_runtime::db::now_micros(),
        payload: payload.into(),
    };
    let submitted = |n: usize| {
        let r = report(&format!("report-{n}"), &d.tower.id, &d.lights.id);
        event(n, "flywheel.feedback.report.submitted", prost::Message::encode_to_vec(&feedback::ReportSubmitted { report: Some(r) }))
    };
    let events = [
        submitted(0),
        event(1, "flywheel.feedback.report.status_changed", b"not read".to_vec()),
        submitted(2),
        event(3, "flywheel.feedback.report.linked_as_duplicate", b"not read".to_vec()),
        submitted(4),
    ];
    apply_batch_once(&db, "dispatch", &intake, &events.iter().collect::<Vec<_>>()).await.unwrap();
    db.close().await.unwrap();
    h.restart().await;

    let list = ListTicketsRequest { page_size: 100, ..Default::default() };
    let mut tickets = h.client.list_tickets(list).await.unwrap().into_inner().tickets;
    tickets.sort_by(|a, b| a.code.cmp(&b.code));
    let reports: Vec<String> = tickets.iter().map(|t| t.origin.clone().unwrap_or_default().report_id).collect();
    assert_eq!(reports, ["report-0", "report-2", "report-4"]);
    let created: Vec<i64> = tickets.iter().map(|t| micros(t.create_time.as_ref().unwrap())).collect();
    assert!(created.iter().all(|c| *c == created[0]), "one run, one creation instant: {created:?}");
}

//! Two dispatch replicas on one database and one NATS: they share the consumers' work and race
//! for the same waiting tickets, yet every ticket is created once and assigned exactly once.

mod common;

use common::*;
use flywheel_proto::flywheel::dispatch::v1::*;
use flywheel_proto::flywheel::feedback::v1 as feedback;
use prost::Message;
use std::collections::HashMap;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);
/// Reports published; the issue asks for 1,000.
const REPORTS: usize = 1000;

#[tokio::test]
async fn two_replicas_assign_each_ticket_exactly_once() {
    let mut h = Harness::start().await;
    let (_second, mut other) = start(&h.db, &h.nats, &h.auth).await;
    let d = district(&h, (HOUR, 8 * HOUR)).await;
    // Room for a tenth of the work at first: most tickets wait, unassignable.
    let mut crews = Vec::new();
    for i in 0..4 {
        crews.push(create_crew(&mut h.client, crew(&format!("crew-{i}"), &[], &[&d.district], (REPORTS / 40) as i32)).await);
    }

    let js = h.js().await;
    for i in 0..REPORTS {
        let site = if i % 2 == 0 { &d.tower.id } else { &d.wetland.id };
        let report = feedback::Report {
            id: format!("report-{i}"),
            site_id: site.clone(),
            category_id: d.lights.id.clone(),
            description: format!("problem {i}"),
            needs_field_work: true,
            ..Default::default()
        };
        let msg = feedback::ReportSubmitted { report: Some(report) };
        let event = publish(&js, "feedback", "flywheel.feedback.report.submitted", &format!("report-{i}"), &msg).await;
        if i % 10 == 0 {
            republish(&js, &event, &format!("again-{i}")).await;
        }
    }
    // A thousand events through two replicas on one SQLite file take a while on a busy machine.
    consumed_within(&js, "FLYWHEEL_FEEDBACK", Duration::from_secs(180)).await;

    // Capacity grows on both replicas at once: both retry the same waiting tickets.
    let grow = |c: &Crew| UpdateCrewRequest { crew: Some(Crew { id: c.id.clone(), version: c.version, capacity: 1000, ..Default::default() }), update_mask: mask(&["capacity"]) };
    let (r0, r1) = tokio::join!(h.client.update_crew(grow(&crews[0])), other.update_crew(grow(&crews[1])));
    r0.unwrap();
    r1.unwrap();

    flywheel_testing::eventually(Duration::from_secs(120), || {
        let mut c = h.client.clone();
        let waiting = ListTicketsRequest { states: vec![TicketState::New as i32], page_size: 1, ..Default::default() };
        async move { c.list_tickets(waiting).await.ok()?.into_inner().tickets.is_empty().then_some(()) }
    })
    .await;
    let tickets = list_all(&mut h.client).await;
    assert_eq!(tickets.len(), REPORTS);
    assert!(tickets.iter().all(|t| t.state == TicketState::Assigned as i32));
    for t in &tickets {
        let assigns = t.history.iter().filter(|e| [TicketAction::Assign as i32, TicketAction::Reassign as i32].contains(&e.action)).count();
        assert_eq!(assigns, 1, "ticket {} assigned {assigns} times", t.id);
    }
    // The relays publish some 3,000 events of this run (created, unassignable, assigned): give
    // them as long as the consumers had on a busy machine.
    let assigned_events = flywheel_testing::eventually(Duration::from_secs(180), || async {
        let events: Vec<TicketAssigned> = dispatch_events(&js)
            .await
            .into_iter()
            .filter(|(s, _, _)| s == "flywheel.dispatch.ticket.assigned")
            .map(|(_, _, body)| TicketAssigned::decode(body).unwrap())
            .collect();
        (events.len() >= REPORTS).then_some(events)
    })
    .await;
    let mut per_ticket: HashMap<String, usize> = HashMap::new();
    for e in &assigned_events {
        *per_ticket.entry(e.ticket.clone().unwrap().id).or_default() += 1;
    }
    assert_eq!(per_ticket.len(), REPORTS);
    assert!(per_ticket.values().all(|n| *n == 1), "one TicketAssigned per ticket");
    let mut held = 0;
    for c in &crews {
        held += h.client.get_crew(GetCrewRequest { id: c.id.clone() }).await.unwrap().into_inner().open_ticket_count;
    }
    assert_eq!(held as usize, REPORTS, "the crews' loads add up");
}

async fn list_all(c: &mut Client) -> Vec<Ticket> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let req = ListTicketsRequest { page_size: 500, page_token: token, view: TicketView::Full as i32, ..Default::default() };
        let page = c.list_tickets(req).await.unwrap().into_inner();
        out.extend(page.tickets);
        if page.next_page_token.is_empty() {
            return out;
        }
        token = page.next_page_token;
    }
}

#[tokio::test]
async fn two_replicas_fire_each_sla_mark_once() {
    const TICKETS: usize = 30;
    let mut h = Harness::start().await;
    let (_second, mut other) = start(&h.db, &h.nats, &h.auth).await;
    // Resolve within 3 s: warnings at 1.5 s and 2.25 s, the breach at 3 s; both replicas watch.
    let d = district(&h, (HOUR, Duration::from_secs(3))).await;
    create_crew(&mut h.client, crew("only", &[], &[&d.city], 1000)).await;
    let mut ids = Vec::new();
    for i in 0..TICKETS {
        let client = if i % 2 == 0 { &mut h.client } else { &mut other };
        ids.push(create_ticket(client, ticket(&d.tower.id, &d.lights.id)).await.id);
    }
    for id in &ids {
        let t = until(&h.client, id, |t| t.history.iter().any(|e| e.action == TicketAction::Escalate as i32)).await;
        let count = |a: TicketAction| t.history.iter().filter(|e| e.action == a as i32).count();
        assert_eq!((count(TicketAction::SlaWarning), count(TicketAction::SlaBreach), count(TicketAction::Escalate)), (2, 1, 1), "ticket {id}");
    }
    let breaches = flywheel_testing::eventually(WAIT, || async {
        let b: Vec<String> = dispatch_events(&h.js().await)
            .await
            .into_iter()
            .filter(|(s, _, _)| s == "flywheel.dispatch.ticket.sla_breached")
            .map(|(_, agg, _)| agg)
            .collect();
        (b.len() >= TICKETS).then_some(b)
    })
    .await;
    let unique: std::collections::HashSet<_> = breaches.iter().collect();
    assert_eq!((breaches.len(), unique.len()), (TICKETS, TICKETS), "one breach event per ticket");
}

//! SLA clocks over restarts: deadlines are stored, the scheduler re-arms them when a new process
//! starts, and each warning and breach fires once, with the escalation a breach brings.

mod common;

use common::*;
use flywheel_proto::flywheel::dispatch::v1::*;
use prost::Message;
use std::time::Duration;

fn count(t: &Ticket, action: TicketAction) -> usize {
    t.history.iter().filter(|e| e.action == action as i32).count()
}

#[tokio::test]
async fn warnings_and_breaches_fire_once_across_restarts_and_escalate() {
    let mut h = Harness::start().await;
    // Acknowledge within 2 s, resolve within 6 s: warnings at 3 s and 4.5 s, breach at 6 s.
    let d = district(&h, (Duration::from_secs(2), Duration::from_secs(6))).await;
    let supervisor = create_crew(&mut h.client, crew("supervisors", &[&d.wetland.id], &[], 5)).await;
    let mut field = crew("field", &[&d.tower.id], &[], 5);
    field.supervisor_crew_id = supervisor.id.clone();
    let field = create_crew(&mut h.client, field).await;
    let t = create_ticket(&mut h.client, ticket(&d.tower.id, &d.lights.id)).await;
    assert_eq!((t.crew_id.as_str(), t.priority), (field.id.as_str(), 3));

    // The acknowledge breach and the 50% warning fire in the first process.
    let t = until(&h.client, &t.id, |t| count(t, TicketAction::SlaWarning) >= 1).await;
    assert_eq!(count(&t, TicketAction::SlaBreach), 1);
    assert_eq!(t.priority, 2, "the acknowledge breach raised the priority");
    assert_eq!(t.crew_id, field.id, "no other crew covers the site, so the ticket stays");

    // The rest fire in the next one, which only knows the stored deadlines.
    h.restart().await;
    let t = until(&h.client, &t.id, |t| count(t, TicketAction::SlaBreach) >= 2).await;
    h.restart().await;
    let t2 = get(&mut h.client, &t.id).await;
    assert_eq!(count(&t2, TicketAction::SlaWarning), 2);
    assert_eq!(count(&t2, TicketAction::SlaBreach), 2);
    assert_eq!(count(&t2, TicketAction::Escalate), 2);
    assert_eq!(t2.priority, 1);
    let sla = t2.sla.unwrap();
    assert!(sla.acknowledge_breached && sla.resolve_breached && sla.warning_50_fired && sla.warning_75_fired);
    assert_eq!(sla.stage, SlaStage::Breached as i32);
    assert_eq!(t2.history.len(), t.history.len(), "nothing fired again after the restart");

    let js = h.js().await;
    let names = ticket_events(&js, &t.id, |e| e.len() >= 8).await;
    assert_eq!(
        names,
        ["created", "assigned", "sla_breached", "escalated", "sla_warning", "sla_warning", "sla_breached", "escalated"]
    );
    let escalations: Vec<TicketEscalated> = dispatch_events(&js)
        .await
        .into_iter()
        .filter(|(s, _, _)| s.ends_with(".escalated"))
        .map(|(_, _, body)| TicketEscalated::decode(body).unwrap())
        .collect();
    assert_eq!(escalations.len(), 2);
    assert!(escalations.iter().all(|e| e.supervisor_crew_id == supervisor.id), "the supervising crew is notified");
    let triggers: Vec<_> = escalations.iter().map(|e| (e.trigger, e.previous_priority, e.priority, e.redispatched)).collect();
    let (ack, resolve) = (EscalationTrigger::AcknowledgeBreach as i32, EscalationTrigger::ResolveBreach as i32);
    assert_eq!(triggers, [(ack, 3, 2, true), (resolve, 2, 1, true)], "never accepted, so each re-dispatched");
}

#[tokio::test]
async fn a_hold_pauses_the_resolve_clock() {
    let mut h = Harness::start().await;
    let d = district(&h, (Duration::from_secs(3600), Duration::from_secs(4))).await;
    create_crew(&mut h.client, crew("field", &[&d.tower.id], &[], 5)).await;
    let t = create_ticket(&mut h.client, ticket(&d.tower.id, &d.lights.id)).await;
    let c = &mut h.client;
    let t = c.accept_ticket(AcceptTicketRequest { ticket_id: t.id.clone(), version: t.version, ..Default::default() }).await.unwrap().into_inner();
    let hold = PutTicketOnHoldRequest { ticket_id: t.id.clone(), version: t.version, reason: HoldReason::Weather as i32, ..Default::default() };
    let held = c.put_ticket_on_hold(hold).await.unwrap().into_inner();
    let due_before = micros(held.sla.as_ref().unwrap().resolve_due_time.as_ref().unwrap());
    let resume = ResumeTicketRequest { ticket_id: t.id.clone(), version: held.version, ..Default::default() };
    let resumed = c.resume_ticket(resume).await.unwrap().into_inner();
    let sla = resumed.sla.unwrap();
    let paused = sla.paused_duration.unwrap();
    let paused_us = paused.seconds * 1_000_000 + i64::from(paused.nanos) / 1000;
    assert!(paused_us > 0);
    assert_eq!(micros(sla.resolve_due_time.as_ref().unwrap()), due_before + paused_us, "the deadline moved by the hold");
    let t = until(&h.client, &t.id, |t| count(t, TicketAction::SlaBreach) == 1).await;
    assert_eq!(count(&t, TicketAction::SlaWarning), 2);
}

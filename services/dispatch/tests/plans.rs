//! Work plans: one ticket per occurrence, with two replicas running the scheduler and across a
//! restart.

mod common;

use common::*;
use flywheel_proto::flywheel::dispatch::v1::*;
use std::collections::HashSet;
use std::time::Duration;
use tonic::Code;

const HOUR_US: i64 = 3_600_000_000;

fn ts(us: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: us.div_euclid(1_000_000), nanos: (us.rem_euclid(1_000_000) * 1000) as i32 }
}

/// Occurrences at 00:00 and 12:00 UTC in [from, to).
fn expected(from: i64, to: i64) -> usize {
    let first = from.div_euclid(12 * HOUR_US) * 12 * HOUR_US;
    (0..20).map(|i| first + i * 12 * HOUR_US).filter(|t| *t >= from && *t < to).count()
}

async fn plan_tickets(client: &Client, plan_id: &str, n: usize) -> Vec<Ticket> {
    flywheel_testing::eventually(WAIT, || {
        let mut c = client.clone();
        let req = ListTicketsRequest { plan_id: plan_id.into(), page_size: 100, ..Default::default() };
        async move {
            let tickets = c.list_tickets(req).await.ok()?.into_inner().tickets;
            (tickets.len() >= n).then_some(tickets)
        }
    })
    .await
}

#[tokio::test]
async fn each_occurrence_makes_one_ticket_across_replicas_and_restarts() {
    let mut h = Harness::start().await;
    let (_second, _) = start(&h.db, &h.nats, &h.auth).await;
    let d = district(&h, (Duration::from_secs(3600), Duration::from_secs(8 * 3600))).await;
    let fixed = create_crew(&mut h.client, crew("fire-safety", &[], &[&d.city], 100)).await;
    let now = flywheel_runtime::db::now_micros();
    let end = now + 72 * HOUR_US;
    let plan = WorkPlan {
        code: "tower-fire-exits".into(),
        name: "Fire exit check".into(),
        kind: WorkPlanKind::Inspection as i32,
        site_id: d.tower.id.clone(),
        category_id: d.lights.id.clone(),
        description: "walk every fire exit".into(),
        crew_id: fixed.id.clone(),
        recurrence: Some(Recurrence {
            frequency: RecurrenceFrequency::Daily as i32,
            start_minutes_of_day: vec![0, 720],
            time_zone: "UTC".into(),
            start_time: Some(ts(now)),
            end_time: Some(ts(end)),
            ..Default::default()
        }),
        // A week ahead: every occurrence of the three days is due at once.
        create_ahead: Some(prost_types::Duration { seconds: 7 * 86_400, nanos: 0 }),
        ..Default::default()
    };
    let created = h.client.create_work_plan(CreateWorkPlanRequest { plan: Some(plan.clone()), request_id: String::new() }).await.unwrap().into_inner();
    assert_eq!(created.active, Some(true));
    let n = expected(now, end);
    let tickets = plan_tickets(&h.client, &created.id, n).await;
    let occurrences: HashSet<_> = tickets.iter().map(|t| t.origin.clone().unwrap().occurrence_time.unwrap().seconds).collect();
    assert_eq!((tickets.len(), occurrences.len()), (n, n), "one ticket per occurrence");
    assert!(tickets.iter().all(|t| t.crew_id == fixed.id && t.state == TicketState::Assigned as i32));
    assert!(tickets.iter().all(|t| t.origin.as_ref().unwrap().kind == TicketOriginKind::Inspection as i32));
    let p = flywheel_testing::eventually(WAIT, || {
        let mut c = h.client.clone();
        let id = created.id.clone();
        async move {
            let p = c.get_work_plan(GetWorkPlanRequest { id }).await.ok()?.into_inner();
            (p.tickets_created == n as i64).then_some(p)
        }
    })
    .await;
    assert!(p.next_occurrence_time.is_none(), "the plan has ended");

    // After a restart the plan goes on from where it stood: one more day, two more tickets.
    h.restart().await;
    let mut longer = plan.recurrence.clone().unwrap();
    longer.end_time = Some(ts(end + 24 * HOUR_US));
    let update = UpdateWorkPlanRequest {
        plan: Some(WorkPlan { id: p.id.clone(), version: p.version, recurrence: Some(longer), ..Default::default() }),
        update_mask: mask(&["recurrence"]),
    };
    h.client.update_work_plan(update).await.unwrap();
    let n2 = expected(now, end + 24 * HOUR_US);
    let tickets = plan_tickets(&h.client, &p.id, n2).await;
    let occurrences: HashSet<_> = tickets.iter().map(|t| t.origin.clone().unwrap().occurrence_time.unwrap().seconds).collect();
    assert_eq!((tickets.len(), occurrences.len()), (n2, n2));

    let again = h.client.create_work_plan(CreateWorkPlanRequest { plan: Some(plan), request_id: String::new() }).await.unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);
}

#[tokio::test]
async fn plans_are_checked() {
    let mut h = Harness::start().await;
    let d = district(&h, (Duration::from_secs(3600), Duration::from_secs(8 * 3600))).await;
    let bad = WorkPlan {
        code: "x".into(),
        name: "x".into(),
        kind: 1,
        site_id: d.tower.id.clone(),
        category_id: d.lights.id.clone(),
        description: "x".into(),
        recurrence: Some(Recurrence { frequency: 1, start_minutes_of_day: vec![], time_zone: "UTC".into(), ..Default::default() }),
        ..Default::default()
    };
    let status = h.client.create_work_plan(CreateWorkPlanRequest { plan: Some(bad.clone()), request_id: String::new() }).await.unwrap_err();
    let fields: Vec<_> = tonic_types::StatusExt::get_error_details(&status).bad_request().unwrap().field_violations.iter().map(|f| f.field.clone()).collect();
    assert_eq!(fields, ["plan.recurrence.start_minutes_of_day", "plan.recurrence.start_time"]);
    let mut unknown = bad;
    unknown.site_id = "nowhere".into();
    unknown.recurrence = Some(Recurrence { frequency: 1, start_minutes_of_day: vec![0], time_zone: "UTC".into(), start_time: Some(ts(0)), ..Default::default() });
    let status = h.client.create_work_plan(CreateWorkPlanRequest { plan: Some(unknown), request_id: String::new() }).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

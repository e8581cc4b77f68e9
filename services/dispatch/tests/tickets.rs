//! Tickets over real gRPC: creation against the registry replica, automatic dispatch with its
//! scores in the history, every transition with its event, versions and illegal transitions.

mod common;

use common::*;
use flywheel_testing::{Role, TestAuth};
use flywheel_proto::flywheel::dispatch::v1::*;
use flywheel_proto::flywheel::registry::v1 as registry;
use std::time::Duration;
use tonic::Code;

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn a_ticket_goes_through_its_whole_life_with_one_event_per_change() {
    let mut h = Harness::start().await;
    let d = district(&h, (HOUR, 8 * HOUR)).await;
    let near = create_crew(&mut h.client, crew("near", &[&d.tower.id], &[], 5)).await;
    let mut far = crew("far", &[], &[&d.district], 5);
    far.base_location = Some(flywheel_proto::flywheel::common::v1::GeoPoint { lat: 23.3, lng: 113.6 });
    create_crew(&mut h.client, far).await;

    let t = create_ticket(&mut h.client, ticket(&d.tower.id, &d.lights.id)).await;
    assert_eq!(t.state, TicketState::Assigned as i32);
    assert_eq!(t.crew_id, near.id);
    assert_eq!(t.region_path, ["gz", "haizhu", "chigang"]);
    assert_eq!(t.priority, 3, "the category's default priority");
    assert_eq!(t.title, "Category street-light-out");
    let full = get(&mut h.client, &t.id).await;
    assert_eq!(actions(&full), [TicketAction::Create, TicketAction::Assign]);
    let decision = full.history[1].dispatch.clone().unwrap();
    assert_eq!(decision.chosen.as_ref().unwrap().crew_id, near.id);
    assert_eq!(decision.runners_up.len(), 1, "the runner-up's score is recorded too");
    assert!(decision.chosen.unwrap().total_score > decision.runners_up[0].total_score);

    // Commands name the version they expect; the state machine decides what may happen.
    let stale = h.client.accept_ticket(AcceptTicketRequest { ticket_id: t.id.clone(), version: t.version - 1, ..Default::default() }).await.unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let early = h.client.start_ticket(StartTicketRequest { ticket_id: t.id.clone(), version: t.version, ..Default::default() }).await.unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition);
    assert!(early.message().contains("ASSIGNED"), "{}", early.message());

    let c = &mut h.client;
    let t = c.accept_ticket(AcceptTicketRequest { ticket_id: t.id.clone(), version: t.version, ..Default::default() }).await.unwrap().into_inner();
    assert!(t.sla.as_ref().unwrap().acknowledged_within_sla == Some(true));
    let t = c.start_ticket(StartTicketRequest { ticket_id: t.id.clone(), version: t.version, ..Default::default() }).await.unwrap().into_inner();
    let hold = PutTicketOnHoldRequest { ticket_id: t.id.clone(), version: t.version, reason: HoldReason::WaitingForParts as i32, ..Default::default() };
    let t = c.put_ticket_on_hold(hold).await.unwrap().into_inner();
    assert_eq!(t.state, TicketState::OnHold as i32);
    assert_eq!(t.held_from_state, TicketState::InProgress as i32);
    assert!(t.sla.as_ref().unwrap().paused_since.is_some());
    let t = c.resume_ticket(ResumeTicketRequest { ticket_id: t.id.clone(), version: t.version, ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(t.state, TicketState::InProgress as i32);
    let no_note = c.resolve_ticket(ResolveTicketRequest { ticket_id: t.id.clone(), version: t.version, code: 1, ..Default::default() }).await.unwrap_err();
    assert_eq!(no_note.code(), Code::InvalidArgument);
    let resolve = ResolveTicketRequest { ticket_id: t.id.clone(), version: t.version, code: 1, note: "replaced the lamp".into(), ..Default::default() };
    let t = c.resolve_ticket(resolve).await.unwrap().into_inner();
    assert_eq!(t.resolution.as_ref().unwrap().crew_id, near.id);
    let t = c.close_ticket(CloseTicketRequest { ticket_id: t.id.clone(), version: t.version, ..Default::default() }).await.unwrap().into_inner();
    let reopen = ReopenTicketRequest { ticket_id: t.id.clone(), version: t.version, reason: ReopenReason::Recurred as i32, ..Default::default() };
    let t = c.reopen_ticket(reopen).await.unwrap().into_inner();
    assert_eq!(t.state, TicketState::Assigned as i32, "a reopened ticket is dispatched again");
    assert_eq!((t.reopen_count, t.sla.as_ref().unwrap().cycle), (1, 2));
    assert!(t.resolution.is_none());
    let cancel = CancelTicketRequest { ticket_id: t.id.clone(), version: t.version, reason: CancelReason::Other as i32, note: String::new(), ..Default::default() };
    assert_eq!(c.cancel_ticket(cancel.clone()).await.unwrap_err().code(), Code::InvalidArgument, "OTHER needs a note");
    let t = c.cancel_ticket(CancelTicketRequest { note: "duplicate of another".into(), ..cancel }).await.unwrap().into_inner();
    let late = c.reopen_ticket(ReopenTicketRequest { ticket_id: t.id.clone(), version: t.version, reason: 3, ..Default::default() }).await.unwrap_err();
    assert!(late.message().contains("CANCELLED"));

    let full = get(&mut h.client, &t.id).await;
    use TicketAction as A;
    assert_eq!(
        actions(&full),
        [A::Create, A::Assign, A::Accept, A::Start, A::PutOnHold, A::Resume, A::Resolve, A::Close, A::Reopen, A::Assign, A::Cancel]
    );
    assert!(full.history.iter().enumerate().all(|(i, e)| e.sequence == i as i64 + 1));
    let js = h.js().await;
    let events = ticket_events(&js, &t.id, |e| e.len() >= 11).await;
    assert_eq!(
        events,
        ["created", "assigned", "accepted", "started", "put_on_hold", "resumed", "resolved", "closed", "reopened", "assigned", "cancelled"]
    );
    let crew = h.client.get_crew(GetCrewRequest { id: near.id.clone() }).await.unwrap().into_inner();
    assert_eq!(crew.open_ticket_count, 0, "a cancelled ticket frees the crew");
    assert!(crew.on_shift && crew.last_assignment_time.is_some());
}

#[tokio::test]
async fn tickets_need_a_known_active_site_and_category() {
    let mut h = Harness::start().await;
    let d = district(&h, (HOUR, 8 * HOUR)).await;
    let unknown = h.client.create_ticket(CreateTicketRequest { ticket: Some(ticket("nowhere", &d.lights.id)), request_id: String::new() }).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    let js = h.js().await;
    let mut retired = d.wetland.clone();
    retired.status = registry::Status::Retired as i32;
    retired.version = 2;
    let msg = registry::SiteRetired { site: Some(retired), reason: "contract ended".into() };
    publish(&js, "registry", "flywheel.registry.site.retired", &d.wetland.id, &msg).await;
    let status = flywheel_testing::eventually(WAIT, || {
        let mut c = h.client.clone();
        let t = ticket(&d.wetland.id, &d.lights.id);
        async move {
            let r = c.create_ticket(CreateTicketRequest { ticket: Some(t), request_id: String::new() }).await;
            r.err().filter(|s| s.code() == Code::FailedPrecondition)
        }
    })
    .await;
    assert!(status.message().contains("RETIRED"));

    let bad = Ticket { description: String::new(), priority: 7, ..ticket(&d.tower.id, &d.lights.id) };
    let status = h.client.create_ticket(CreateTicketRequest { ticket: Some(bad), request_id: String::new() }).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<_> = tonic_types::StatusExt::get_error_details(&status).bad_request().unwrap().field_violations.iter().map(|f| f.field.clone()).collect();
    assert_eq!(fields, ["ticket.priority", "ticket.description"]);

    // A retry with the same request id returns the first ticket.
    let req = CreateTicketRequest { ticket: Some(ticket(&d.tower.id, &d.lights.id)), request_id: "r-1".into() };
    let first = h.client.create_ticket(req.clone()).await.unwrap().into_inner();
    let again = h.client.create_ticket(req).await.unwrap().into_inner();
    assert_eq!(first.id, again.id);
}

#[tokio::test]
async fn without_an_eligible_crew_a_ticket_waits_and_is_retried_when_crews_change() {
    let mut h = Harness::start().await;
    let d = district(&h, (HOUR, 8 * HOUR)).await;
    let t = create_ticket(&mut h.client, ticket(&d.wetland.id, &d.lights.id)).await;
    assert_eq!(t.state, TicketState::New as i32);
    assert_eq!(t.unassignable_reason, UnassignableReason::NoCrewCoversSite as i32);
    assert!(t.unassignable_since.is_some() && !t.unassignable_detail.is_empty());

    let mut unskilled = crew("cleaners", &[&d.wetland.id], &[], 3);
    unskilled.skills = vec!["cleaning".into()];
    create_crew(&mut h.client, unskilled).await;
    let t = until(&h.client, &t.id, |t| t.unassignable_reason == UnassignableReason::NoCrewWithSkills as i32).await;
    assert_eq!(t.state, TicketState::New as i32);

    let electricians = create_crew(&mut h.client, crew("electricians", &[], &[&d.district], 3)).await;
    let t = until(&h.client, &t.id, |t| t.state == TicketState::Assigned as i32).await;
    assert_eq!(t.crew_id, electricians.id);
    assert_eq!(t.unassignable_reason, 0);
    let js = h.js().await;
    let events = ticket_events(&js, &t.id, |e| e.len() >= 4).await;
    assert_eq!(events, ["created", "marked_unassignable", "marked_unassignable", "assigned"]);
}

#[tokio::test]
async fn dispatchers_assign_reassign_and_move_tickets_in_bulk() {
    let mut h = Harness::start().await;
    let d = district(&h, (HOUR, 8 * HOUR)).await;
    let a = create_crew(&mut h.client, crew("a", &[&d.tower.id], &[], 1)).await;
    let b = create_crew(&mut h.client, crew("b", &[&d.tower.id], &[], 1)).await;
    let outside = create_crew(&mut h.client, crew("outside", &[&d.wetland.id], &[], 1)).await;
    let t1 = create_ticket(&mut h.client, ticket(&d.tower.id, &d.lights.id)).await;
    let t2 = create_ticket(&mut h.client, ticket(&d.tower.id, &d.lights.id)).await;
    let t3 = create_ticket(&mut h.client, ticket(&d.tower.id, &d.lights.id)).await;
    assert_eq!([&t1.crew_id, &t2.crew_id], [&a.id, &b.id], "capacity 1 each, ties by crew id");
    assert_eq!(t3.unassignable_reason, UnassignableReason::AllCrewsAtCapacity as i32);

    // Manual assignment ignores capacity but not coverage, unless told to.
    let assign = AssignTicketRequest { ticket_id: t3.id.clone(), version: t3.version, crew_id: outside.id.clone(), ..Default::default() };
    let refused = h.client.assign_ticket(assign.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let t3 = h.client.assign_ticket(AssignTicketRequest { override_eligibility: true, ..assign }).await.unwrap().into_inner();
    assert_eq!(t3.crew_id, outside.id);

    let same = ReassignTicketRequest { ticket_id: t1.id.clone(), version: t1.version, crew_id: a.id.clone(), ..Default::default() };
    assert_eq!(h.client.reassign_ticket(same).await.unwrap_err().code(), Code::FailedPrecondition);
    let t1 = h.client.reassign_ticket(ReassignTicketRequest { ticket_id: t1.id.clone(), version: t1.version, crew_id: b.id.clone(), ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(t1.crew_id, b.id);
    let full = get(&mut h.client, &t1.id).await;
    assert_eq!(full.history.last().unwrap().previous_crew_id, a.id);

    let bulk = BulkReassignTicketsRequest {
        tickets: vec![TicketRef { ticket_id: t1.id.clone(), version: t1.version }, TicketRef { ticket_id: t2.id.clone(), version: t2.version + 5 }],
        to_crew_id: a.id.clone(),
        ..Default::default()
    };
    let res = h.client.bulk_reassign_tickets(bulk.clone()).await.unwrap().into_inner();
    assert_eq!((res.reassigned_count, res.failed_count), (1, 1));
    assert_eq!(res.results[1].error_code, "ABORTED");
    let t2 = get(&mut h.client, &t2.id).await;
    let t1 = get(&mut h.client, &t1.id).await;
    let atomic = BulkReassignTicketsRequest {
        tickets: vec![TicketRef { ticket_id: t2.id.clone(), version: t2.version }, TicketRef { ticket_id: t1.id.clone(), version: t1.version }],
        to_crew_id: a.id.clone(),
        all_or_nothing: true,
        ..Default::default()
    };
    let failed = h.client.bulk_reassign_tickets(atomic).await.unwrap_err();
    assert_eq!(failed.code(), Code::FailedPrecondition, "t1 is already with crew a");
    assert_eq!(get(&mut h.client, &t2.id).await.crew_id, b.id, "nothing changed");
}

#[tokio::test]
async fn lists_filter_and_page() {
    let mut h = Harness::start().await;
    let d = district(&h, (HOUR, 8 * HOUR)).await;
    let a = create_crew(&mut h.client, crew("a", &[&d.tower.id], &[], 100)).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(create_ticket(&mut h.client, ticket(&d.tower.id, &d.lights.id)).await.id);
    }
    for _ in 0..2 {
        create_ticket(&mut h.client, ticket(&d.wetland.id, &d.lights.id)).await;
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let req = ListTicketsRequest { crew_id: a.id.clone(), page_size: 2, page_token: token.clone(), order_by: TicketOrderBy::CreateTimeAsc as i32, ..Default::default() };
        let page = h.client.list_tickets(req).await.unwrap().into_inner();
        seen.extend(page.tickets.iter().map(|t| t.id.clone()));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ids);
    let newest_first = h.client.list_tickets(ListTicketsRequest { region_id: d.street.clone(), ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(newest_first.tickets.len(), 5, "only the tower is in the street");
    assert_eq!(newest_first.tickets[0].id, ids[4]);
    let waiting = h.client.list_tickets(ListTicketsRequest { unassignable: Some(true), ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(waiting.tickets.len(), 2);
    let by_priority = ListTicketsRequest { order_by: TicketOrderBy::Priority as i32, page_size: 3, ..Default::default() };
    let page = h.client.list_tickets(by_priority.clone()).await.unwrap().into_inner();
    let mut all = page.tickets.clone();
    let mut token = page.next_page_token.clone();
    while !token.is_empty() {
        let next = h.client.list_tickets(ListTicketsRequest { page_token: token, ..by_priority.clone() }).await.unwrap().into_inner();
        all.extend(next.tickets);
        token = next.next_page_token;
    }
    let due = |t: &Ticket| crate::common::micros(t.sla.as_ref().unwrap().resolve_due_time.as_ref().unwrap());
    assert_eq!(all.len(), 7);
    assert!(all.windows(2).all(|w| due(&w[0]) <= due(&w[1])), "nearest deadline first within a priority");
    let changed = ListTicketsRequest { page_token: page.next_page_token, site_id: d.tower.id.clone(), ..Default::default() };
    assert_eq!(h.client.list_tickets(changed).await.unwrap_err().code(), Code::InvalidArgument);
}

fn as_member<T>(h: &Harness, message: T, crew: &Crew, member: &str) -> tonic::Request<T> {
    TestAuth::request_with(&h.auth.crew_member_token(member, &crew.id), message)
}

#[tokio::test]
async fn crew_members_act_only_on_their_own_crews_tickets() {
    let mut h = Harness::start().await;
    let d = district(&h, (HOUR, 8 * HOUR)).await;
    let a = create_crew(&mut h.client, crew("a", &[&d.tower.id], &[], 5)).await;
    let b = create_crew(&mut h.client, crew("b", &[&d.wetland.id], &[], 5)).await;
    let t = create_ticket(&mut h.client, ticket(&d.tower.id, &d.lights.id)).await;
    let accept = AcceptTicketRequest { ticket_id: t.id.clone(), version: t.version, ..Default::default() };
    let denied = h.client.accept_ticket(as_member(&h, accept.clone(), &b, "b-lead")).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let impostor = h.client.accept_ticket(as_member(&h, accept.clone(), &a, "not-in-a")).await.unwrap_err();
    assert_eq!(impostor.code(), Code::PermissionDenied);
    h.client.accept_ticket(as_member(&h, accept, &a, "a-lead")).await.unwrap();
    let full = get(&mut h.client, &t.id).await;
    let actor = full.history.last().unwrap().actor.clone().unwrap();
    assert_eq!((actor.kind, actor.id.as_str(), actor.crew_id.as_str()), (ActorKind::CrewMember as i32, "a-lead", a.id.as_str()));

    let watch = WatchTicketsRequest { crew_id: a.id.clone(), ..Default::default() };
    let status = h.client.watch_tickets(as_member(&h, watch, &b, "b-lead")).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // Reading: their own crew's tickets only.
    let read = GetTicketRequest { id: t.id.clone(), ..Default::default() };
    h.client.get_ticket(as_member(&h, read.clone(), &a, "a-lead")).await.unwrap();
    let other = h.client.get_ticket(as_member(&h, read, &b, "b-lead")).await.unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied);
    let theirs = ListTicketsRequest { crew_id: a.id.clone(), ..Default::default() };
    assert_eq!(h.client.list_tickets(as_member(&h, theirs.clone(), &a, "a-lead")).await.unwrap().into_inner().tickets.len(), 1);
    let listed = h.client.list_tickets(as_member(&h, theirs, &b, "b-lead")).await.unwrap_err();
    assert_eq!(listed.code(), Code::PermissionDenied);
    // A dispatcher's command is not theirs to give.
    let cancel = CancelTicketRequest { ticket_id: t.id.clone(), version: t.version, ..Default::default() };
    let refused = h.client.cancel_ticket(as_member(&h, cancel, &a, "a-lead")).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn callers_are_authenticated_and_held_to_their_roles() {
    let mut h = Harness::start().await;
    let d = district(&h, (HOUR, 8 * HOUR)).await;
    let t = ticket(&d.tower.id, &d.lights.id);
    let unauthenticated = dispatch_service_client::DispatchServiceClient::new(h.service.as_ref().unwrap().channel().await)
        .create_ticket(CreateTicketRequest { ticket: Some(t.clone()), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(unauthenticated.code(), Code::Unauthenticated);
    for role in [Role::Resident, Role::SiteManager, Role::Analyst] {
        let mut client = h.client_with(&h.auth.token(role, "someone")).await;
        let denied = client.create_ticket(CreateTicketRequest { ticket: Some(t.clone()), ..Default::default() }).await.unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied, "{role}");
    }
    // Another system raises a ticket; the history names it as a service.
    let mut system = h.client_with(&h.auth.token(Role::Service, "bms-gateway")).await;
    let raised = create_ticket(&mut system, t).await;
    let full = get(&mut h.client, &raised.id).await;
    let actor = full.history.first().unwrap().actor.clone().unwrap();
    assert_eq!((actor.kind, actor.id.as_str()), (ActorKind::Service as i32, "bms-gateway"));
}

#[tokio::test]
async fn a_deactivated_crew_hands_its_waiting_work_to_others() {
    let mut h = Harness::start().await;
    let d = district(&h, (HOUR, 8 * HOUR)).await;
    let a = create_crew(&mut h.client, crew("a", &[&d.tower.id], &[], 5)).await;
    let t1 = create_ticket(&mut h.client, ticket(&d.tower.id, &d.lights.id)).await;
    let t2 = create_ticket(&mut h.client, ticket(&d.tower.id, &d.lights.id)).await;
    let t2 = h.client.accept_ticket(AcceptTicketRequest { ticket_id: t2.id.clone(), version: t2.version, ..Default::default() }).await.unwrap().into_inner();
    let t2 = h.client.start_ticket(StartTicketRequest { ticket_id: t2.id.clone(), version: t2.version, ..Default::default() }).await.unwrap().into_inner();
    let b = create_crew(&mut h.client, crew("b", &[], &[&d.city], 5)).await;
    let off = DeactivateCrewRequest { id: a.id.clone(), version: a.version, reason: "ill".into(), redispatch_open_tickets: true, ..Default::default() };
    let a = h.client.deactivate_crew(off).await.unwrap().into_inner();
    assert!(!a.active);
    assert_eq!(get(&mut h.client, &t1.id).await.crew_id, b.id, "the assigned ticket moved");
    assert_eq!(get(&mut h.client, &t2.id).await.crew_id, a.id, "work in progress stays");
    let again = h.client.deactivate_crew(DeactivateCrewRequest { id: a.id.clone(), version: a.version, ..Default::default() }).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);

    let js = h.js().await;
    let deactivated = flywheel_testing::eventually(WAIT, || async {
        dispatch_events(&js).await.into_iter().find(|(s, _, _)| s == "flywheel.dispatch.crew.deactivated")
    })
    .await;
    let msg = <CrewDeactivated as prost::Message>::decode(deactivated.2).unwrap();
    assert_eq!(msg.redispatched_ticket_ids, vec![t1.id.clone()]);
    assert_eq!(msg.reason, "ill");
    let a = h.client.activate_crew(ActivateCrewRequest { id: a.id.clone(), version: a.version, ..Default::default() }).await.unwrap().into_inner();
    assert!(a.active && a.version == 3);
}

#[tokio::test]
async fn declines_escalations_and_updates() {
    let mut h = Harness::start().await;
    let d = district(&h, (HOUR, 8 * HOUR)).await;
    let a = create_crew(&mut h.client, crew("a", &[&d.tower.id], &[], 5)).await;
    let mut b = crew("b", &[&d.tower.id], &[], 5);
    b.supervisor_crew_id = a.id.clone();
    let b = create_crew(&mut h.client, b).await;
    let t = create_ticket(&mut h.client, ticket(&d.tower.id, &d.lights.id)).await;
    assert_eq!(t.crew_id, a.id);

    // Declined by a: dispatched to b; declined by b too: nobody is left.
    let decline = |t: &Ticket| DeclineTicketRequest { ticket_id: t.id.clone(), version: t.version, reason: DeclineReason::NoCapacity as i32, ..Default::default() };
    let t = h.client.decline_ticket(decline(&t)).await.unwrap().into_inner();
    assert_eq!((t.state, t.crew_id.as_str()), (TicketState::Assigned as i32, b.id.as_str()));
    let t = h.client.decline_ticket(decline(&t)).await.unwrap().into_inner();
    assert_eq!(t.state, TicketState::New as i32);
    assert_eq!(t.unassignable_reason, UnassignableReason::AllEligibleCrewsDeclined as i32);
    assert_eq!(t.declined_crew_ids, [a.id.clone(), b.id.clone()]);

    // A dispatcher raises the priority: P3 -> P2, deadlines recomputed from the cycle start.
    let before = t.sla.unwrap();
    let update = UpdateTicketRequest {
        ticket: Some(Ticket { id: t.id.clone(), version: t.version, priority: 2, title: "Lamp out at the north gate".into(), ..Default::default() }),
        update_mask: mask(&["priority", "title"]),
        ..Default::default()
    };
    let t = h.client.update_ticket(update.clone()).await.unwrap().into_inner();
    assert_eq!((t.priority, t.title.as_str()), (2, "Lamp out at the north gate"));
    assert_eq!(t.sla.as_ref().unwrap().cycle_start_time, before.cycle_start_time);
    assert_eq!(h.client.update_ticket(update).await.unwrap_err().code(), Code::Aborted);
    let entry = get(&mut h.client, &t.id).await.history.last().cloned().unwrap();
    assert_eq!((entry.previous_priority, entry.changed_fields.clone()), (3, vec!["priority".to_owned(), "title".to_owned()]));

    // Manual escalation: P2 -> P1 and the supervisor of a covering crew is told.
    let escalate = EscalateTicketRequest { ticket_id: t.id.clone(), version: t.version, note: "VIP visit tomorrow".into(), ..Default::default() };
    let t = h.client.escalate_ticket(escalate).await.unwrap().into_inner();
    assert_eq!((t.priority, t.escalation_level), (1, 1));
    let js = h.js().await;
    let events = ticket_events(&js, &t.id, |e| e.len() >= 9).await;
    assert_eq!(
        events,
        ["created", "assigned", "declined", "assigned", "declined", "marked_unassignable", "updated", "escalated", "marked_unassignable"]
    );
    let escalated = dispatch_events(&js).await.into_iter().find(|(s, _, _)| s.ends_with(".escalated")).unwrap();
    let msg = <TicketEscalated as prost::Message>::decode(escalated.2).unwrap();
    assert_eq!((msg.supervisor_crew_id.as_str(), msg.redispatched), (a.id.as_str(), true));
}

#[tokio::test]
async fn ticket_codes_count_up_per_day_and_continue_after_tickets_numbered_before_the_counter() {
    let mut h = Harness::start().await;
    let d = district(&h, (HOUR, 8 * HOUR)).await;
    create_crew(&mut h.client, crew("near", &[&d.tower.id], &[], 50)).await;
    let first = create_ticket(&mut h.client, ticket(&d.tower.id, &d.lights.id)).await;
    let day = &first.code[..first.code.len() - 4];
    assert!(first.code.starts_with("T-") && first.code.ends_with("0001"), "{}", first.code);
    let second = create_ticket(&mut h.client, ticket(&d.tower.id, &d.lights.id)).await;
    assert_eq!(second.code, format!("{day}0002"));

    // A database upgraded during the day has tickets coded before the counter had a row.
    let db = sea_orm::Database::connect(h.db.url()).await.unwrap();
    use sea_orm::ConnectionTrait;
    db.execute_unprepared("DELETE FROM ticket_number").await.unwrap();
    let third = create_ticket(&mut h.client, ticket(&d.tower.id, &d.lights.id)).await;
    assert_eq!(third.code, format!("{day}0003"));
    let fourth = create_ticket(&mut h.client, ticket(&d.tower.id, &d.lights.id)).await;
    assert_eq!(fourth.code, format!("{day}0004"));
}

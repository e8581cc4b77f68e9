//! WatchTickets: a snapshot, then live changes; a client that reconnects with its last cursor gets
//! every change it missed exactly once and nothing it already had.

mod common;

use common::*;
use flywheel_proto::flywheel::dispatch::v1::watch_tickets_response::Item;
use flywheel_proto::flywheel::dispatch::v1::*;
use std::time::Duration;
use tonic::{Code, Streaming};

const HOUR: Duration = Duration::from_secs(3600);

/// The next message that is not a heartbeat.
async fn next(stream: &mut Streaming<WatchTicketsResponse>) -> WatchTicketsResponse {
    loop {
        let m = tokio::time::timeout(WAIT, stream.message()).await.expect("a message in time").unwrap().unwrap();
        if !matches!(m.item, Some(Item::Heartbeat(_))) {
            return m;
        }
    }
}

/// The next `n` changes as (ticket id, history sequence, action), and the last cursor.
async fn changes(stream: &mut Streaming<WatchTicketsResponse>, n: usize) -> (Vec<(String, i64, i32)>, String) {
    let mut out = Vec::new();
    let mut cursor = String::new();
    while out.len() < n {
        let m = next(stream).await;
        let Some(Item::Change(c)) = m.item else { panic!("expected a change, got {:?}", m.item) };
        let tr = c.transition.unwrap();
        out.push((c.ticket.unwrap().id, tr.sequence, tr.action));
        cursor = m.cursor;
    }
    (out, cursor)
}

#[tokio::test]
async fn a_reconnecting_watcher_misses_nothing_and_sees_nothing_twice() {
    let mut h = Harness::start().await;
    let d = district(&h, (HOUR, 8 * HOUR)).await;
    create_crew(&mut h.client, crew("tower", &[&d.tower.id], &[], 10)).await;
    create_crew(&mut h.client, crew("wetland", &[&d.wetland.id], &[], 10)).await;
    let before = create_ticket(&mut h.client, ticket(&d.tower.id, &d.lights.id)).await;

    let watch = WatchTicketsRequest { site_id: d.tower.id.clone(), initial_snapshot: true, ..Default::default() };
    let mut stream = h.client.watch_tickets(watch.clone()).await.unwrap().into_inner();
    let m = next(&mut stream).await;
    assert!(matches!(m.item, Some(Item::Snapshot(ref t)) if t.id == before.id));
    let m = next(&mut stream).await;
    assert!(matches!(m.item, Some(Item::SnapshotComplete(WatchSnapshotComplete { ticket_count: 1 }))));

    let t = create_ticket(&mut h.client, ticket(&d.tower.id, &d.lights.id)).await;
    let t = h.client.accept_ticket(AcceptTicketRequest { ticket_id: t.id.clone(), version: t.version, ..Default::default() }).await.unwrap().into_inner();
    let (seen, cursor) = changes(&mut stream, 3).await;
    use TicketAction as A;
    let expect = |seq: i64, a: A| (t.id.clone(), seq, a as i32);
    assert_eq!(seen, [expect(1, A::Create), expect(2, A::Assign), expect(3, A::Accept)]);
    drop(stream);

    // While the watcher is away: two changes at the tower, one elsewhere (filtered out).
    let t = h.client.start_ticket(StartTicketRequest { ticket_id: t.id.clone(), version: t.version, ..Default::default() }).await.unwrap().into_inner();
    let hold = PutTicketOnHoldRequest { ticket_id: t.id.clone(), version: t.version, reason: HoldReason::WaitingForAccess as i32, ..Default::default() };
    let t = h.client.put_ticket_on_hold(hold).await.unwrap().into_inner();
    create_ticket(&mut h.client, ticket(&d.wetland.id, &d.lights.id)).await;

    let resume = WatchTicketsRequest { cursor: cursor.clone(), ..watch };
    let mut stream = h.client.watch_tickets(resume).await.unwrap().into_inner();
    let (missed, _) = changes(&mut stream, 2).await;
    assert_eq!(missed, [expect(4, A::Start), expect(5, A::PutOnHold)]);
    h.client.resume_ticket(ResumeTicketRequest { ticket_id: t.id.clone(), version: t.version, ..Default::default() }).await.unwrap();
    let (live, _) = changes(&mut stream, 1).await;
    assert_eq!(live, [expect(6, A::Resume)]);

    // A stopping server ends the feed with UNAVAILABLE: the client reconnects elsewhere.
    h.service.take().unwrap().stop().await.unwrap();
    let end = loop {
        match tokio::time::timeout(WAIT, stream.message()).await.expect("the feed ends in time") {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the feed ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(end.code(), Code::Unavailable);
}

#[tokio::test]
async fn a_crew_watcher_is_told_when_a_ticket_leaves_it() {
    let mut h = Harness::start().await;
    let d = district(&h, (HOUR, 8 * HOUR)).await;
    let a = create_crew(&mut h.client, crew("a", &[&d.tower.id], &[], 10)).await;
    let b = create_crew(&mut h.client, crew("b", &[&d.tower.id], &[], 10)).await;
    let mut stream = h.client.watch_tickets(WatchTicketsRequest { crew_id: a.id.clone(), ..Default::default() }).await.unwrap().into_inner();
    let t = create_ticket(&mut h.client, ticket(&d.tower.id, &d.lights.id)).await;
    assert_eq!(t.crew_id, a.id);
    let reassign = ReassignTicketRequest { ticket_id: t.id.clone(), version: t.version, crew_id: b.id.clone(), ..Default::default() };
    h.client.reassign_ticket(reassign).await.unwrap();
    let mut flags = Vec::new();
    while flags.len() < 2 {
        if let Some(Item::Change(c)) = next(&mut stream).await.item {
            flags.push((c.transition.unwrap().action, c.matches_filter));
        }
    }
    assert_eq!(flags, [(TicketAction::Assign as i32, true), (TicketAction::Reassign as i32, false)]);

    let bad = h.client.watch_tickets(WatchTicketsRequest { cursor: "not-a-cursor".into(), ..Default::default() }).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let unknown = h.client.watch_tickets(WatchTicketsRequest { crew_id: "no-such-crew".into(), ..Default::default() }).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

//! Crews over real gRPC: validation against the registry replica, versions, supervisors, and
//! list filters (coverage through regions, skills, members, activity) with pages.

mod common;

use common::*;
use flywheel_proto::flywheel::dispatch::v1::*;
use std::time::Duration;
use tonic::Code;

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn crews_are_checked_against_the_replica_and_their_versions() {
    let mut h = Harness::start().await;
    let d = district(&h, (HOUR, 8 * HOUR)).await;
    let unknown = h.client.create_crew(CreateCrewRequest { crew: Some(crew("x", &["nowhere"], &[], 3)), request_id: String::new() }).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let a = create_crew(&mut h.client, crew("a", &[&d.tower.id], &[], 3)).await;
    assert!(a.active && a.version == 1 && a.on_shift);
    let dup = h.client.create_crew(CreateCrewRequest { crew: Some(crew("a", &[&d.tower.id], &[], 3)), request_id: String::new() }).await.unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);
    let bad = h.client.create_crew(CreateCrewRequest { crew: Some(crew("b", &[], &[], 0)), request_id: String::new() }).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);

    let mut b = crew("b", &[], &[&d.district], 3);
    b.supervisor_crew_id = a.id.clone();
    let b = create_crew(&mut h.client, b).await;
    let cycle = UpdateCrewRequest { crew: Some(Crew { id: a.id.clone(), version: a.version, supervisor_crew_id: b.id.clone(), ..Default::default() }), update_mask: mask(&["supervisor_crew_id"]) };
    assert_eq!(h.client.update_crew(cycle).await.unwrap_err().code(), Code::FailedPrecondition);
    let rename = |version| UpdateCrewRequest { crew: Some(Crew { id: a.id.clone(), version, name: "Tower crew".into(), ..Default::default() }), update_mask: mask(&["name"]) };
    let renamed = h.client.update_crew(rename(a.version)).await.unwrap().into_inner();
    assert_eq!((renamed.name.as_str(), renamed.version, renamed.capacity), ("Tower crew", 2, 3));
    assert_eq!(h.client.update_crew(rename(a.version)).await.unwrap_err().code(), Code::Aborted);
    let immutable = UpdateCrewRequest { crew: Some(Crew { id: a.id.clone(), version: 2, code: "z".into(), ..Default::default() }), update_mask: mask(&["code"]) };
    assert_eq!(h.client.update_crew(immutable).await.unwrap_err().code(), Code::InvalidArgument);
}

#[tokio::test]
async fn crews_are_listed_by_coverage_skill_member_and_activity() {
    let mut h = Harness::start().await;
    let d = district(&h, (HOUR, 8 * HOUR)).await;
    let street = create_crew(&mut h.client, crew("street", &[], &[&d.street], 3)).await;
    let district_wide = create_crew(&mut h.client, crew("district", &[], &[&d.district], 3)).await;
    let wetland = create_crew(&mut h.client, crew("wetland", &[&d.wetland.id], &[], 3)).await;
    let mut cleaners = crew("cleaners", &[&d.tower.id], &[], 3);
    cleaners.skills = vec!["cleaning".into()];
    let cleaners = create_crew(&mut h.client, cleaners).await;
    h.client.deactivate_crew(DeactivateCrewRequest { id: wetland.id.clone(), version: 1, ..Default::default() }).await.unwrap();

    let ids = |crews: Vec<Crew>| crews.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let list = |req: ListCrewsRequest| {
        let mut c = h.client.clone();
        async move { c.list_crews(req).await.unwrap().into_inner() }
    };
    let tower = list(ListCrewsRequest { covers_site_id: d.tower.id.clone(), ..Default::default() }).await;
    assert_eq!(ids(tower.crews), [street.id.clone(), district_wide.id.clone(), cleaners.id.clone()]);
    let electric = list(ListCrewsRequest { covers_site_id: d.tower.id.clone(), skills: vec!["electrical".into()], ..Default::default() }).await;
    assert_eq!(ids(electric.crews), [street.id.clone(), district_wide.id.clone()]);
    let inactive = list(ListCrewsRequest { active: Some(false), ..Default::default() }).await;
    assert_eq!(ids(inactive.crews), vec![wetland.id.clone()]);
    let member = list(ListCrewsRequest { member_id: "district-lead".into(), ..Default::default() }).await;
    assert_eq!(ids(member.crews), vec![district_wide.id.clone()]);

    let first = list(ListCrewsRequest { page_size: 3, ..Default::default() }).await;
    assert_eq!(first.crews.len(), 3);
    let rest = list(ListCrewsRequest { page_size: 3, page_token: first.next_page_token.clone(), ..Default::default() }).await;
    assert_eq!(ids(rest.crews), vec![cleaners.id.clone()]);
    assert!(rest.next_page_token.is_empty());
    let mut c = h.client.clone();
    let wrong = c.list_crews(ListCrewsRequest { page_token: first.next_page_token, active: Some(true), ..Default::default() }).await.unwrap_err();
    assert_eq!(wrong.code(), Code::InvalidArgument);
}

//! The gRPC API over a real server: placement, privacy, duplicates and "me too", staff
//! classification, idempotent and rate-limited submission, listing.

mod common;

use common::*;
use flywheel_feedback::settings::Settings;
use flywheel_proto::flywheel::common::v1::GeoPoint;
use flywheel_proto::flywheel::feedback::v1::feedback_service_client::FeedbackServiceClient;
use flywheel_proto::flywheel::feedback::v1::*;
use flywheel_testing::Role;
use prost::Message;

fn submit(report: Report) -> SubmitReportRequest {
    SubmitReportRequest { report: Some(report), contact: Some(contact()), request_id: String::new() }
}

fn by_id(id: &str) -> GetReportRequest {
    GetReportRequest { lookup: Some(get_report_request::Lookup::Id(id.into())) }
}

#[tokio::test]
async fn submissions_are_placed_validated_and_kept_private() {
    let mut h = Harness::start().await;
    let (tower, _) = h.district().await;

    let nowhere = h
        .client
        .submit_report(resident(&h.auth, "res-1", submit(complaint(Some(GeoPoint { lat: 23.2, lng: 113.324 })))))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&nowhere), ["report.location"]);
    assert!(nowhere.message().contains("no managed site covers this location"), "{}", nowhere.message());

    let bad = h
        .client
        .submit_report(resident(&h.auth, "res-1", submit(Report { kind: 0, location: None, description: "x".repeat(4001), ..complaint(None) })))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad), ["report.kind", "report.location", "report.description"]);

    let unknown = h
        .client
        .submit_report(resident(&h.auth, "res-1", submit(Report { category_id: "cat-none".into(), ..complaint(None) })))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    // A front end acting for residents (a service) may file; the report gets a fresh resident id.
    let unidentified = h.client.submit_report(tonic::Request::new(submit(complaint(None)))).await.unwrap().into_inner();
    assert_eq!(unidentified.resident_id, "", "not shown to a service");
    let other = h.client.get_report(staff(&h.auth, "ops", by_id(&unidentified.id))).await.unwrap().into_inner();
    assert!(!other.resident_id.is_empty());
    let hidden = h.client.get_report_contact(tonic::Request::new(GetReportContactRequest { report_id: unidentified.id.clone() })).await.unwrap_err();
    assert_eq!(hidden.code(), tonic::Code::PermissionDenied);

    // Without a category the report waits, unclassified, for staff.
    let filed = h.client.submit_report(resident(&h.auth, "res-1", submit(complaint(None)))).await.unwrap().into_inner();
    assert_eq!(filed.site_id, tower.id);
    assert_eq!(filed.classification, ClassificationState::Unclassified as i32);
    assert_eq!(filed.category_id, "");
    assert!(!filed.needs_field_work);

    // Anyone can track it by code, but sees neither the resident id nor the correlation id.
    let tracked = h
        .client
        .get_report(GetReportRequest { lookup: Some(get_report_request::Lookup::TrackingCode(filed.tracking_code.replace('-', ""))) })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tracked.id, filed.id);
    assert_eq!(tracked.resident_id, "");
    assert_eq!(tracked.correlation_id, "");
    let by_staff = h.client.get_report(staff(&h.auth, "ops", by_id(&filed.id))).await.unwrap().into_inner();
    assert_eq!(by_staff.resident_id, "res-1");
    assert!(!by_staff.correlation_id.is_empty());

    // Contact details: the reporter and staff, never another resident.
    let denied = h.client.get_report_contact(resident(&h.auth, "res-2", GetReportContactRequest { report_id: filed.id.clone() })).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let own = h.client.get_report_contact(resident(&h.auth, "res-1", GetReportContactRequest { report_id: filed.id.clone() })).await.unwrap().into_inner();
    assert_eq!(own.contact.unwrap(), contact());
    let for_staff = h.client.get_report_contact(staff(&h.auth, "ops", GetReportContactRequest { report_id: filed.id.clone() })).await.unwrap().into_inner();
    assert_eq!(for_staff.resident_id, "res-1");
}

#[tokio::test]
async fn callers_need_a_token_and_a_role_that_may_call() {
    let mut h = Harness::start().await;
    h.district().await;
    let mut anonymous = FeedbackServiceClient::new(h.service.channel().await);
    let refused = anonymous.submit_report(submit(complaint(None))).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    for role in [Role::CrewMember, Role::SiteManager, Role::Analyst] {
        let denied = h.client.submit_report(h.auth.request_as(role, "someone", submit(complaint(None)))).await.unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{role}");
    }
    let filed = h.client.submit_report(resident(&h.auth, "res-1", submit(complaint(None)))).await.unwrap().into_inner();
    // Tracking by code is open to every resident, without the private parts.
    let code = GetReportRequest { lookup: Some(get_report_request::Lookup::TrackingCode(filed.tracking_code.clone())) };
    let tracked = h.client.get_report(resident(&h.auth, "res-2", code)).await.unwrap().into_inner();
    assert_eq!((tracked.id.as_str(), tracked.resident_id.as_str()), (filed.id.as_str(), ""));
    // Classifying is for staff: the gate refuses residents and services.
    let classify = ClassifyReportRequest { report_id: filed.id.clone(), ..Default::default() };
    let by_resident = h.client.classify_report(resident(&h.auth, "res-1", classify.clone())).await.unwrap_err();
    assert_eq!(by_resident.code(), tonic::Code::PermissionDenied);
    assert_eq!(h.client.classify_report(classify).await.unwrap_err().code(), tonic::Code::PermissionDenied);
}

#[tokio::test]
async fn staff_classify_the_unclassified_queue() {
    let mut h = Harness::start().await;
    let (_, light) = h.district().await;
    let filed = h.client.submit_report(resident(&h.auth, "res-1", submit(complaint(None)))).await.unwrap().into_inner();
    let classify = ClassifyReportRequest {
        report_id: filed.id.clone(),
        version: filed.version,
        category_id: light.id.clone(),
        note: "Passed to the lighting crew".into(),
        ..Default::default()
    };
    let refused = h.client.classify_report(resident(&h.auth, "res-1", classify.clone())).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let stale = h.client.classify_report(staff(&h.auth, "ops", ClassifyReportRequest { version: 9, ..classify.clone() })).await.unwrap_err();
    assert_eq!(stale.code(), tonic::Code::Aborted);

    let queue = h.client.list_reports(staff(&h.auth, "ops", ListReportsRequest { unclassified: Some(true), ..Default::default() })).await.unwrap().into_inner();
    assert_eq!(queue.reports.len(), 1);

    let classified = h.client.classify_report(staff(&h.auth, "ops", classify.clone())).await.unwrap().into_inner();
    assert_eq!(classified.category_id, light.id);
    assert_eq!(classified.classification, ClassificationState::Classified as i32);
    assert!(classified.needs_field_work);
    assert_eq!(classified.priority_hint, 3);
    assert_eq!(classified.cell.unwrap().dimension, light.cell.unwrap().dimension);
    let again = h.client.classify_report(staff(&h.auth, "ops", ClassifyReportRequest { version: classified.version, ..classify })).await.unwrap_err();
    assert_eq!(again.code(), tonic::Code::FailedPrecondition);

    let events = h.feedback_events(2).await;
    assert_eq!(subjects(&events), ["flywheel.feedback.report.submitted", "flywheel.feedback.report.classified"]);
    let event = ReportClassified::decode(events[1].payload.clone()).unwrap();
    assert_eq!(event.classified_by, "ops");
    assert!(event.report.unwrap().needs_field_work);
}

#[tokio::test]
async fn a_repeat_report_is_linked_and_residents_can_support_instead() {
    let mut h = Harness::start().await;
    let (_, light) = h.district().await;
    let at = |lat| Report { category_id: light.id.clone(), ..complaint(Some(GeoPoint { lat, lng: 113.324 })) };
    let primary = h.client.submit_report(resident(&h.auth, "res-1", submit(at(23.1060)))).await.unwrap().into_inner();
    let repeat = h.client.submit_report(resident(&h.auth, "res-2", submit(at(23.1064)))).await.unwrap().into_inner(); // ~45 m
    assert_eq!(repeat.duplicate_of_report_id, primary.id);
    assert!(!repeat.needs_field_work, "a duplicate gets no ticket of its own");
    let far = h.client.submit_report(resident(&h.auth, "res-3", submit(at(23.1080)))).await.unwrap().into_inner(); // ~220 m
    assert_eq!(far.duplicate_of_report_id, "");

    let primary_now = h.client.get_report(staff(&h.auth, "ops", by_id(&primary.id))).await.unwrap().into_inner();
    assert_eq!(primary_now.duplicate_count, 1);

    // "Me too": counted once per resident, never for the reporter.
    let support = |who: &str| resident(&h.auth, who, SupportReportRequest { report_id: primary.id.clone(), channel: ReportChannel::App as i32, request_id: String::new() });
    let first = h.client.support_report(support("res-4")).await.unwrap().into_inner();
    assert!(first.counted);
    assert_eq!(first.report.unwrap().support_count, 1);
    assert!(!h.client.support_report(support("res-4")).await.unwrap().into_inner().counted);
    assert!(!h.client.support_report(support("res-1")).await.unwrap().into_inner().counted);
    let on_duplicate = h
        .client
        .support_report(resident(&h.auth, "res-5", SupportReportRequest { report_id: repeat.id.clone(), channel: ReportChannel::App as i32, request_id: String::new() }))
        .await
        .unwrap_err();
    assert_eq!(on_duplicate.code(), tonic::Code::FailedPrecondition);

    // Nearby open reports are listed to any resident looking for one to support.
    let nearby = h
        .client
        .list_reports(resident(&h.auth, "res-9", ListReportsRequest {
            near: Some(GeoCircle { center: Some(GeoPoint { lat: 23.1060, lng: 113.324 }), radius_m: 100.0 }),
            open_only_nearby: true,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = nearby.reports.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [primary.id.as_str()]);
    assert_eq!(nearby.reports[0].resident_id, "", "another resident's id stays hidden");

    let events = h.feedback_events(5).await;
    assert_eq!(
        subjects(&events),
        [
            "flywheel.feedback.report.submitted",
            "flywheel.feedback.report.submitted",
            "flywheel.feedback.report.linked_as_duplicate",
            "flywheel.feedback.report.submitted",
            "flywheel.feedback.report.supported",
        ]
    );
    let linked = ReportLinkedAsDuplicate::decode(events[2].payload.clone()).unwrap();
    assert_eq!(linked.primary_report_id, primary.id);
    assert_eq!(linked.primary_duplicate_count, 1);
    assert!((40.0..50.0).contains(&linked.distance_m), "{}", linked.distance_m);
    assert_eq!(linked.rule.unwrap().distance_m, 100.0);
    let supported = ReportSupported::decode(events[4].payload.clone()).unwrap();
    assert_eq!(supported.support_count, 1);
}

#[tokio::test]
async fn retries_return_the_first_report_and_floods_are_refused() {
    let settings = Settings { per_resident_per_hour: 3, per_channel_per_minute: 5, ..Settings::default() };
    let mut h = Harness::with(settings).await;
    h.district().await;
    let keyed = SubmitReportRequest { request_id: "k-1".into(), ..submit(complaint(None)) };
    let first = h.client.submit_report(resident(&h.auth, "res-1", keyed.clone())).await.unwrap().into_inner();
    let retry = h.client.submit_report(resident(&h.auth, "res-1", keyed)).await.unwrap().into_inner();
    assert_eq!(retry.id, first.id);

    for _ in 0..2 {
        h.client.submit_report(resident(&h.auth, "res-1", submit(complaint(None)))).await.unwrap();
    }
    let flood = h.client.submit_report(resident(&h.auth, "res-1", submit(complaint(None)))).await.unwrap_err();
    assert_eq!(flood.code(), tonic::Code::ResourceExhausted);
    let retry_info = tonic_types::StatusExt::get_error_details(&flood).retry_info().cloned().unwrap();
    assert!(retry_info.retry_delay.is_some());
    // Another resident may still file, until the channel's own limit.
    h.client.submit_report(resident(&h.auth, "res-2", submit(complaint(None)))).await.unwrap();
    h.client.submit_report(resident(&h.auth, "res-3", submit(complaint(None)))).await.unwrap();
    let channel = h.client.submit_report(resident(&h.auth, "res-4", submit(complaint(None)))).await.unwrap_err();
    assert_eq!(channel.code(), tonic::Code::ResourceExhausted);
    let web = Report { channel: ReportChannel::Web as i32, ..complaint(None) };
    h.client.submit_report(resident(&h.auth, "res-4", submit(web))).await.unwrap();
}

#[tokio::test]
async fn lists_page_newest_first_and_residents_see_their_own() {
    let mut h = Harness::start().await;
    h.district().await;
    let mut ids = Vec::new();
    for who in ["res-1", "res-1", "res-2", "res-1", "res-2"] {
        ids.push(h.client.submit_report(resident(&h.auth, who, submit(complaint(None)))).await.unwrap().into_inner().id);
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = h
            .client
            .list_reports(staff(&h.auth, "ops", ListReportsRequest { site_id: "site-tower".into(), page_size: 2, page_token: token, ..Default::default() }))
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.reports.iter().map(|r| r.id.clone()));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ids);

    let mine = h.client.list_reports(resident(&h.auth, "res-2", ListReportsRequest::default())).await.unwrap().into_inner();
    assert_eq!(mine.reports.len(), 2);
    assert!(mine.reports.iter().all(|r| r.resident_id == "res-2"));

    let first = h.client.list_reports(staff(&h.auth, "ops", ListReportsRequest { page_size: 2, ..Default::default() })).await.unwrap().into_inner();
    let changed = h
        .client
        .list_reports(staff(&h.auth, "ops", ListReportsRequest { page_size: 2, site_id: "x".into(), page_token: first.next_page_token, ..Default::default() }))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&changed), ["page_token"]);
    let in_region = h
        .client
        .list_reports(staff(&h.auth, "ops", ListReportsRequest { region_id: DISTRICT.into(), statuses: vec![ReportStatus::Submitted as i32], ..Default::default() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(in_region.reports.len(), 5);
}

#[tokio::test]
async fn a_duplicate_follows_its_primary_report() {
    let mut h = Harness::start().await;
    let (_, light) = h.district().await;
    let report = Report { category_id: light.id.clone(), ..complaint(None) };
    let primary = h.client.submit_report(resident(&h.auth, "res-1", submit(report.clone()))).await.unwrap().into_inner();
    let repeat = h.client.submit_report(resident(&h.auth, "res-2", submit(report))).await.unwrap().into_inner();
    assert_eq!(repeat.duplicate_of_report_id, primary.id);

    let created = ticket("ticket-1", &primary, flywheel_proto::flywheel::dispatch::v1::TicketState::New);
    let event = flywheel_proto::flywheel::dispatch::v1::TicketCreated { ticket: Some(created.clone()), transition: None };
    h.publish(&ticket_event("created", &created, &event), true).await;
    h.wait_applied("FLYWHEEL_DISPATCH").await;

    let followed = h.client.get_report(resident(&h.auth, "res-2", by_id(&repeat.id))).await.unwrap().into_inner();
    assert_eq!(followed.status, ReportStatus::Accepted as i32);
    assert_eq!(followed.ticket_id, "", "the ticket belongs to the primary");
    let events = h.feedback_events(5).await;
    let change = ReportStatusChanged::decode(events[4].payload.clone()).unwrap();
    assert_eq!(change.report.unwrap().id, repeat.id);
    assert_eq!(change.cause, StatusChangeCause::PrimaryReport as i32);

    // A third report while the primary is ACCEPTED shows that status from the start.
    let late = h.client.submit_report(resident(&h.auth, "res-3", submit(Report { category_id: light.id.clone(), ..complaint(None) }))).await.unwrap().into_inner();
    assert_eq!(late.status, ReportStatus::Accepted as i32);
    assert_eq!(statuses(&late), [ReportStatus::Submitted as i32, ReportStatus::Accepted as i32]);
}

#[tokio::test]
async fn retired_sites_and_categories_take_no_new_reports() {
    let mut h = Harness::start().await;
    let (mut tower, mut light) = h.district().await;
    tower.status = flywheel_proto::flywheel::registry::v1::Status::Retired as i32;
    tower.version = 2;
    light.status = tower.status;
    light.version = 2;
    let retired_site = flywheel_proto::flywheel::registry::v1::SiteRetired { site: Some(tower.clone()), reason: String::new() };
    let retired_category = flywheel_proto::flywheel::registry::v1::CategoryRetired { category: Some(light.clone()) };
    h.publish(&flywheel_runtime::events::OutgoingEvent::new("registry", "flywheel.registry.category.retired", &light.id, "c", &retired_category), false).await;
    h.publish(&flywheel_runtime::events::OutgoingEvent::new("registry", "flywheel.registry.site.retired", &tower.id, "c", &retired_site), false).await;
    // A replayed older event does not bring the site back.
    let old = flywheel_proto::flywheel::registry::v1::SiteRegistered { site: Some(common::site("site-tower", "canton-tower", 23.106, 113.324, 500.0)) };
    h.publish(&flywheel_runtime::events::OutgoingEvent::new("registry", "flywheel.registry.site.registered", &tower.id, "c", &old), false).await;
    h.wait_applied("FLYWHEEL_REGISTRY").await;

    let named = h.client.submit_report(resident(&h.auth, "res-1", submit(Report { site_id: tower.id.clone(), location: None, ..complaint(None) }))).await.unwrap_err();
    assert_eq!(named.code(), tonic::Code::FailedPrecondition);
    assert!(named.message().contains("RETIRED"));
    let located = h.client.submit_report(resident(&h.auth, "res-1", submit(complaint(None)))).await.unwrap_err();
    assert_eq!(violated_fields(&located), ["report.location"]);
}

#[tokio::test]
async fn zones_must_be_of_the_site_and_staff_close_what_needs_no_ticket() {
    let mut h = Harness::start().await;
    h.district().await;
    use flywheel_proto::flywheel::registry::v1 as registry;
    for (id, site_id) in [("zone-gate", "site-tower"), ("zone-lake", "site-wetland")] {
        let zone = registry::Zone { id: id.into(), site_id: site_id.into(), code: id.into(), status: registry::Status::Active as i32, version: 1, ..Default::default() };
        let event = flywheel_runtime::events::OutgoingEvent::new("registry", "flywheel.registry.zone.created", id, "c", &registry::ZoneCreated { zone: Some(zone) });
        h.publish(&event, true).await;
    }
    h.wait_applied("FLYWHEEL_REGISTRY").await;
    let in_zone = |zone: &str| submit(Report { zone_id: zone.into(), ..complaint(None) });
    let missing = h.client.submit_report(resident(&h.auth, "res-1", in_zone("zone-none"))).await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let elsewhere = h.client.submit_report(resident(&h.auth, "res-1", in_zone("zone-lake"))).await.unwrap_err();
    assert_eq!(violated_fields(&elsewhere), ["report.zone_id"]);
    let gate = h.client.submit_report(resident(&h.auth, "res-1", in_zone("zone-gate"))).await.unwrap().into_inner();
    assert_eq!(gate.zone_id, "zone-gate");

    let inquiry = Report { kind: ReportKind::Inquiry as i32, description: "When does the tower open?".into(), ..complaint(None) };
    let asked = h.client.submit_report(resident(&h.auth, "res-1", submit(inquiry))).await.unwrap().into_inner();
    let close = CloseReportRequest { report_id: asked.id.clone(), version: asked.version, note: "Daily from 9:30 to 22:30".into(), request_id: String::new() };
    let by_resident = h.client.close_report(resident(&h.auth, "res-1", close.clone())).await.unwrap_err();
    assert_eq!(by_resident.code(), tonic::Code::PermissionDenied);
    let no_note = h.client.close_report(staff(&h.auth, "ops", CloseReportRequest { note: " ".into(), ..close.clone() })).await.unwrap_err();
    assert_eq!(violated_fields(&no_note), ["note"]);
    let closed = h.client.close_report(staff(&h.auth, "ops", close.clone())).await.unwrap().into_inner();
    assert_eq!(closed.status, ReportStatus::Closed as i32);
    assert!(closed.close_time.is_some());
    assert_eq!(closed.timeline.last().unwrap().note, "Daily from 9:30 to 22:30");
    let again = h.client.close_report(staff(&h.auth, "ops", CloseReportRequest { version: closed.version, ..close })).await.unwrap_err();
    assert_eq!(again.code(), tonic::Code::FailedPrecondition);
    assert!(again.message().contains("CLOSED"), "{}", again.message());
}

#[tokio::test]
async fn supports_and_reports_share_a_residents_hourly_limit() {
    let settings = Settings { per_resident_per_hour: 2, ..Settings::default() };
    let mut h = Harness::with(settings).await;
    h.district().await;
    let other = h.client.submit_report(resident(&h.auth, "res-9", submit(complaint(None)))).await.unwrap().into_inner();
    let support = |who: &str| resident(&h.auth, who, SupportReportRequest { report_id: other.id.clone(), channel: ReportChannel::App as i32, request_id: String::new() });

    h.client.submit_report(resident(&h.auth, "res-1", submit(complaint(None)))).await.unwrap();
    assert!(h.client.support_report(support("res-1")).await.unwrap().into_inner().counted);
    let report = h.client.submit_report(resident(&h.auth, "res-1", submit(complaint(None)))).await.unwrap_err();
    assert_eq!(report.code(), tonic::Code::ResourceExhausted);

    for _ in 0..2 {
        h.client.submit_report(resident(&h.auth, "res-2", submit(complaint(None)))).await.unwrap();
    }
    let supported = h.client.support_report(support("res-2")).await.unwrap_err();
    assert_eq!(supported.code(), tonic::Code::ResourceExhausted);
}

#[tokio::test]
async fn a_report_without_a_location_is_at_the_site_centre_and_closed_reports_are_no_primaries() {
    let mut h = Harness::start().await;
    let (tower, light) = h.district().await;
    let at = |location: Option<GeoPoint>| Report { site_id: tower.id.clone(), category_id: light.id.clone(), location, ..complaint(None) };
    let centre = h.client.submit_report(resident(&h.auth, "res-1", submit(at(None)))).await.unwrap().into_inner();
    let near = GeoPoint { lat: 23.1063, lng: 113.324 }; // ~33 m from the centre
    let repeat = h.client.submit_report(resident(&h.auth, "res-2", submit(at(Some(near))))).await.unwrap().into_inner();
    assert_eq!(repeat.duplicate_of_report_id, centre.id);
    let far = h.client.submit_report(resident(&h.auth, "res-3", submit(at(Some(GeoPoint { lat: 23.1080, lng: 113.324 }))))).await.unwrap().into_inner();
    assert_eq!(far.duplicate_of_report_id, "", "~220 m from the centre");

    // Version 2: linking the repeat counted it on the report.
    let close = CloseReportRequest { report_id: centre.id.clone(), version: 2, note: "Fixed on the spot".into(), request_id: String::new() };
    h.client.close_report(staff(&h.auth, "ops", close)).await.unwrap();
    let after = h.client.submit_report(resident(&h.auth, "res-4", submit(at(None)))).await.unwrap().into_inner();
    assert_eq!(after.duplicate_of_report_id, "", "the closed report is no primary, its duplicate is none either");
}

#[tokio::test]
async fn filings_are_counted_per_window_and_expired_windows_are_pruned() {
    use flywheel_feedback::store::entities::rate_count;
    use sea_orm::{ActiveModelTrait, EntityTrait};
    let mut h = Harness::start().await;
    h.district().await;
    let db = sea_orm::Database::connect(h.db.url()).await.unwrap();
    let expired = rate_count::Model { scope: "resident/gone".into(), window_us: 0, shard: 0, count: 3, expire_us: 1 };
    rate_count::ActiveModel::from(expired).insert(&db).await.unwrap();

    for _ in 0..2 {
        h.client.submit_report(resident(&h.auth, "res-1", submit(complaint(None)))).await.unwrap();
    }
    let rows = rate_count::Entity::find().all(&db).await.unwrap();
    let count = |scope: &str| rows.iter().filter(|r| r.scope == scope).map(|r| r.count).sum::<i64>();
    assert_eq!(count("resident/gone"), 0);
    assert_eq!(count("resident/res-1"), 2);
    assert_eq!(count(&format!("channel/{}", ReportChannel::App as i32)), 2);
}

//! The full cycle over real NATS: report → ticket → resolved → survey → rating 2 → reopen
//! requested, with every consumed event delivered twice and applied once.

mod common;

use common::*;
use flywheel_proto::flywheel::dispatch::v1 as dispatch;
use flywheel_proto::flywheel::feedback::v1::*;
use prost::Message;

/// A survey answer without comment or request id.
fn answer(report_id: &str, rating: i32, fixed: FixedAnswer) -> RateResolutionRequest {
    RateResolutionRequest {
        report_id: report_id.into(),
        rating: Some(ResolutionRating { rating, fixed: fixed as i32, ..Default::default() }),
        request_id: String::new(),
    }
}

#[tokio::test]
async fn a_low_rating_after_resolution_asks_dispatch_to_reopen() {
    let mut h = Harness::start().await;
    let (tower, light) = h.district().await;

    let filed = h
        .client
        .submit_report(resident(&h.auth, 
            "res-1",
            SubmitReportRequest {
                report: Some(Report { category_id: light.id.clone(), ..complaint(None) }),
                contact: Some(contact()),
                request_id: "r-1".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(filed.site_id, tower.id, "the location resolves to the covering site");
    assert_eq!(filed.region_path, [CITY, DISTRICT]);
    assert_eq!(filed.status, ReportStatus::Submitted as i32);
    assert!(filed.needs_field_work);
    assert_eq!(filed.resident_id, "res-1");
    assert_eq!(filed.priority_hint, 3, "the category's default priority");
    assert_eq!(filed.classification, ClassificationState::Classified as i32);
    assert_eq!(filed.tracking_code.len(), 9);
    assert_eq!(&filed.tracking_code[4..5], "-");

    // Dispatch works the ticket; every event arrives twice.
    let t = |state| ticket("ticket-1", &filed, state);
    let created = t(dispatch::TicketState::New);
    h.publish(&ticket_event("created", &created, &dispatch::TicketCreated { ticket: Some(created.clone()), transition: None }), true).await;
    let assigned = t(dispatch::TicketState::Assigned);
    h.publish(&ticket_event("assigned", &assigned, &dispatch::TicketAssigned { ticket: Some(assigned.clone()), ..Default::default() }), true).await;
    let started = t(dispatch::TicketState::InProgress);
    h.publish(&ticket_event("started", &started, &dispatch::TicketStarted { ticket: Some(started.clone()), ..Default::default() }), true).await;
    let resolved = t(dispatch::TicketState::Resolved);
    let resolution = dispatch::TicketResolved {
        ticket: Some(resolved.clone()),
        resolution_note: "The bulb was replaced".into(),
        ..Default::default()
    };
    h.publish(&ticket_event("resolved", &resolved, &resolution), true).await;
    h.wait_applied("FLYWHEEL_DISPATCH").await;

    let report = h
        .client
        .get_report(resident(&h.auth, "res-1", GetReportRequest { lookup: Some(get_report_request::Lookup::TrackingCode(filed.tracking_code.to_lowercase())) }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.status, ReportStatus::Resolved as i32);
    assert_eq!(report.ticket_id, "ticket-1");
    for (ticket, want) in [("ticket-1", vec![filed.id.clone()]), ("ticket-2", vec![])] {
        let listed = h
            .client
            .list_reports(staff(&h.auth, "ops", ListReportsRequest { ticket_id: ticket.into(), ..Default::default() }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.reports.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), want, "the reports of {ticket}");
    }
    assert_eq!(
        statuses(&report),
        [ReportStatus::Submitted, ReportStatus::Accepted, ReportStatus::InProgress, ReportStatus::Resolved].map(|s| s as i32),
        "each ticket event applied once"
    );
    assert_eq!(report.timeline[3].note, "The bulb was replaced");
    assert_eq!(report.expected_resolve_time, None, "no expected time once resolved");
    assert_eq!(report.surveys.len(), 1);
    let survey = &report.surveys[0];
    assert_eq!((survey.round, survey.state, survey.ticket_id.as_str()), (1, SurveyState::Open as i32, "ticket-1"));
    let open_for = survey.close_time.unwrap().seconds - survey.open_time.unwrap().seconds;
    assert_eq!(open_for, 7 * 86_400, "closes after the configured days");

    // Someone else cannot rate it.
    let other = h
        .client
        .rate_resolution(resident(&h.auth, "res-2", answer(&filed.id, 5, FixedAnswer::Yes)))
        .await
        .unwrap_err();
    assert_eq!(other.code(), tonic::Code::PermissionDenied);

    let rate = RateResolutionRequest {
        report_id: filed.id.clone(),
        rating: Some(ResolutionRating { rating: 2, fixed: FixedAnswer::DontKnow as i32, comment: "Still dark at night".into(), rate_time: None }),
        request_id: "rate-1".into(),
    };
    let rated = h.client.rate_resolution(resident(&h.auth, "res-1", rate.clone())).await.unwrap().into_inner();
    assert_eq!(rated.status, ReportStatus::Reopened as i32);
    assert_eq!(rated.reopen_count, 1);
    assert_eq!(rated.surveys[0].state, SurveyState::Answered as i32);
    assert_eq!(rated.surveys[0].answer.as_ref().unwrap().rating, 2);
    // A retry returns the same report; a second answer is refused, naming why.
    let again = h.client.rate_resolution(resident(&h.auth, "res-1", rate.clone())).await.unwrap().into_inner();
    assert_eq!(again.version, rated.version);
    let second = h.client.rate_resolution(resident(&h.auth, "res-1", RateResolutionRequest { request_id: String::new(), ..rate })).await.unwrap_err();
    assert_eq!(second.code(), tonic::Code::FailedPrecondition);
    assert!(second.message().contains("ANSWERED"), "{}", second.message());

    // Dispatch reopens (twice delivered): the report is already REOPENED and stays so.
    let reopened = t(dispatch::TicketState::Reopened);
    h.publish(&ticket_event("reopened", &reopened, &dispatch::TicketReopened { ticket: Some(reopened.clone()), report_id: filed.id.clone(), ..Default::default() }), true).await;
    h.wait_applied("FLYWHEEL_DISPATCH").await;
    let after = h.client.get_report(staff(&h.auth, "ops", GetReportRequest { lookup: Some(get_report_request::Lookup::Id(filed.id.clone())) })).await.unwrap().into_inner();
    assert_eq!(after.status, ReportStatus::Reopened as i32);
    assert_eq!(after.reopen_count, 1);
    assert_eq!(after.timeline.len(), 5);

    let events = h.feedback_events(7).await;
    assert_eq!(
        subjects(&events),
        [
            "flywheel.feedback.report.submitted",
            "flywheel.feedback.report.status_changed",
            "flywheel.feedback.report.status_changed",
            "flywheel.feedback.report.status_changed",
            "flywheel.feedback.report.rated",
            "flywheel.feedback.report.status_changed",
            "flywheel.feedback.report.reopen_requested",
        ]
    );
    let changes: Vec<_> = events
        .iter()
        .filter(|m| m.subject.as_str().ends_with("status_changed"))
        .map(|m| ReportStatusChanged::decode(m.payload.clone()).unwrap())
        .map(|c| (c.status, c.cause))
        .collect();
    let ticket_cause = StatusChangeCause::Ticket as i32;
    assert_eq!(
        changes,
        [
            (ReportStatus::Accepted as i32, ticket_cause),
            (ReportStatus::InProgress as i32, ticket_cause),
            (ReportStatus::Resolved as i32, ticket_cause),
            (ReportStatus::Reopened as i32, StatusChangeCause::Survey as i32),
        ]
    );
    let rated_event = ReportRated::decode(events[4].payload.clone()).unwrap();
    assert_eq!((rated_event.rating, rated_event.survey_round, rated_event.reopen_requested), (2, 1, true));
    assert!(rated_event.has_comment);
    let reopen = ReportReopenRequested::decode(events[6].payload.clone()).unwrap();
    assert_eq!(reopen.ticket_id, "ticket-1");
    assert_eq!((reopen.rating, reopen.fixed), (2, FixedAnswer::DontKnow as i32));
    assert!(reopen.low_rating && !reopen.not_fixed);
    assert_eq!(reopen.report.as_ref().unwrap().resident_id, "res-1", "events carry the opaque id");
    let headers = events[6].headers.as_ref().unwrap();
    assert_eq!(headers.get("ce-subject").unwrap().as_str(), filed.id);
    assert_eq!(headers.get("flywheel-correlation-id").unwrap().as_str(), after.correlation_id);
    assert!(!after.correlation_id.is_empty());
    // No event carries the contact details.
    let c = contact();
    for m in &events {
        let body = String::from_utf8_lossy(&m.payload);
        for private in [&c.name, &c.phone, &c.email] {
            assert!(!body.contains(private.as_str()), "{} leaks contact data", m.subject);
        }
    }
}

#[tokio::test]
async fn not_fixed_reopens_and_a_cancelled_ticket_closes_the_report() {
    let mut h = Harness::start().await;
    let (_, light) = h.district().await;
    let submit = |request_id: &str| SubmitReportRequest {
        report: Some(Report { category_id: light.id.clone(), ..complaint(None) }),
        contact: None,
        request_id: request_id.into(),
    };
    let filed = h.client.submit_report(resident(&h.auth, "res-1", submit("a"))).await.unwrap().into_inner();
    let resolved = ticket("ticket-9", &filed, dispatch::TicketState::Resolved);
    h.publish(&ticket_event("resolved", &resolved, &dispatch::TicketResolved { ticket: Some(resolved.clone()), resolution_note: "Done".into(), ..Default::default() }), false).await;
    h.wait_applied("FLYWHEEL_DISPATCH").await;
    let rated = h
        .client
        .rate_resolution(resident(&h.auth, "res-1", answer(&filed.id, 4, FixedAnswer::No)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rated.status, ReportStatus::Reopened as i32, "not fixed reopens whatever the rating");

    let cancelled = ticket("ticket-9", &filed, dispatch::TicketState::Cancelled);
    h.publish(&ticket_event("cancelled", &cancelled, &dispatch::TicketCancelled { ticket: Some(cancelled.clone()), note: "Handed to the power company".into(), ..Default::default() }), true).await;
    h.wait_applied("FLYWHEEL_DISPATCH").await;
    let closed = h.client.get_report(resident(&h.auth, "res-1", GetReportRequest { lookup: Some(get_report_request::Lookup::Id(filed.id.clone())) })).await.unwrap().into_inner();
    assert_eq!(closed.status, ReportStatus::Closed as i32);
    assert!(closed.close_time.is_some());
    assert_eq!(closed.timeline.last().unwrap().note, "Handed to the power company");
}

#[tokio::test]
async fn an_unanswered_survey_expires_and_takes_no_answer() {
    let settings = flywheel_feedback::settings::Settings {
        survey_open_for: std::time::Duration::from_millis(300),
        ..Default::default()
    };
    let mut h = Harness::with(settings).await;
    let (_, light) = h.district().await;
    let request = SubmitReportRequest {
        report: Some(Report { category_id: light.id.clone(), ..complaint(None) }),
        contact: None,
        request_id: String::new(),
    };
    let filed = h.client.submit_report(resident(&h.auth, "res-1", request)).await.unwrap().into_inner();
    let resolved = ticket("ticket-3", &filed, dispatch::TicketState::Resolved);
    h.publish(&ticket_event("resolved", &resolved, &dispatch::TicketResolved { ticket: Some(resolved.clone()), ..Default::default() }), false).await;
    h.wait_applied("FLYWHEEL_DISPATCH").await;

    let client = h.client.clone();
    let id = filed.id.clone();
    let auth = &h.auth;
    flywheel_testing::eventually(WAIT, || {
        let (mut client, id) = (client.clone(), id.clone());
        async move {
            let report = client.get_report(resident(auth, "res-1", GetReportRequest { lookup: Some(get_report_request::Lookup::Id(id)) })).await.ok()?.into_inner();
            (report.surveys.first()?.state == SurveyState::Expired as i32).then_some(())
        }
    })
    .await;
    let late = h
        .client
        .rate_resolution(resident(&h.auth, "res-1", answer(&filed.id, 1, FixedAnswer::No)))
        .await
        .unwrap_err();
    assert_eq!(late.code(), tonic::Code::FailedPrecondition);
    assert!(late.message().contains("EXPIRED"), "{}", late.message());
}

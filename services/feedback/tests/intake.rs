//! Concurrent SubmitReport calls, filed together in shared transactions: each is decided as if
//! filed alone — rate limits counted exactly, repeats linked to one primary, retries answered
//! with the first report — over a real server, database and nats-server.

mod common;

use common::*;
use flywheel_feedback::settings::Settings;
use flywheel_proto::flywheel::feedback::v1::*;
use std::collections::{HashMap, HashSet};

fn submit(report: Report) -> SubmitReportRequest {
    SubmitReportRequest { report: Some(report), contact: Some(contact()), request_id: String::new() }
}

/// Sends every request at once and waits for all the answers, in order.
async fn all_at_once(h: &Harness, requests: Vec<tonic::Request<SubmitReportRequest>>) -> Vec<Result<Report, tonic::Status>> {
    let calls = requests.into_iter().map(|r| {
        let mut client = h.client.clone();
        tokio::spawn(async move { client.submit_report(r).await.map(tonic::Response::into_inner) })
    });
    let mut answers = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        answers.push(call.await.unwrap());
    }
    answers
}

fn submit_us(r: &Report) -> (i64, i32) {
    let t = r.submit_time.unwrap();
    (t.seconds, t.nanos)
}

#[tokio::test]
async fn concurrent_filings_share_transactions_and_each_resident_limit_holds_exactly() {
    let mut h = Harness::with(Settings { per_resident_per_hour: 6, ..Settings::default() }).await;
    h.district().await;
    // Unclassified reports: no duplicate search, so only the limits tell them apart.
    let requests = (0..48).map(|n| resident(&h.auth, &format!("res-{}", n % 4), submit(complaint(None)))).collect();
    let answers = all_at_once(&h, requests).await;

    let mut filed: HashMap<String, Vec<Report>> = HashMap::new();
    for (n, answer) in answers.into_iter().enumerate() {
        match answer {
            Ok(report) => filed.entry(format!("res-{}", n % 4)).or_default().push(report),
            Err(status) => assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}"),
        }
    }
    for who in ["res-0", "res-1", "res-2", "res-3"] {
        assert_eq!(filed.get(who).map_or(0, Vec::len), 6, "{who} files exactly its limit");
    }
    let reports: Vec<&Report> = filed.values().flatten().collect();
    let codes: HashSet<&str> = reports.iter().map(|r| r.tracking_code.as_str()).collect();
    assert_eq!(codes.len(), 24, "every report has its own tracking code");
    assert!(reports.iter().all(|r| r.timeline.len() == 1 && r.status == ReportStatus::Submitted as i32));
    let instants: HashSet<(i64, i32)> = reports.iter().map(|r| submit_us(r)).collect();
    assert!(instants.len() < reports.len(), "some reports were filed in one transaction (one instant)");

    // Each filed report is stored and published once.
    let events = h.feedback_events(24).await;
    assert_eq!(subjects(&events), vec!["flywheel.feedback.report.submitted".to_owned(); 24]);
    for r in &reports {
        let stored = h.client.get_report(staff(&h.auth, "ops", by_id(&r.id))).await.unwrap().into_inner();
        assert_eq!(stored.tracking_code, r.tracking_code);
    }
}

#[tokio::test]
async fn concurrent_repeats_of_one_spot_link_to_a_single_primary() {
    let mut h = Harness::start().await;
    let (_, light) = h.district().await;
    let at_the_gate = Report { category_id: light.id.clone(), ..complaint(None) };
    let requests = (0..12).map(|n| resident(&h.auth, &format!("res-{n}"), submit(at_the_gate.clone()))).collect();
    let answers: Vec<Report> = all_at_once(&h, requests).await.into_iter().map(Result::unwrap).collect();

    let primaries: Vec<&Report> = answers.iter().filter(|r| r.duplicate_of_report_id.is_empty()).collect();
    assert_eq!(primaries.len(), 1, "one primary: {:?}", answers.iter().map(|r| (&r.id, &r.duplicate_of_report_id, r.submit_time)).collect::<Vec<_>>());
    let primary = primaries[0];
    assert!(answers.iter().filter(|r| r.id != primary.id).all(|r| r.duplicate_of_report_id == primary.id));
    let stored = h.client.get_report(staff(&h.auth, "ops", by_id(&primary.id))).await.unwrap().into_inner();
    assert_eq!(stored.duplicate_count, 11);
}

#[tokio::test]
async fn concurrent_retries_of_one_request_file_one_report() {
    let mut h = Harness::start().await;
    h.district().await;
    let keyed = SubmitReportRequest { request_id: "k-1".into(), ..submit(complaint(None)) };
    let requests = (0..10).map(|_| resident(&h.auth, "res-1", keyed.clone())).collect();
    let answers: Vec<Report> = all_at_once(&h, requests).await.into_iter().map(Result::unwrap).collect();
    let ids: HashSet<&str> = answers.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 1, "every retry answers with the first report");
    let listed = h
        .client
        .list_reports(staff(&h.auth, "ops", ListReportsRequest { page_size: 50, ..Default::default() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.reports.len(), 1);
}

fn by_id(id: &str) -> GetReportRequest {
    GetReportRequest { lookup: Some(get_report_request::Lookup::Id(id.into())) }
}

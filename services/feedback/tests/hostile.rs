//! Hostile input to every feedback method: nothing panics and nothing answers INTERNAL.

mod common;

use common::*;
use flywheel_proto::flywheel::feedback::v1::*;
use flywheel_runtime::auth::Role;
use flywheel_testing::hostile::{Target, fuzz_service};

#[tokio::test(flavor = "multi_thread")]
async fn every_method_survives_hostile_requests() {
    let mut h = Harness::start().await;
    let (site, category) = h.district().await;
    let report = h
        .client
        .submit_report(SubmitReportRequest {
            report: Some(Report { kind: ReportKind::Complaint as i32, site_id: site.id.clone(), category_id: category.id.clone(), description: "lamp out".into(), channel: ReportChannel::App as i32, ..Default::default() }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let known = vec![site.id, category.id, report.id, report.tracking_code];
    // Staff reach every method; a resident reaches support and rating.
    for (role, subject) in [(Role::Admin, "fuzz"), (Role::Resident, "resident-fuzz")] {
        let token = h.service.token(role, subject);
        let target = Target { channel: h.service.channel().await, service: "flywheel.feedback.v1.FeedbackService", known_ids: known.clone(), token };
        fuzz_service(&target).await;
    }
}

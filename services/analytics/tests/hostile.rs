//! Hostile input to every analytics method: nothing panics and nothing answers INTERNAL.

mod common;

use common::*;
use flywheel_runtime::auth::Role;
use flywheel_testing::hostile::{Target, fuzz_service};

#[tokio::test(flavor = "multi_thread")]
async fn every_method_survives_hostile_requests() {
    let h = Harness::start().await;
    let channel = h.service.as_ref().expect("running").channel().await;
    let target = Target { channel, service: "flywheel.analytics.v1.AnalyticsService", known_ids: vec!["site-1".into(), "gz-haizhu".into()], token: h.service.as_ref().expect("running").token(Role::Admin, "fuzz") };
    fuzz_service(&target).await;
}

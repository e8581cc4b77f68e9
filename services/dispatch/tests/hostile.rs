//! Hostile input to every dispatch method: nothing panics and nothing answers INTERNAL.

mod common;

use common::*;
use flywheel_runtime::auth::Role;
use flywheel_testing::hostile::{Target, fuzz_service};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn every_method_survives_hostile_requests() {
    let mut h = Harness::start().await;
    let d = district(&h, (Duration::from_secs(3600), Duration::from_secs(8 * 3600))).await;
    let crew = create_crew(&mut h.client, crew("lights", &[], &[&d.district], 5)).await;
    let ticket = create_ticket(&mut h.client, ticket(&d.tower.id, &d.lights.id)).await;
    let known = vec![d.district, d.tower.id, d.lights.id, crew.id, ticket.id, ticket.code];
    let channel = h.service.as_ref().expect("running").channel().await;
    let target = Target { channel, service: "flywheel.dispatch.v1.DispatchService", known_ids: known, token: h.service.as_ref().expect("running").token(Role::Admin, "fuzz") };
    fuzz_service(&target).await;
}

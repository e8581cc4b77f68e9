//! Failures through the compose deployment, each ending in a check that nothing acknowledged was
//! lost and nothing was doubled.

use flywheel_e2e::world::*;
use flywheel_e2e::{Stack, eventually};
use std::time::Duration;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const REPORTS: usize = 20;

/// Submits one report per site from a background task, `pause` apart.
fn stream_reports(c: &Clients, world: &World, sites: &[flywheel_proto::flywheel::registry::v1::Site], tag: &str, pause: Duration)
    -> tokio::task::JoinHandle<Vec<flywheel_proto::flywheel::feedback::v1::Report>> {
    let c = c.clone();
    let requests: Vec<_> = sites.iter().enumerate().map(|(i, s)| complaint_at(world, s, &format!("{tag}-{i}"))).collect();
    tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        for r in requests {
            acknowledged.push(submit(&c, r).await);
            tokio::time::sleep(pause).await;
        }
        acknowledged
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn dispatch_killed_while_reports_stream_in_makes_one_ticket_each() {
    let stack = Stack::up("kill");
    let mut c = clients(&stack).await;
    let world = define_world(&mut c).await;
    let sites = more_sites(&mut c, &world, REPORTS).await;

    let streaming = stream_reports(&c, &world, &sites, "kill", Duration::from_millis(150));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let killed = stack.docker(&["kill", "-s", "KILL", &stack.container("dispatch")]);
    assert!(killed.status.success());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(stack.compose(&["start", "dispatch"]).status.success());
    stack.wait_healthy(&["dispatch"], Duration::from_secs(60));
    c = clients(&stack).await;

    let reports = streaming.await.unwrap();
    assert_eq!(reports.len(), REPORTS);
    each_has_one_ticket(&c, &reports, Duration::from_secs(90)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nats_restart_under_load_loses_nothing_acknowledged() {
    let stack = Stack::up("nats");
    let mut c = clients(&stack).await;
    let world = define_world(&mut c).await;
    let sites = more_sites(&mut c, &world, REPORTS).await;

    let streaming = stream_reports(&c, &world, &sites, "nats", Duration::from_millis(150));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(stack.compose(&["restart", "-t", "1", "nats"]).status.success());
    stack.wait_healthy(&["nats"], Duration::from_secs(60));

    let reports = streaming.await.unwrap();
    each_has_one_ticket(&c, &reports, Duration::from_secs(120)).await;
    let received = eventually(Duration::from_secs(90), "analytics counts every report once", || {
        let mut a = c.analytics.clone();
        async move {
            let total = a.get_kpis(flywheel_proto::flywheel::analytics::v1::GetKpisRequest { time_range: Some(today()), ..Default::default() }).await.ok()?.into_inner().total?;
            (total.reports_received >= REPORTS as i64).then_some(total.reports_received)
        }
    })
    .await;
    assert_eq!(received, REPORTS as i64);
}

async fn health(stack: &Stack, service: &str) -> Option<ServingStatus> {
    let channel = tonic::transport::Endpoint::from_shared(stack.endpoint(service)).ok()?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(2))
        .connect()
        .await
        .ok()?;
    let response = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await.ok()?;
    Some(response.into_inner().status())
}

#[tokio::test(flavor = "multi_thread")]
async fn services_ride_out_a_database_outage_without_a_restart() {
    let stack = Stack::up("pg");
    let mut c = clients(&stack).await;
    let world = define_world(&mut c).await;
    let started = stack.docker(&["inspect", "--format", "{{.State.StartedAt}}", &stack.container("registry")]);

    assert!(stack.compose(&["stop", "-t", "1", "postgres"]).status.success());
    eventually(Duration::from_secs(30), "registry reports NOT_SERVING", || async {
        (health(&stack, "registry").await == Some(ServingStatus::NotServing)).then_some(())
    })
    .await;
    let err = c
        .registry
        .get_site(flywheel_proto::flywheel::registry::v1::GetSiteRequest { id: world.site.id.clone() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    tokio::time::sleep(Duration::from_secs(10)).await;

    assert!(stack.compose(&["start", "postgres"]).status.success());
    stack.wait_healthy(&["postgres"], Duration::from_secs(60));
    for service in flywheel_e2e::SERVICES {
        eventually(Duration::from_secs(60), &format!("{service} SERVING again"), || async {
            (health(&stack, service).await == Some(ServingStatus::Serving)).then_some(())
        })
        .await;
    }
    let site = c
        .registry
        .get_site(flywheel_proto::flywheel::registry::v1::GetSiteRequest { id: world.site.id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(site.id, world.site.id);
    let after = stack.docker(&["inspect", "--format", "{{.State.StartedAt}}", &stack.container("registry")]);
    assert_eq!(started.stdout, after.stdout, "registry was not restarted");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_cut_off_the_network_catches_up() {
    let stack = Stack::up("net");
    let mut c = clients(&stack).await;
    let world = define_world(&mut c).await;
    let sites = more_sites(&mut c, &world, REPORTS).await;
    let network = format!("{}_default", stack.project);
    let dispatch = stack.container("dispatch");

    assert!(stack.docker(&["network", "disconnect", &network, &dispatch]).status.success());
    // Reports keep coming while dispatch cannot hear them.
    let streaming = stream_reports(&c, &world, &sites, "net", Duration::from_millis(100));
    let reports = streaming.await.unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(stack.docker(&["network", "connect", &network, &dispatch]).status.success());

    c = clients(&stack).await;
    each_has_one_ticket(&c, &reports, Duration::from_secs(120)).await;
}

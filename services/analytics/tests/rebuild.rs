//! Rebuilding from the streams lands on exactly the numbers of the incremental path.

mod common;

use common::*;
use flywheel_proto::flywheel::analytics::v1 as pb;
use flywheel_proto::flywheel::feedback::v1 as feedback;
use sea_orm::{ConnectionTrait, Database};
use tokio_stream::StreamExt;

/// Every answer the projections give for the story's day.
async fn answers(h: &mut Harness) -> Vec<String> {
    let day = range(us("2025-03-01T00:00:00Z"), us("2025-03-02T00:00:00Z"));
    let c = &mut h.client;
    vec![
        format!(
            "{:?}",
            c.get_kpis(pb::GetKpisRequest {
                time_range: day,
                granularity: pb::Granularity::Hour as i32,
                group_by: pb::GroupBy::Site as i32,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
        ),
        format!("{:?}", c.get_scenario_matrix(pb::GetScenarioMatrixRequest { time_range: day, ..Default::default() }).await.unwrap().into_inner()),
        format!(
            "{:?}",
            c.get_site_league(pb::GetSiteLeagueRequest { time_range: day, min_volume: 1, include_unranked: true, ..Default::default() })
                .await
                .unwrap()
                .into_inner()
        ),
        format!(
            "{:?}",
            c.get_flywheel_indicators(pb::GetFlywheelIndicatorsRequest { time_range: day, ..Default::default() }).await.unwrap().into_inner()
        ),
        format!(
            "{:?}",
            c.export_csv(pb::ExportCsvRequest { dataset: pb::ExportDataset::Tickets as i32, time_range: day, ..Default::default() })
                .await
                .unwrap()
                .into_inner()
                .collect::<Vec<_>>()
                .await
        ),
    ]
}

#[tokio::test]
async fn rebuild_equals_incremental() {
    let mut h = Harness::start().await;
    let w = registry_world(&h, us("2025-02-01T00:00:00Z")).await;
    for e in story(&h, &w, us("2025-03-01T01:00:00Z")).await {
        h.republish(&e).await;
    }
    // Feedback's bookkeeping, last in its stream: analytics' consumer does not receive it, and
    // its status still reads as caught up.
    let moved = feedback::ReportStatusChanged { report: Some(report(&w, "rep-1", &w.site_a, feedback::ReportKind::Complaint)), ..Default::default() };
    h.publish("feedback", "flywheel.feedback.report.status_changed", "rep-1", us("2025-03-01T08:00:00Z"), &moved).await;
    h.caught_up().await;
    let incremental = answers(&mut h).await;
    h.stop().await;

    // Lose the projections, so only the replay can bring the numbers back.
    let db = Database::connect(h.db.url()).await.unwrap();
    db.execute_unprepared("DELETE FROM kpi_hour; DELETE FROM site; DELETE FROM ticket;").await.unwrap();
    db.close().await.unwrap();

    // The real command, as an operator runs it.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_flywheel-analytics"))
        .arg("rebuild")
        .env("DATABASE_URL", h.db.url())
        .env("NATS_URL", h.nats.url())
        .env("AUTH_JWKS_FILE", h.auth.jwks_path())
        .output()
        .await
        .unwrap();
    let progress = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{progress}{}", String::from_utf8_lossy(&out.stderr));
    // 3 regions + 2 sites + 1 category; 11 ticket events + 1 redelivered; 4 report events + 1
    // redelivered + the status change the subscription leaves out.
    for line in [
        "FLYWHEEL_REGISTRY: 6/6 (6 applied, 0 skipped)",
        "FLYWHEEL_DISPATCH: 12/12 (11 applied, 1 skipped)",
        "FLYWHEEL_FEEDBACK: 6/6 (4 applied, 2 skipped)",
    ] {
        assert!(progress.contains(line), "{line} in {progress}");
    }
    assert!(progress.ends_with("rebuild committed\n"), "{progress}");

    h.restart().await;
    h.caught_up().await;
    assert_eq!(answers(&mut h).await, incremental);

    // The durable consumers go on from where they were: new events count once.
    let t = TicketLife { h: &h, ticket: ticket(&w, "t-3", &w.site_b) };
    t.created(us("2025-03-01T09:30:00Z")).await;
    h.caught_up().await;
    let total = h
        .client
        .get_kpis(pb::GetKpisRequest { time_range: range(us("2025-03-01T00:00:00Z"), us("2025-03-02T00:00:00Z")), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .total
        .unwrap();
    assert_eq!((total.tickets_opened, total.backlog), (3, 1));
}

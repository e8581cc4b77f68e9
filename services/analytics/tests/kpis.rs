//! Real events over a real nats-server become KPIs over gRPC; redelivered events never count
//! twice; stale snapshots never overwrite newer ones.

mod common;

use common::*;
use flywheel_proto::flywheel::analytics::v1 as pb;
use flywheel_proto::flywheel::analytics::v1::analytics_service_client::AnalyticsServiceClient;
use flywheel_proto::flywheel::registry::v1 as registry;
use flywheel_testing::Role;
use tokio_stream::StreamExt;

const T0: &str = "2025-03-01T01:00:00Z";

async fn told() -> (Harness, World) {
    let mut h = Harness::start().await;
    let w = registry_world(&h, us("2025-02-01T00:00:00Z")).await;
    let again = story(&h, &w, us(T0)).await;
    for e in &again {
        h.republish(e).await;
    }
    h.caught_up().await;
    (h, w)
}

fn seconds(d: &Option<prost_types::Duration>) -> f64 {
    d.as_ref().map(|d| d.seconds as f64 + f64::from(d.nanos) / 1e9).unwrap()
}

fn close(a: f64, b: f64, relative: f64) -> bool {
    (a - b).abs() <= b.abs() * relative
}

#[tokio::test]
async fn events_become_kpis_and_redeliveries_never_count_twice() {
    let (mut h, w) = told().await;
    let day = range(us("2025-03-01T00:00:00Z"), us("2025-03-02T00:00:00Z"));
    let r = h
        .client
        .get_kpis(pb::GetKpisRequest { time_range: day, group_by: pb::GroupBy::Site as i32, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let t = r.total.unwrap();
    let counts = [
        ("reports_received", t.reports_received, 2),
        ("praise_received", t.praise_received, 1),
        ("tickets_opened", t.tickets_opened, 2),
        ("tickets_resolved", t.tickets_resolved, 2),
        ("tickets_closed", t.tickets_closed, 1),
        ("tickets_cancelled", t.tickets_cancelled, 1),
        ("tickets_reopened", t.tickets_reopened, 1),
        ("backlog", t.backlog, 0),
        ("sla_breaches", t.sla_breaches, 1),
        ("resolve_breaches", t.resolve_breaches, 1),
        ("escalations", t.escalations, 1),
        ("ratings_count", t.ratings_count, 1),
        ("supports_count", t.supports_count, 1),
    ];
    for (name, got, want) in counts {
        assert_eq!(got, want, "{name}");
    }
    assert_eq!(t.sla_compliance_ratio, Some(0.5));
    assert_eq!(t.reopen_rate, Some(0.5));
    assert_eq!(t.first_assignment_resolution_rate, Some(0.5));
    assert_eq!(t.csat_mean, Some(4.0));
    assert_eq!(t.fixed_share, Some(1.0));
    let ack = t.time_to_acknowledge.unwrap();
    assert_eq!(ack.count, 2);
    assert_eq!(seconds(&ack.mean), 1200.0);
    assert!(close(seconds(&ack.p50), 600.0, 0.01), "p50 {:?}", ack.p50);
    let ttr = t.time_to_resolve.unwrap();
    assert_eq!((ttr.count, seconds(&ttr.mean)), (2, 3.5 * 3600.0));
    assert_eq!(r.time_zone, "Asia/Shanghai");
    assert_eq!(r.as_of_time.unwrap().seconds, (us(T0) + 7 * HOUR) / 1_000_000);

    // Groups by tickets opened: site A, then B (only the praise).
    let sites: Vec<(String, i64, i64)> = r
        .groups
        .iter()
        .map(|g| {
            let k = g.total.unwrap();
            (g.key.clone().unwrap().id, k.tickets_opened, k.reports_received)
        })
        .collect();
    assert_eq!(sites, [(w.site_a.clone(), 2, 1), (w.site_b.clone(), 0, 1)]);
    assert_eq!(r.groups[0].key.clone().unwrap().code, "CT");

    // Hour buckets carry the backlog; the reopen counts against the resolution at 06:00.
    let r = h
        .client
        .get_kpis(pb::GetKpisRequest {
            time_range: range(us("2025-03-01T00:00:00Z"), us("2025-03-01T10:00:00Z")),
            granularity: pb::Granularity::Hour as i32,
            time_zone: "UTC".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.groups.len(), 1);
    let buckets = &r.groups[0].buckets;
    let backlog: Vec<i64> = buckets.iter().map(|b| b.kpis.unwrap().backlog).collect();
    assert_eq!(backlog, [0, 2, 2, 1, 1, 1, 0, 1, 0, 0]);
    let six = buckets[6].kpis.unwrap();
    assert_eq!((six.tickets_resolved, six.reopen_rate), (1, Some(1.0)));

    // Redelivering again changes nothing.
    let again = story_events_again(&h, &w).await;
    h.caught_up().await;
    let after = h
        .client
        .get_kpis(pb::GetKpisRequest { time_range: day, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .total
        .unwrap();
    assert_eq!((after.reports_received, after.tickets_opened, after.ratings_count), (2, 2, again));
}

/// Publishes the rating once more under a fresh JetStream id; returns the expected rating count.
async fn story_events_again(h: &Harness, w: &World) -> i64 {
    let complaint = report(w, "rep-1", &w.site_a, flywheel_proto::flywheel::feedback::v1::ReportKind::Complaint);
    let m = flywheel_proto::flywheel::feedback::v1::ReportRated { report: Some(complaint), rating: 4, ..Default::default() };
    let event = h.publish("feedback", "flywheel.feedback.report.rated", "rep-1", us(T0) + 3 * HOUR, &m).await;
    h.republish(&event).await;
    h.republish(&event).await;
    2
}

#[tokio::test]
async fn matrix_league_trends_and_flywheel_indicators() {
    let (mut h, w) = told().await;
    let day = range(us("2025-03-01T00:00:00Z"), us("2025-03-02T00:00:00Z"));

    let m = h
        .client
        .get_scenario_matrix(pb::GetScenarioMatrixRequest { time_range: day, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(m.cells.len(), 9);
    let volumes: Vec<i64> = m.cells.iter().map(|c| c.volume).collect();
    assert_eq!(volumes, [0, 2, 0, 0, 0, 0, 0, 0, 0]);
    let cell = &m.cells[1];
    assert_eq!((cell.cell.unwrap().dimension, cell.cell.unwrap().perspective), (1, 2));
    assert_eq!((cell.sla_compliance_ratio, cell.csat_mean), (Some(0.5), Some(4.0)));

    // A stale snapshot (version 1) after a newer one (version 2) changes nothing.
    let renamed = |version: i64, name: &str| registry::SiteUpdated {
        site: Some(registry::Site {
            id: w.site_a.clone(),
            code: "CT".into(),
            name: name.into(),
            region_path: w.path(),
            flagship: true,
            location: Some(flywheel_proto::flywheel::common::v1::GeoPoint { lat: 23.1059, lng: 113.3245 }),
            status: registry::Status::Active as i32,
            create_time: Some(ts(us("2025-02-01T00:00:00Z"))),
            version,
            ..Default::default()
        }),
        changed_fields: vec!["name".into()],
    };
    h.publish("registry", "flywheel.registry.site.updated", &w.site_a, us(T0), &renamed(2, "Canton Tower")).await;
    h.publish("registry", "flywheel.registry.site.updated", &w.site_a, us(T0), &renamed(1, "Old name")).await;
    h.caught_up().await;

    let league = |min_volume: i64, rank_by: pb::LeagueMetric| pb::GetSiteLeagueRequest {
        time_range: day,
        min_volume,
        rank_by: rank_by as i32,
        include_unranked: true,
        ..Default::default()
    };
    let l = h.client.get_site_league(league(1, pb::LeagueMetric::SlaCompliance)).await.unwrap().into_inner();
    assert_eq!((l.ranked_count, l.unranked_count, l.min_volume), (1, 1, 1));
    let rows: Vec<(i32, &str, i64, Option<f64>)> =
        l.entries.iter().map(|e| (e.rank, e.site_name.as_str(), e.volume, e.score)).collect();
    assert_eq!(rows, [(1, "Canton Tower", 2, Some(0.5)), (0, "Site PZ", 0, None)]);
    let l = h.client.get_site_league(league(0, pb::LeagueMetric::Composite)).await.unwrap().into_inner();
    assert_eq!((l.ranked_count, l.min_volume), (0, 20), "the default minimum keeps tiny samples out");

    let local_day = range(us("2025-02-28T16:00:00Z"), us("2025-03-01T16:00:00Z"));
    let t = h
        .client
        .get_trends(pb::GetTrendsRequest {
            time_range: local_day,
            granularity: pb::Granularity::Day as i32,
            metrics: vec![pb::TrendMetric::TicketsOpened as i32, pb::TrendMetric::SlaComplianceRatio as i32],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.series.len(), 2);
    let opened = &t.series[0];
    assert_eq!(opened.points.len(), 1);
    assert_eq!((opened.total, opened.previous_total, opened.change), (Some(2.0), Some(0.0), Some(2.0)));
    assert_eq!((t.series[1].total, t.series[1].change), (Some(0.5), None));

    let f = h
        .client
        .get_flywheel_indicators(pb::GetFlywheelIndicatorsRequest { time_range: day, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let d = &f.districts[0];
    assert_eq!((d.region_id.as_str(), d.managed_sites, d.managed_sites_at_start, d.flagship_sites), (w.district.as_str(), 2, 2, 1));
    assert_eq!((d.tickets_opened, d.growth_ratio), (2, Some(0.0)));
    let happiness = d.happiness.unwrap();
    // 100 x (0.4 x 0.75 + 0.2 x 1 + 0.2 x 0.5 + 0.1 x 0.5 + 0.1 x 0.5)
    assert!((happiness.value.unwrap() - 70.0).abs() < 1e-9, "{happiness:?}");
    let reach = &f.flagships[0];
    assert_eq!((reach.site_id.as_str(), reach.sites_within, reach.radius_km), (w.site_a.as_str(), 1, 3.0));
    assert_eq!((reach.tickets_within, reach.reports_within), (2, 2));
    let narrow = h
        .client
        .get_flywheel_indicators(pb::GetFlywheelIndicatorsRequest { time_range: day, reach_radius_km: 0.5, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(narrow.flagships[0].sites_within, 0);
    let missing = h
        .client
        .get_flywheel_indicators(pb::GetFlywheelIndicatorsRequest { time_range: day, region_id: "nowhere".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
}

async fn export(h: &mut Harness, request: pb::ExportCsvRequest) -> Result<Vec<pb::ExportCsvResponse>, tonic::Status> {
    let mut stream = h.client.export_csv(request).await?.into_inner();
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.next().await {
        chunks.push(chunk?);
    }
    Ok(chunks)
}

/// The lines of a whole export.
async fn export_lines(h: &mut Harness, request: pb::ExportCsvRequest) -> Vec<String> {
    let chunks = export(h, request).await.unwrap();
    let text = String::from_utf8(chunks.iter().flat_map(|c| c.data.clone()).collect()).unwrap();
    text.split_terminator("\r\n").map(str::to_owned).collect()
}

#[tokio::test]
async fn csv_exports_resume_after_any_chunk() {
    let (mut h, _w) = told().await;
    let request = pb::ExportCsvRequest {
        dataset: pb::ExportDataset::ScenarioMatrix as i32,
        time_range: range(us("2025-03-01T00:00:00Z"), us("2025-03-02T00:00:00Z")),
        max_chunk_bytes: 1024,
        ..Default::default()
    };
    let chunks = export(&mut h, request.clone()).await.unwrap();
    assert!(chunks.len() >= 2, "small chunks split the export");
    assert!(chunks.last().unwrap().last);
    let whole: Vec<u8> = chunks.iter().flat_map(|c| c.data.clone()).collect();
    let text = String::from_utf8(whole.clone()).unwrap();
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 10, "a header and nine cells");
    assert!(lines[0].starts_with("dimension,perspective,reports_received,"));
    assert!(lines[2].starts_with("SAFETY,LIVING,2,1,2,2,1,1,1,0,1200.000,"), "{}", lines[2]);
    assert_eq!(chunks.iter().map(|c| c.row_count).sum::<i64>(), 9);

    let resumed = export(&mut h, pb::ExportCsvRequest { cursor: chunks[0].cursor.clone(), ..request.clone() }).await.unwrap();
    let mut joined = chunks[0].data.clone();
    joined.extend(resumed.iter().flat_map(|c| c.data.clone()));
    assert_eq!(joined, whole);
    assert!(!resumed[0].columns.is_empty());

    let other = pb::ExportCsvRequest { cursor: chunks[0].cursor.clone(), time_zone: "UTC".into(), ..request };
    let err = export(&mut h, other).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn the_tickets_export_lists_each_ticket_opened() {
    let (mut h, _w) = told().await;
    let request = pb::ExportCsvRequest {
        dataset: pb::ExportDataset::Tickets as i32,
        time_range: range(us("2025-03-01T00:00:00Z"), us("2025-03-02T00:00:00Z")),
        ..Default::default()
    };
    let lines = export_lines(&mut h, request).await;
    let path = "r-gz/r-haizhu/r-chigang";
    let want = [
        "ticket_id,site_id,region_path,category_id,dimension,perspective,priority,origin_kind,report_id,state,create_time,\
         first_acknowledge_time,resolve_time,time_to_acknowledge_s,time_to_resolve_s,resolved_within_sla,reopen_count,\
         assignment_count,rating,fixed"
            .to_owned(),
        format!(
            "t-1,s-canton-tower,{path},c-lighting,SAFETY,LIVING,P2,,,,2025-03-01T09:02:00+08:00,2025-03-01T09:12:00+08:00,\
             2025-03-01T11:00:00+08:00,600.000,7200.000,true,0,0,4,YES"
        ),
        format!(
            "t-2,s-canton-tower,{path},c-lighting,SAFETY,LIVING,P2,,,,2025-03-01T09:05:00+08:00,2025-03-01T09:35:00+08:00,\
             2025-03-01T14:00:00+08:00,1800.000,18000.000,false,0,0,,"
        ),
    ];
    assert_eq!(lines, want);
}

#[tokio::test]
async fn bad_requests_name_their_fields() {
    let mut h = Harness::start().await;
    let day = range(us("2025-03-01T00:00:00Z"), us("2025-03-02T00:00:00Z"));
    let fields = |s: tonic::Status| -> Vec<String> {
        assert_eq!(s.code(), tonic::Code::InvalidArgument, "{s:?}");
        tonic_types::StatusExt::get_error_details(&s)
            .bad_request()
            .map(|b| b.field_violations.iter().map(|f| f.field.clone()).collect())
            .unwrap_or_default()
    };
    let cases: Vec<(pb::GetKpisRequest, Vec<&str>)> = vec![
        (pb::GetKpisRequest::default(), vec!["time_range"]),
        (pb::GetKpisRequest { time_range: day, time_zone: "Asia/Kolkata".into(), ..Default::default() }, vec!["time_zone"]),
        (pb::GetKpisRequest { time_range: range(us(T0), us(T0)), ..Default::default() }, vec!["time_range.end_time"]),
        (
            pb::GetKpisRequest {
                time_range: range(0, 3000 * HOUR),
                granularity: pb::Granularity::Hour as i32,
                ..Default::default()
            },
            vec!["granularity"],
        ),
        (pb::GetKpisRequest { time_range: day, page_token: "bogus".into(), ..Default::default() }, vec!["page_token"]),
    ];
    for (request, want) in cases {
        let got = fields(h.client.get_kpis(request.clone()).await.unwrap_err());
        assert_eq!(got, want, "{request:?}");
    }
    let trends = h.client.get_trends(pb::GetTrendsRequest { time_range: day, ..Default::default() }).await.unwrap_err();
    assert_eq!(fields(trends), ["granularity", "metrics"]);
    let league = h.client.get_site_league(pb::GetSiteLeagueRequest { time_range: day, min_volume: -1, ..Default::default() }).await.unwrap_err();
    assert_eq!(fields(league), ["min_volume"]);
}

#[tokio::test]
async fn only_analysts_and_admins_read_and_services_see_the_projection_status() {
    let h = Harness::start().await;
    let service = h.service.as_ref().unwrap();
    let matrix = || pb::GetScenarioMatrixRequest {
        time_range: range(us("2025-03-01T00:00:00Z"), us("2025-03-02T00:00:00Z")),
        ..Default::default()
    };
    let code = |r: Result<_, tonic::Status>| r.err().map(|s: tonic::Status| s.code());
    let mut anonymous = AnalyticsServiceClient::new(service.channel().await);
    assert_eq!(code(anonymous.get_scenario_matrix(matrix()).await), Some(tonic::Code::Unauthenticated));
    for (role, want) in [
        (Role::Resident, Some(tonic::Code::PermissionDenied)),
        (Role::Dispatcher, Some(tonic::Code::PermissionDenied)),
        (Role::Service, Some(tonic::Code::PermissionDenied)),
        (Role::Analyst, None),
        (Role::Admin, None),
    ] {
        let mut client = AnalyticsServiceClient::new(service.channel_as(role, "someone").await);
        assert_eq!(code(client.get_scenario_matrix(matrix()).await), want, "{role}");
    }
    let mut monitor = AnalyticsServiceClient::new(service.channel_as(Role::Service, "monitor").await);
    monitor.get_projection_status(pb::GetProjectionStatusRequest {}).await.unwrap();
}

#[tokio::test]
async fn ticket_rows_are_the_same_whatever_the_arrival_order() {
    // A redelivery after a failed attempt may arrive after later events of the same ticket.
    let mut h = Harness::start().await;
    let w = registry_world(&h, us("2025-02-01T00:00:00Z")).await;
    let t0 = us(T0);
    let t = TicketLife { h: &h, ticket: ticket(&w, "t-late", &w.site_a) };
    t.resolved(t0 + 5 * HOUR, 4 * HOUR, false, false).await;
    t.accepted(t0 + 40 * MINUTE, 30 * MINUTE).await;
    t.resolved(t0 + 2 * HOUR, HOUR, true, true).await;
    t.created(t0 + 10 * MINUTE).await;
    t.accepted(t0 + 20 * MINUTE, 10 * MINUTE).await;
    h.caught_up().await;
    let request = pb::ExportCsvRequest {
        dataset: pb::ExportDataset::Tickets as i32,
        time_range: range(us("2025-03-01T00:00:00Z"), us("2025-03-02T00:00:00Z")),
        time_zone: "UTC".into(),
        ..Default::default()
    };
    let lines = export_lines(&mut h, request).await;
    let row = &lines[1];
    // Created at 01:10, first acknowledged at 01:20 (10 min), latest resolution at 06:00.
    assert!(
        row.contains(",2025-03-01T01:10:00+00:00,2025-03-01T01:20:00+00:00,2025-03-01T06:00:00+00:00,600.000,14400.000,false,"),
        "{row}"
    );
}

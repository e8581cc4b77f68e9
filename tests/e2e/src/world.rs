//! A small world every end-to-end test starts from: a district, the flagship site, one category
//! and one crew on duty around the clock, defined through the public APIs.

use crate::{Stack, eventually};
use flywheel_proto::flywheel::analytics::v1 as analytics;
use flywheel_proto::flywheel::common::v1::{Dimension, GeoPoint, Perspective, ScenarioCell};
use flywheel_proto::flywheel::dispatch::v1 as dispatch;
use flywheel_proto::flywheel::feedback::v1 as feedback;
use flywheel_proto::flywheel::registry::v1 as registry;
use std::time::Duration;
use flywheel_testing::AuthChannel;

pub const WAIT: Duration = Duration::from_secs(60);

/// Clients of the four services: the operator's staff (admin) for registry, dispatch and
/// analytics; the residents' app (a `service` identity filing and rating for residents) for
/// feedback, and feedback's staff view.
#[derive(Clone)]
pub struct Clients {
    pub registry: registry::registry_service_client::RegistryServiceClient<AuthChannel>,
    pub dispatch: dispatch::dispatch_service_client::DispatchServiceClient<AuthChannel>,
    pub feedback: feedback::feedback_service_client::FeedbackServiceClient<AuthChannel>,
    pub feedback_staff: feedback::feedback_service_client::FeedbackServiceClient<AuthChannel>,
    pub analytics: analytics::analytics_service_client::AnalyticsServiceClient<AuthChannel>,
}

pub async fn clients(stack: &Stack) -> Clients {
    let admin = stack.token("admin", "e2e-operator");
    let app = stack.token("service", "residents-app");
    Clients {
        registry: registry::registry_service_client::RegistryServiceClient::new(stack.channel("registry", &admin).await),
        dispatch: dispatch::dispatch_service_client::DispatchServiceClient::new(stack.channel("dispatch", &admin).await),
        feedback: feedback::feedback_service_client::FeedbackServiceClient::new(stack.channel("feedback", &app).await),
        feedback_staff: feedback::feedback_service_client::FeedbackServiceClient::new(stack.channel("feedback", &admin).await),
        analytics: analytics::analytics_service_client::AnalyticsServiceClient::new(stack.channel("analytics", &admin).await),
    }
}

pub struct World {
    pub district: String,
    pub site: registry::Site,
    pub category: registry::Category,
    pub crew: dispatch::Crew,
}

pub async fn define_world(c: &mut Clients) -> World {
    let city = c.registry.create_region(registry::CreateRegionRequest {
        region: Some(registry::Region { code: "gz".into(), name: "Guangzhou".into(), kind: registry::RegionKind::City as i32, ..Default::default() }),
        request_id: String::new(),
    }).await.unwrap().into_inner();
    let district = c.registry.create_region(registry::CreateRegionRequest {
        region: Some(registry::Region { code: "gz-haizhu".into(), name: "Haizhu".into(), kind: registry::RegionKind::District as i32, parent_id: city.id.clone(), ..Default::default() }),
        request_id: String::new(),
    }).await.unwrap().into_inner();
    let site = c.registry.register_site(registry::RegisterSiteRequest {
        site: Some(registry::Site {
            code: "canton-tower".into(),
            name: "Canton Tower Scenic Area".into(),
            r#type: registry::SiteType::ScenicArea as i32,
            region_id: district.id.clone(),
            location: Some(GeoPoint { lat: 23.1066, lng: 113.3245 }),
            service_radius_m: 800.0,
            flagship: true,
            ..Default::default()
        }),
        request_id: String::new(),
    }).await.unwrap().into_inner();
    let category = c.registry.define_category(registry::DefineCategoryRequest {
        category: Some(registry::Category {
            code: "street-light-out".into(),
            name: "Broken street light".into(),
            cell: Some(ScenarioCell { dimension: Dimension::Assets as i32, perspective: Perspective::Living as i32 }),
            default_priority: 3,
            sla_targets: (1..=4).map(|p| registry::SlaTarget {
                priority: p,
                acknowledge_within: Some(prost_types::Duration { seconds: 3600, nanos: 0 }),
                resolve_within: Some(prost_types::Duration { seconds: 24 * 3600, nanos: 0 }),
            }).collect(),
            required_skills: vec!["electrical".into()],
            ..Default::default()
        }),
        request_id: String::new(),
    }).await.unwrap().into_inner();

    // Dispatch learns the district from registry events; retry until its replica has it.
    let crew_request = dispatch::CreateCrewRequest {
        crew: Some(dispatch::Crew {
            code: "electrical".into(),
            name: "Electrical maintenance".into(),
            skills: vec!["electrical".into()],
            coverage: Some(dispatch::CrewCoverage { region_ids: vec![district.id.clone()], site_ids: vec![] }),
            base_location: Some(GeoPoint { lat: 23.10, lng: 113.32 }),
            capacity: 10,
            time_zone: "Asia/Shanghai".into(),
            shifts: (1..=7).map(|weekday| dispatch::WeeklyShift {
                weekday,
                start_minute_of_day: 0,
                duration: Some(prost_types::Duration { seconds: 24 * 3600, nanos: 0 }),
            }).collect(),
            members: vec![dispatch::CrewMember { member_id: "lead-1".into(), display_name: "Lead".into(), role: dispatch::CrewMemberRole::Lead as i32 }],
            ..Default::default()
        }),
        request_id: "e2e-crew".into(),
    };
    let crew = eventually(WAIT, "dispatch accepts a crew for the district", || {
        let mut d = c.dispatch.clone();
        let r = crew_request.clone();
        async move { d.create_crew(r).await.ok().map(|r| r.into_inner()) }
    }).await;
    World { district: district.id, site, category, crew }
}

pub async fn ticket_for_report(c: &Clients, report_id: &str, state: dispatch::TicketState) -> dispatch::Ticket {
    eventually(WAIT, &format!("a ticket for report {report_id} in {state:?}"), || {
        let mut d = c.dispatch.clone();
        let report_id = report_id.to_owned();
        async move {
            let list = d.list_tickets(dispatch::ListTicketsRequest { report_id, ..Default::default() }).await.ok()?.into_inner();
            match list.tickets.as_slice() {
                [one] if one.state == state as i32 => Some(one.clone()),
                [_] => None,
                [] => None,
                many => panic!("{} tickets for one report", many.len()),
            }
        }
    }).await
}

pub async fn work_ticket(c: &mut Clients, ticket: dispatch::Ticket) -> dispatch::Ticket {
    let t = c.dispatch.accept_ticket(dispatch::AcceptTicketRequest { ticket_id: ticket.id.clone(), version: ticket.version, ..Default::default() }).await.unwrap().into_inner();
    let t = c.dispatch.start_ticket(dispatch::StartTicketRequest { ticket_id: t.id.clone(), version: t.version, ..Default::default() }).await.unwrap().into_inner();
    c.dispatch.resolve_ticket(dispatch::ResolveTicketRequest {
        ticket_id: t.id.clone(),
        version: t.version,
        code: dispatch::ResolutionCode::Fixed as i32,
        note: "Lamp replaced".into(),
        ..Default::default()
    }).await.unwrap().into_inner()
}

pub async fn rate_when_survey_opens(c: &mut Clients, report_id: &str, round: usize, rating: i32, fixed: feedback::FixedAnswer) {
    eventually(WAIT, &format!("survey round {round} opens"), || {
        let mut f = c.feedback.clone();
        let report_id = report_id.to_owned();
        async move {
            let report = f.get_report(feedback::GetReportRequest { lookup: Some(feedback::get_report_request::Lookup::Id(report_id)) }).await.ok()?.into_inner();
            (report.surveys.len() >= round && report.surveys[round - 1].state == feedback::SurveyState::Open as i32).then_some(())
        }
    }).await;
    c.feedback.rate_resolution(feedback::RateResolutionRequest {
        report_id: report_id.to_owned(),
        rating: Some(feedback::ResolutionRating { rating, fixed: fixed as i32, comment: format!("rating {rating}"), ..Default::default() }),
        request_id: format!("rate-{report_id}-{round}"),
    }).await.unwrap();
}


/// A complaint at the flagship, located by coordinates only.
pub fn complaint(world: &World, request_id: &str) -> feedback::SubmitReportRequest {
    feedback::SubmitReportRequest {
        report: Some(feedback::Report {
            kind: feedback::ReportKind::Complaint as i32,
            location: Some(GeoPoint { lat: 23.1060, lng: 113.3250 }),
            category_id: world.category.id.clone(),
            description: "The lamp by the north gate is out".into(),
            channel: feedback::ReportChannel::App as i32,
            ..Default::default()
        }),
        contact: Some(feedback::ResidentContact { name: "Li Wei".into(), phone: "+86 20 5555 0101".into(), email: String::new() }),
        request_id: request_id.into(),
    }
}

/// Registers `n` more sites, 1.2 km apart on a line east of the flagship (each its own place, so
/// reports at them are never duplicates of one another).
pub async fn more_sites(c: &mut Clients, world: &World, n: usize) -> Vec<registry::Site> {
    let mut sites = Vec::with_capacity(n);
    for i in 0..n {
        let site = c.registry.register_site(registry::RegisterSiteRequest {
            site: Some(registry::Site {
                code: format!("segment-{i}"),
                name: format!("Street segment {i}"),
                r#type: registry::SiteType::StreetSegment as i32,
                region_id: world.district.clone(),
                location: Some(GeoPoint { lat: 23.09, lng: 113.20 + i as f64 * 0.012 }),
                service_radius_m: 100.0,
                ..Default::default()
            }),
            request_id: format!("segment-{i}"),
        }).await.unwrap().into_inner();
        sites.push(site);
    }
    sites
}

/// A complaint at a given site, by id.
pub fn complaint_at(world: &World, site: &registry::Site, request_id: &str) -> feedback::SubmitReportRequest {
    let mut request = complaint(world, request_id);
    if let Some(report) = request.report.as_mut() {
        report.location = None;
        report.site_id = site.id.clone();
    }
    request
}

/// Submits a report, retrying while feedback is unavailable or its replica lags; returns the
/// report once feedback acknowledged it.
pub async fn submit(c: &Clients, request: feedback::SubmitReportRequest) -> feedback::Report {
    eventually(WAIT, "feedback acknowledges the report", || {
        let mut f = c.feedback.clone();
        let r = request.clone();
        async move { f.submit_report(r).await.ok().map(|r| r.into_inner()) }
    }).await
}

/// Waits until every report has exactly one ticket (and never more than one).
pub async fn each_has_one_ticket(c: &Clients, reports: &[feedback::Report], within: Duration) {
    for report in reports {
        let id = report.id.clone();
        eventually(within, &format!("one ticket for report {id}"), || {
            let mut d = c.dispatch.clone();
            let id = id.clone();
            async move {
                let list = d.list_tickets(dispatch::ListTicketsRequest { report_id: id, ..Default::default() }).await.ok()?.into_inner();
                assert!(list.tickets.len() <= 1, "{} tickets for one report", list.tickets.len());
                (list.tickets.len() == 1).then_some(())
            }
        }).await;
    }
}

/// The last day up to an hour ahead: a time range that holds everything a test just did.
pub fn today() -> analytics::TimeRange {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    analytics::TimeRange {
        start_time: Some(prost_types::Timestamp { seconds: now - 24 * 3600, nanos: 0 }),
        end_time: Some(prost_types::Timestamp { seconds: now + 3600, nanos: 0 }),
    }
}

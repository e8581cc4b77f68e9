//! `flywheel demo load`: the demo district through the public gRPC APIs. Every create carries a
//! request id derived from the demo codes, so loading twice changes nothing.

mod district;

use crate::endpoints::{Conn, Endpoints};
use district::{CATEGORIES, CREWS, FLAGSHIP, SITES, SLA_MINUTES, STREETS};
use flywheel_proto::flywheel::common::v1::{GeoPoint, ScenarioCell};
use flywheel_proto::flywheel::dispatch::v1 as dispatch;
use flywheel_proto::flywheel::feedback::v1 as feedback;
use flywheel_proto::flywheel::registry::v1 as registry;
use std::collections::HashMap;

#[derive(clap::Subcommand)]
pub enum DemoCommand {
    /// Loads the Haizhu district: regions, the catalog, the flagship and its sites, and crews.
    Load {
        /// Also submit this many simulated resident reports, so the dashboard moves.
        #[arg(long, default_value_t = 0)]
        reports: u32,
    },
}

pub async fn run(ep: &Endpoints, command: DemoCommand) -> anyhow::Result<()> {
    let DemoCommand::Load { reports } = command;
    let mut reg = ep.registry().await?;
    let regions = load_regions(&mut reg).await?;
    let categories = load_categories(&mut reg).await?;
    let sites = load_sites(&mut reg, &regions).await?;
    println!("registry: {} regions, {} categories, {} sites", regions.len() + 1, categories.len(), sites.len());

    let disp = ep.dispatch().await?;
    let district = regions["district"].clone();
    for crew in CREWS {
        let coverage = dispatch::CrewCoverage {
            site_ids: vec![],
            region_ids: if crew.streets.is_empty() {
                vec![district.clone()]
            } else {
                crew.streets.iter().map(|s| regions[*s].clone()).collect()
            },
        };
        let request = dispatch::CreateCrewRequest { crew: Some(crew_message(crew, coverage)), request_id: format!("demo-crew-{}", crew.code) };
        // Dispatch learns regions and sites from registry events; give its replica time to catch up.
        flywheel_runtime::grpc::retry_while_replicating(|| {
            let mut disp = disp.clone();
            let request = request.clone();
            async move { disp.create_crew(request).await.map(|_| ()) }
        })
        .await?;
    }
    println!("dispatch: {} crews", CREWS.len());

    if reports > 0 {
        let mut fb = ep.feedback().await?;
        simulate_reports(&mut fb, &sites, &categories, reports).await?;
        println!("feedback: {reports} simulated resident reports");
    }
    Ok(())
}

async fn load_regions(reg: &mut registry::registry_service_client::RegistryServiceClient<Conn>) -> anyhow::Result<HashMap<String, String>> {
    let mut ids = HashMap::new();
    let mut create = async |code: &str, name: &str, kind: registry::RegionKind, parent: &str| -> anyhow::Result<String> {
        let region = registry::Region { code: code.into(), name: name.into(), kind: kind as i32, parent_id: parent.into(), ..Default::default() };
        let created = reg
            .create_region(registry::CreateRegionRequest { region: Some(region), request_id: format!("demo-region-{code}") })
            .await?
            .into_inner();
        Ok(created.id)
    };
    let city = create("gz", "Guangzhou", registry::RegionKind::City, "").await?;
    let district = create("gz-haizhu", "Haizhu District", registry::RegionKind::District, &city).await?;
    for (code, name) in STREETS {
        let id = create(&format!("gz-haizhu-{code}"), name, registry::RegionKind::Street, &district).await?;
        ids.insert((*code).to_owned(), id);
    }
    ids.insert("district".into(), district);
    Ok(ids)
}

async fn load_categories(reg: &mut registry::registry_service_client::RegistryServiceClient<Conn>) -> anyhow::Result<Vec<(String, i32)>> {
    let mut ids = Vec::new();
    for c in CATEGORIES {
        let sla_targets = SLA_MINUTES
            .iter()
            .enumerate()
            .map(|(i, (ack, resolve))| registry::SlaTarget {
                priority: i as i32 + 1,
                acknowledge_within: Some(prost_types::Duration { seconds: ack * 60, nanos: 0 }),
                resolve_within: Some(prost_types::Duration { seconds: resolve * 60, nanos: 0 }),
            })
            .collect();
        let category = registry::Category {
            code: c.code.into(),
            name: c.name.into(),
            cell: Some(ScenarioCell { dimension: c.dimension as i32, perspective: c.perspective as i32 }),
            default_priority: c.priority,
            sla_targets,
            required_skills: c.skills.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let created = reg
            .define_category(registry::DefineCategoryRequest { category: Some(category), request_id: format!("demo-category-{}", c.code) })
            .await?
            .into_inner();
        ids.push((created.id, c.priority));
    }
    Ok(ids)
}

async fn load_sites(
    reg: &mut registry::registry_service_client::RegistryServiceClient<Conn>,
    regions: &HashMap<String, String>,
) -> anyhow::Result<Vec<(String, GeoPoint)>> {
    let mut sites = Vec::new();
    for s in std::iter::once(&FLAGSHIP).chain(SITES) {
        let location = GeoPoint { lat: s.lat, lng: s.lng };
        let site = registry::Site {
            code: s.code.into(),
            name: s.name.into(),
            r#type: s.kind as i32,
            region_id: regions[s.street].clone(),
            location: Some(location),
            service_radius_m: s.radius_m,
            flagship: s.flagship,
            ..Default::default()
        };
        let created = reg
            .register_site(registry::RegisterSiteRequest { site: Some(site), request_id: format!("demo-site-{}", s.code) })
            .await?
            .into_inner();
        sites.push((created.id, location));
    }
    Ok(sites)
}

fn crew_message(c: &district::DemoCrew, coverage: dispatch::CrewCoverage) -> dispatch::Crew {
    let shifts = (1..=7)
        .map(|weekday| dispatch::WeeklyShift {
            weekday,
            start_minute_of_day: 6 * 60,
            duration: Some(prost_types::Duration { seconds: 16 * 3600, nanos: 0 }),
        })
        .collect();
    let now = chrono::Utc::now().timestamp();
    let on_call_periods = if c.on_call {
        vec![dispatch::OnCallPeriod {
            start_time: Some(prost_types::Timestamp { seconds: now, nanos: 0 }),
            // Dispatch takes on-call periods of at most 31 days.
            end_time: Some(prost_types::Timestamp { seconds: now + 30 * 24 * 3600, nanos: 0 }),
            note: "demo: on call around the clock for P1".into(),
        }]
    } else {
        vec![]
    };
    dispatch::Crew {
        code: c.code.into(),
        name: c.name.into(),
        skills: c.skills.iter().map(|s| s.to_string()).collect(),
        coverage: Some(coverage),
        base_location: Some(GeoPoint { lat: c.lat, lng: c.lng }),
        capacity: c.capacity,
        time_zone: "Asia/Shanghai".into(),
        shifts,
        on_call_periods,
        members: vec![dispatch::CrewMember {
            member_id: format!("{}-lead", c.code),
            display_name: format!("{} lead", c.name),
            role: dispatch::CrewMemberRole::Lead as i32,
        }],
        ..Default::default()
    }
}

/// A small deterministic generator, so simulated reports are reproducible.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

const COMPLAINTS: &[&str] = &[
    "Overflowing bins near the entrance",
    "Light has been out for two nights",
    "Emergency exit blocked by delivery boxes",
    "Branch hanging over the footpath after the storm",
    "Water leaking across the path",
    "Loose paving stones, someone tripped",
    "Escalator stopped since this morning",
];

async fn simulate_reports(
    fb: &mut feedback::feedback_service_client::FeedbackServiceClient<Conn>,
    sites: &[(String, GeoPoint)],
    categories: &[(String, i32)],
    count: u32,
) -> anyhow::Result<()> {
    let mut rng = Lcg(20_261_127);
    for n in 0..count {
        let (site_id, _) = &sites[rng.next(sites.len())];
        let (category_id, _) = &categories[rng.next(categories.len())];
        let report = feedback::Report {
            kind: feedback::ReportKind::Complaint as i32,
            site_id: site_id.clone(),
            category_id: category_id.clone(),
            description: COMPLAINTS[rng.next(COMPLAINTS.len())].into(),
            channel: feedback::ReportChannel::App as i32,
            ..Default::default()
        };
        let request = feedback::SubmitReportRequest {
            report: Some(report),
            contact: Some(feedback::ResidentContact { name: format!("Demo resident {}", n % 50), phone: format!("+86 20 5555 {:04}", n % 50), email: String::new() }),
            request_id: format!("demo-report-{n}"),
        };
        flywheel_runtime::grpc::retry_while_replicating(|| {
            let mut fb = fb.clone();
            let request = request.clone();
            async move { fb.submit_report(request).await.map(|_| ()) }
        })
        .await?;
    }
    Ok(())
}

//! The bench's own small world, created through the public APIs: a district of streets, sites
//! spread over it, categories that need no special skill, and crews on duty around the clock with
//! room for every ticket the run will create. Codes carry a run tag, so runs never collide.

use crate::client::{Authed, Endpoints};
use flywheel_proto::flywheel::common::v1::{Dimension, GeoPoint, Perspective, Priority, ScenarioCell};
use flywheel_proto::flywheel::dispatch::v1 as dispatch;
use flywheel_proto::flywheel::registry::v1 as registry;
use registry::registry_service_client::RegistryServiceClient;

/// Haizhu district, around which the bench places its sites.
const CENTRE: GeoPoint = GeoPoint { lat: 23.10, lng: 113.33 };
const STREETS: usize = 10;
/// The most open tickets a crew may hold (the API's limit).
const CREW_CAPACITY: i32 = 1000;

#[derive(Clone, Debug)]
pub struct World {
    pub district_id: String,
    pub sites: Vec<(String, GeoPoint)>,
    pub category_ids: Vec<String>,
}

#[derive(clap::Args, Clone, Debug)]
pub struct WorldSize {
    /// Sites to register.
    #[arg(long, default_value_t = 200)]
    pub sites: usize,
    /// Tickets the run may leave open at once; crews are created to hold them all.
    #[arg(long, default_value_t = 100_000)]
    pub open_tickets: usize,
}

pub async fn create(ep: &Endpoints, tag: &str, size: &WorldSize) -> anyhow::Result<World> {
    let mut reg = ep.registry().await?;
    let city = region(&mut reg, &format!("{tag}-city"), registry::RegionKind::City, "").await?;
    let district_id = region(&mut reg, &format!("{tag}-district"), registry::RegionKind::District, &city).await?;
    let mut streets = Vec::new();
    for s in 0..STREETS {
        streets.push(region(&mut reg, &format!("{tag}-street-{s}"), registry::RegionKind::Street, &district_id).await?);
    }
    let mut category_ids = Vec::new();
    for (i, dimension) in [Dimension::Safety, Dimension::Image, Dimension::Assets].into_iter().enumerate() {
        category_ids.push(category(&mut reg, &format!("{tag}-category-{i}"), dimension).await?);
    }
    let mut sites = Vec::new();
    for n in 0..size.sites {
        let street = &streets[n % STREETS];
        sites.push(site(&mut reg, &format!("{tag}-site-{n}"), street, spread(n, size.sites)).await?);
    }
    let disp = ep.dispatch().await?;
    let per_street = size.open_tickets.div_ceil(CREW_CAPACITY as usize * STREETS).max(1);
    for (s, street) in streets.iter().enumerate() {
        for c in 0..per_street {
            let request = dispatch::CreateCrewRequest { crew: Some(crew(&format!("{tag}-crew-{s}-{c}"), street)), request_id: format!("{tag}-crew-{s}-{c}") };
            // Dispatch learns regions from registry events; wait for its replica to catch up.
            flywheel_runtime::grpc::retry_while_replicating(|| {
                let mut disp = disp.clone();
                let request = request.clone();
                async move { disp.create_crew(request).await.map(|_| ()) }
            })
            .await?;
        }
    }
    Ok(World { district_id, sites, category_ids })
}

/// The n-th of `count` points on a spiral around the centre, about 150 m apart.
pub fn spread(n: usize, count: usize) -> GeoPoint {
    let angle = n as f64 * 2.399_963; // the golden angle spreads points evenly
    let radius_deg = 0.08 * ((n as f64 + 0.5) / count.max(1) as f64).sqrt();
    GeoPoint { lat: CENTRE.lat + radius_deg * angle.sin(), lng: CENTRE.lng + radius_deg * angle.cos() }
}

async fn region(reg: &mut RegistryServiceClient<Authed>, code: &str, kind: registry::RegionKind, parent: &str) -> anyhow::Result<String> {
    let region = registry::Region { code: code.into(), name: code.into(), kind: kind as i32, parent_id: parent.into(), ..Default::default() };
    let request = registry::CreateRegionRequest { region: Some(region), request_id: code.into() };
    Ok(reg.create_region(request).await?.into_inner().id)
}

async fn category(reg: &mut RegistryServiceClient<Authed>, code: &str, dimension: Dimension) -> anyhow::Result<String> {
    let sla_targets = (1..=4)
        .map(|p| registry::SlaTarget {
            priority: p,
            acknowledge_within: Some(prost_types::Duration { seconds: 3600 * i64::from(p), nanos: 0 }),
            resolve_within: Some(prost_types::Duration { seconds: 24 * 3600 * i64::from(p), nanos: 0 }),
        })
        .collect();
    let category = registry::Category {
        code: code.into(),
        name: code.into(),
        cell: Some(ScenarioCell { dimension: dimension as i32, perspective: Perspective::Living as i32 }),
        default_priority: Priority::P3 as i32,
        sla_targets,
        ..Default::default()
    };
    let request = registry::DefineCategoryRequest { category: Some(category), request_id: code.into() };
    Ok(reg.define_category(request).await?.into_inner().id)
}

async fn site(reg: &mut RegistryServiceClient<Authed>, code: &str, region_id: &str, location: GeoPoint) -> anyhow::Result<(String, GeoPoint)> {
    let site = registry::Site {
        code: code.into(),
        name: code.into(),
        r#type: registry::SiteType::StreetSegment as i32,
        region_id: region_id.into(),
        location: Some(location),
        service_radius_m: 100.0,
        ..Default::default()
    };
    let request = registry::RegisterSiteRequest { site: Some(site), request_id: code.into() };
    Ok((reg.register_site(request).await?.into_inner().id, location))
}

fn crew(code: &str, street: &str) -> dispatch::Crew {
    let shifts = (1..=7)
        .map(|weekday| dispatch::WeeklyShift { weekday, start_minute_of_day: 0, duration: Some(prost_types::Duration { seconds: 24 * 3600, nanos: 0 }) })
        .collect();
    dispatch::Crew {
        code: code.into(),
        name: code.into(),
        coverage: Some(dispatch::CrewCoverage { site_ids: vec![], region_ids: vec![street.into()] }),
        base_location: Some(CENTRE),
        capacity: CREW_CAPACITY,
        time_zone: "UTC".into(),
        shifts,
        ..Default::default()
    }
}


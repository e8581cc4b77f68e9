//! `registry-scale`: ListSites latency as the registry grows — the first page, a page deep in the
//! cursor chain, a region-subtree filter and the radius (`within`) filter — called through
//! registry's own gRPC layer in process. The district (a city of districts of streets, sites
//! spread over a city-sized area) is written straight into the store in bulk: registering 100,000
//! sites through the API would take longer than the measurement itself.

use crate::load::Latency;
use flywheel_proto::flywheel::common::v1::GeoPoint;
use flywheel_proto::flywheel::registry::v1::registry_service_server::RegistryService;
use flywheel_proto::flywheel::registry::v1::{Circle, ListSitesRequest, RegionKind, SiteType, Status};
use flywheel_registry::app::Registry;
use flywheel_registry::grpc::RegistryApi;
use flywheel_registry::migration::Migrator;
use flywheel_registry::store::entities::{region, site};
use flywheel_runtime::db::{connect_and_migrate, now_micros};
use flywheel_runtime::events::outbox::Outbox;
use flywheel_runtime::writer::Writer;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, TransactionTrait};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// The city is a square of `GRID` × `GRID` districts, each a square of `DISTRICT_SIDE` ×
/// `DISTRICT_SIDE` streets (1,024 streets of about 700 m).
const GRID: usize = 4;
const DISTRICT_SIDE: usize = 8;
/// One district's side in degrees (about 5.5 km north–south); the city is about 22 km across.
const DISTRICT_DEG: f64 = 0.05;
const CITY_SOUTH_WEST: (f64, f64) = (23.02, 113.22);
const RADII_M: [f64; 3] = [200.0, 1_000.0, 5_000.0];

#[derive(clap::Args, Debug)]
pub struct RegistryScaleArgs {
    /// Site counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1000,100000")]
    pub sizes: Vec<usize>,
    /// Calls timed per query at each size.
    #[arg(long, default_value_t = 200)]
    pub calls: usize,
    /// An empty PostgreSQL database to run against instead of a fresh SQLite file; the bench
    /// deletes the regions and sites it wrote between sizes.
    #[arg(long)]
    pub database_url: Option<String>,
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Serialize)]
pub struct RegistryScale {
    pub sites: usize,
    pub streets: usize,
    pub queries: Vec<QueryLatency>,
}

#[derive(Debug, Serialize)]
pub struct QueryLatency {
    pub query: String,
    /// Sites returned per call, on average.
    pub returned: f64,
    pub latency: Latency,
}

/// The regions written for one run, for the region filters.
struct District {
    districts: Vec<String>,
    streets: Vec<String>,
}

pub async fn run(args: &RegistryScaleArgs) -> anyhow::Result<Vec<RegistryScale>> {
    let dir = tempfile::tempdir()?;
    let mut results = Vec::new();
    for &size in &args.sizes {
        let url = match &args.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}/registry-{size}.db?mode=rwc", dir.path().display()),
        };
        let db = connect_and_migrate::<Migrator>(&url).await?;
        anyhow::ensure!(site::Entity::find().count(&db).await? == 0, "registry-scale needs an empty registry database");
        let began = Instant::now();
        let district = seed(&db, size).await?;
        if args.database_url.is_some() {
            // What PostgreSQL's autovacuum does after a bulk load: the planner's statistics and
            // the visibility map that index-only scans need.
            db.execute_unprepared("VACUUM ANALYZE").await?;
        }
        eprintln!("registry-scale: {size} sites written in {:.1} s", began.elapsed().as_secs_f64());
        let api = RegistryApi::new(Registry::new(Writer::new(db.clone(), Outbox::new())));
        let queries = measure(&api, &district, size, args.calls).await?;
        results.push(RegistryScale { sites: size, streets: district.streets.len(), queries });
        site::Entity::delete_many().exec(&db).await?;
        region::Entity::delete_many().exec(&db).await?;
    }
    Ok(results)
}

async fn measure(api: &RegistryApi, district: &District, size: usize, calls: usize) -> anyhow::Result<Vec<QueryLatency>> {
    let middle = token_at(api, size / 2).await?;
    let mut points = Random(7);
    let mut queries = vec![
        time(api, "first page", calls, |_| ListSitesRequest::default()).await?,
        time(api, "page at the middle of the chain", calls, |_| ListSitesRequest { page_token: middle.clone(), ..Default::default() }).await?,
        time(api, "one street", calls, |k| ListSitesRequest { region_id: district.streets[k % district.streets.len()].clone(), ..Default::default() }).await?,
        time(api, "one district", calls, |k| ListSitesRequest { region_id: district.districts[k % district.districts.len()].clone(), ..Default::default() }).await?,
    ];
    for radius_m in RADII_M {
        let centers: Vec<GeoPoint> = (0..calls).map(|_| points.point_in_city()).collect();
        let name = format!("within {radius_m} m");
        queries.push(
            time(api, &name, calls, |k| ListSitesRequest {
                within: Some(Circle { center: Some(centers[k]), radius_m }),
                ..Default::default()
            })
            .await?,
        );
    }
    for q in &queries {
        eprintln!("registry-scale: {size} sites, {}: {:.1} returned, p50 {} ms p99 {} ms", q.query, q.returned, q.latency.p50_ms, q.latency.p99_ms);
    }
    Ok(queries)
}

/// Times `calls` ListSites calls, the k-th made by `request(k)`.
async fn time(api: &RegistryApi, query: &str, calls: usize, request: impl Fn(usize) -> ListSitesRequest) -> anyhow::Result<QueryLatency> {
    let mut samples = Vec::with_capacity(calls);
    let mut returned = 0;
    for k in 0..calls {
        let req = tonic::Request::new(request(k));
        let began = Instant::now();
        let page = api.list_sites(req).await?.into_inner();
        samples.push(began.elapsed());
        returned += page.sites.len();
    }
    Ok(QueryLatency { query: query.into(), returned: returned as f64 / calls.max(1) as f64, latency: Latency::of(samples) })
}

/// The page token after the first `position` sites, walked along the chain in the largest pages.
async fn token_at(api: &RegistryApi, position: usize) -> anyhow::Result<String> {
    let (mut token, mut walked) = (String::new(), 0);
    while walked < position {
        let page_size = (position - walked).min(500) as i32;
        let page = api.list_sites(tonic::Request::new(ListSitesRequest { page_size, page_token: token, ..Default::default() })).await?.into_inner();
        walked += page.sites.len();
        token = page.next_page_token;
        anyhow::ensure!(!token.is_empty(), "the chain ended after {walked} sites");
    }
    Ok(token)
}

/// Writes the city, its districts and streets, and `size` sites registered in random order at
/// random places, each in the street whose square it lies in.
async fn seed(db: &DatabaseConnection, size: usize) -> anyhow::Result<District> {
    let txn = db.begin().await?;
    let city = region_row(RegionKind::City, None, "City");
    let mut rows = vec![city.clone()];
    let mut streets = Vec::new();
    for d in 0..GRID * GRID {
        let district = region_row(RegionKind::District, Some(&city), &format!("District {d}"));
        for s in 0..DISTRICT_SIDE * DISTRICT_SIDE {
            streets.push(region_row(RegionKind::Street, Some(&district), &format!("Street {d}.{s}")));
        }
        rows.push(district);
    }
    let districts: Vec<String> = rows[1..].iter().map(|r| r.id.clone()).collect();
    rows.extend(streets.iter().cloned());
    region::Entity::insert_many(rows.into_iter().map(region::ActiveModel::from)).exec(&txn).await?;

    let mut random = Random(size as u64);
    let streets_per_row = GRID * DISTRICT_SIDE;
    let street_deg = DISTRICT_DEG / DISTRICT_SIDE as f64;
    let mut batch = Vec::with_capacity(1000);
    for n in 0..size {
        let location = random.point_in_city();
        let col = (((location.lng - CITY_SOUTH_WEST.1) / street_deg) as usize).min(streets_per_row - 1);
        let row = (((location.lat - CITY_SOUTH_WEST.0) / street_deg) as usize).min(streets_per_row - 1);
        // Streets are listed district by district; find the street of this square.
        let (d, s) = ((row / DISTRICT_SIDE) * GRID + col / DISTRICT_SIDE, (row % DISTRICT_SIDE) * DISTRICT_SIDE + col % DISTRICT_SIDE);
        batch.push(site_row(n, &streets[d * DISTRICT_SIDE * DISTRICT_SIDE + s], location));
        if batch.len() == 1000 || n + 1 == size {
            site::Entity::insert_many(std::mem::take(&mut batch)).exec(&txn).await?;
        }
    }
    txn.commit().await?;
    Ok(District { districts, streets: streets.into_iter().map(|r| r.id).collect() })
}

fn region_row(kind: RegionKind, parent: Option<&region::Model>, name: &str) -> region::Model {
    let id = uuid::Uuid::now_v7().to_string();
    let path = format!("{}{id}/", parent.map_or("/", |p| p.path.as_str()));
    let now = now_micros();
    region::Model {
        code: name.to_lowercase().replace(' ', "-"),
        name: name.into(),
        kind: kind as i32,
        parent_id: parent.map(|p| p.id.clone()),
        path,
        id,
        status: Status::Active as i32,
        version: 1,
        create_us: now,
        update_us: now,
    }
}

fn site_row(n: usize, street: &region::Model, location: GeoPoint) -> site::ActiveModel {
    let now = now_micros();
    site::ActiveModel::from(site::Model {
        id: uuid::Uuid::now_v7().to_string(),
        code: format!("site-{n}"),
        name: format!("Site {n}"),
        site_type: SiteType::ResidentialCommunity as i32,
        region_id: street.id.clone(),
        region_path: street.path.clone(),
        lat: location.lat,
        lng: location.lng,
        service_radius_m: 200.0,
        flagship: n.is_multiple_of(100),
        contract_start_us: None,
        contract_end_us: None,
        address: format!("{n} Bench Road"),
        status: Status::Active as i32,
        version: 1,
        create_us: now,
        update_us: now,
        retire_us: None,
    })
}

/// SplitMix64: the same district and query centres on every run.
struct Random(u64);

impl Random {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn point_in_city(&mut self) -> GeoPoint {
        let side = DISTRICT_DEG * GRID as f64;
        GeoPoint { lat: CITY_SOUTH_WEST.0 + self.unit() * side, lng: CITY_SOUTH_WEST.1 + self.unit() * side }
    }
}

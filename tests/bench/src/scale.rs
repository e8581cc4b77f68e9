//! `dispatch-scale`: the time of one automatic dispatch decision as the number of crews and
//! sites grows — the crew index lookup, the candidates' load from the database (SQLite, as the
//! embedded default) and the domain's filter and score, exactly the calls dispatch makes.

use crate::load::Latency;
use flywheel_dispatch::app::assign::candidates_among;
use flywheel_dispatch::domain::scorer::{self, Need};
use flywheel_dispatch::index::CrewIndex;
use flywheel_dispatch::migration::Migrator;
use flywheel_dispatch::store::entities::crew;
use flywheel_proto::flywheel::common::v1::GeoPoint;
use flywheel_proto::flywheel::dispatch::v1::{Crew, CrewCoverage, DispatchTrigger, WeeklyShift};
use flywheel_runtime::db::{connect_and_migrate, now_micros};
use prost::Message;
use sea_orm::{EntityTrait, TransactionTrait};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// Sites per street; every crew covers one site and the street it lies in, so a site has this
/// many covering crews however large the area grows (crews are local, the area is not).
const SITES_PER_STREET: usize = 10;

#[derive(clap::Args, Debug)]
pub struct DispatchScaleArgs {
    /// Crew (and site) counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "100,10000,100000")]
    pub sizes: Vec<usize>,
    /// Decisions timed at each size.
    #[arg(long, default_value_t = 2000)]
    pub decisions: usize,
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Serialize)]
pub struct DispatchScale {
    pub crews: usize,
    pub sites: usize,
    pub covering_per_site: usize,
    pub decision: Latency,
}

pub async fn run(args: &DispatchScaleArgs) -> anyhow::Result<Vec<DispatchScale>> {
    let mut results = Vec::new();
    for &size in &args.sizes {
        let dir = tempfile::tempdir()?;
        let db = connect_and_migrate::<Migrator>(&format!("sqlite://{}/dispatch.db?mode=rwc", dir.path().display())).await?;
        let txn = db.begin().await?;
        for chunk in (0..size).collect::<Vec<_>>().chunks(1000) {
            crew::Entity::insert_many(chunk.iter().map(|&n| crew_row(n))).exec(&txn).await?;
        }
        txn.commit().await?;
        let index = CrewIndex::default();
        index.refresh(&db).await?;

        let mut samples = Vec::with_capacity(args.decisions);
        let mut covering_per_site = 0;
        let skills: Vec<String> = Vec::new();
        for k in 0..args.decisions {
            let site = (k * 7919) % size;
            let location = GeoPoint { lat: 23.1 + site as f64 * 1e-6, lng: 113.3 };
            let began = Instant::now();
            let txn = db.begin().await?;
            let (site_id, regions) = (format!("site-{site}"), ["district".to_owned(), street(site)]);
            let (mut covering, rows) = index.covering_rows(&txn, &[(&site_id, &regions)]).await?;
            let covering = covering.pop().unwrap_or_default();
            covering_per_site = covering.len();
            let candidates = candidates_among(covering, &rows, now_micros());
            let need = Need { skills: &skills, p1: false, location: &location, excluded: &[], now_us: now_micros() };
            let decision = scorer::decide(DispatchTrigger::Created, &need, &candidates);
            txn.commit().await?;
            samples.push(began.elapsed());
            anyhow::ensure!(decision.chosen.is_some(), "no crew chosen at site {site}");
        }
        let result = DispatchScale { crews: size, sites: size, covering_per_site, decision: Latency::of(samples) };
        eprintln!("dispatch-scale: {} crews, {} covering: p50 {} ms p99 {} ms", size, covering_per_site, result.decision.p50_ms, result.decision.p99_ms);
        results.push(result);
    }
    Ok(results)
}

fn street(site: usize) -> String {
    format!("street-{}", site / SITES_PER_STREET)
}

fn crew_row(n: usize) -> crew::ActiveModel {
    let shifts = (1..=7)
        .map(|weekday| WeeklyShift { weekday, start_minute_of_day: 0, duration: Some(prost_types::Duration { seconds: 86_400, nanos: 0 }) })
        .collect();
    let config = Crew {
        code: format!("crew-{n}"),
        name: format!("Crew {n}"),
        coverage: Some(CrewCoverage { site_ids: vec![format!("site-{n}")], region_ids: vec![street(n)] }),
        base_location: Some(GeoPoint { lat: 23.1 + n as f64 * 1e-6, lng: 113.31 }),
        capacity: 1000,
        time_zone: "UTC".into(),
        shifts,
        ..Default::default()
    };
    let now = now_micros();
    crew::ActiveModel::from(crew::Model {
        id: format!("{n:08}"),
        code: config.code.clone(),
        active: true,
        version: 1,
        rev: n as i64 + 1,
        capacity: 1000,
        open_ticket_count: (n % 900) as i32,
        last_assignment_us: Some(now - (n as i64 % 3600) * 1_000_000),
        create_us: now,
        update_us: now,
        body: config.encode_to_vec(),
    })
}

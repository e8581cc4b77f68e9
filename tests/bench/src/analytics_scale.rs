//! `analytics-scale`: query latency of GetKpis, GetScenarioMatrix, GetSiteLeague and GetTrends
//! with a year of 1M and 10M tickets' worth of facts written directly into analytics' projection
//! store (SQLite, the embedded default, or PostgreSQL with `--postgres`), queried through
//! analytics' own use cases in process.

use crate::load::Latency;
use flywheel_analytics::app::Analytics;
use flywheel_analytics::domain::kpi::{Counters, Durations, Facts};
use flywheel_analytics::migration::Migrator;
use flywheel_analytics::settings::Settings;
use flywheel_analytics::store::{self, entities::{category, kpi_hour, region, site}};
use flywheel_proto::flywheel::analytics::v1 as pb;
use flywheel_runtime::db::{connect_and_migrate, now_micros};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, TransactionTrait};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

const HOUR_US: i64 = 3_600_000_000;
const STREETS: usize = 10;

#[derive(clap::Args, Debug)]
pub struct AnalyticsScaleArgs {
    /// Tickets' worth of facts, one size per run.
    #[arg(long, value_delimiter = ',', default_value = "1000000,10000000")]
    pub tickets: Vec<u64>,
    /// Sites the tickets are spread over.
    #[arg(long, default_value_t = 100)]
    pub sites: usize,
    /// Categories the tickets are spread over.
    #[arg(long, default_value_t = 10)]
    pub categories: usize,
    /// Days of history, ending now.
    #[arg(long, default_value_t = 365)]
    pub days: i64,
    /// Calls timed per query and range.
    #[arg(long, default_value_t = 20)]
    pub calls: usize,
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// A PostgreSQL server (`postgres://user@host:port`, no database) to run on instead of
    /// SQLite: each size gets a fresh database `flywheel_analytics_scale_<tickets>` there.
    #[arg(long)]
    pub postgres: Option<String>,
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Serialize)]
pub struct AnalyticsScale {
    pub tickets: u64,
    pub hour_rows: u64,
    pub queries: Vec<QueryLatency>,
}

#[derive(Debug, Serialize)]
pub struct QueryLatency {
    pub query: String,
    pub range_days: i64,
    pub latency: Latency,
}

pub async fn run(args: &AnalyticsScaleArgs) -> anyhow::Result<Vec<AnalyticsScale>> {
    let js = async_nats::jetstream::new(async_nats::connect(&args.nats_url).await?);
    let mut results = Vec::new();
    for &tickets in &args.tickets {
        let dir = tempfile::tempdir()?;
        let url = match &args.postgres {
            None => format!("sqlite://{}/analytics.db?mode=rwc", dir.path().display()),
            Some(server) => fresh_postgres_database(server, &format!("flywheel_analytics_scale_{tickets}")).await?,
        };
        let db = connect_and_migrate::<Migrator>(&url).await?;
        let began = Instant::now();
        let settings = Settings::default();
        let hour_rows = fill(&db, args, tickets, &settings).await?;
        eprintln!("analytics-scale: {tickets} tickets as {hour_rows} hour rows written in {:.0} s", began.elapsed().as_secs_f64());
        let analytics = Analytics::new(db, js.clone(), settings);
        let mut queries = Vec::new();
        for range_days in [1, 7, 30] {
            for query in ["GetKpis", "GetScenarioMatrix", "GetSiteLeague", "GetTrends"] {
                let mut samples = Vec::with_capacity(args.calls);
                for _ in 0..args.calls {
                    let began = Instant::now();
                    call(&analytics, query, range_days).await?;
                    samples.push(began.elapsed());
                }
                let latency = Latency::of(samples);
                eprintln!("analytics-scale: {tickets} tickets, {query} over {range_days} d: p50 {} ms p99 {} ms", latency.p50_ms, latency.p99_ms);
                queries.push(QueryLatency { query: query.into(), range_days, latency });
            }
        }
        results.push(AnalyticsScale { tickets, hour_rows, queries });
    }
    Ok(results)
}

/// Creates (dropping any earlier one) a database on a PostgreSQL server; returns its URL.
async fn fresh_postgres_database(server: &str, name: &str) -> anyhow::Result<String> {
    let admin = sea_orm::Database::connect(format!("{server}/postgres")).await?;
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}")).await?;
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
    admin.close().await?;
    Ok(format!("{server}/{name}"))
}

async fn call(analytics: &Analytics, query: &str, range_days: i64) -> anyhow::Result<()> {
    let now = now_micros() / 1_000_000;
    let time_range = Some(pb::TimeRange {
        start_time: Some(prost_types::Timestamp { seconds: now - range_days * 86_400, nanos: 0 }),
        end_time: Some(prost_types::Timestamp { seconds: now, nanos: 0 }),
    });
    match query {
        "GetKpis" => drop(analytics.get_kpis(pb::GetKpisRequest { time_range, ..Default::default() }).await?),
        "GetScenarioMatrix" => drop(analytics.get_scenario_matrix(pb::GetScenarioMatrixRequest { time_range, ..Default::default() }).await?),
        "GetSiteLeague" => drop(
            analytics
                .get_site_league(pb::GetSiteLeagueRequest { time_range, rank_by: pb::LeagueMetric::Composite as i32, ..Default::default() })
                .await?,
        ),
        _ => drop(
            analytics
                .get_trends(pb::GetTrendsRequest {
                    time_range,
                    granularity: pb::Granularity::Day as i32,
                    metrics: vec![pb::TrendMetric::ReportsReceived as i32, pb::TrendMetric::TicketsOpened as i32],
                    ..Default::default()
                })
                .await?,
        ),
    }
    Ok(())
}

/// Writes the directory (regions, sites, categories) and `tickets` tickets' facts spread evenly
/// over the hours, sites and categories: each ticket is reported, opened, acknowledged and
/// resolved in its hour. Returns the number of hour rows.
async fn fill(db: &DatabaseConnection, args: &AnalyticsScaleArgs, tickets: u64, settings: &Settings) -> anyhow::Result<u64> {
    let txn = db.begin().await?;
    let region_row = |id: String, kind: i32, path: String| region::ActiveModel::from(region::Model { code: id.clone(), name: id.clone(), id, kind, path, version: 1 });
    region::Entity::insert_many([region_row("city".into(), 1, "/city/".into()), region_row("district".into(), 2, "/city/district/".into())]).exec(&txn).await?;
    region::Entity::insert_many((0..STREETS).map(|s| region_row(format!("street-{s}"), 3, format!("/city/district/street-{s}/")))).exec(&txn).await?;
    site::Entity::insert_many((0..args.sites).map(|n| {
        site::ActiveModel::from(site::Model {
            id: format!("site-{n}"),
            code: format!("site-{n}"),
            name: format!("Site {n}"),
            region_path: street_path(n),
            lat: 23.1 + n as f64 * 1e-3,
            lng: 113.3,
            flagship: n == 0,
            registered_us: 0,
            retired_us: None,
            version: 1,
        })
    }))
    .exec(&txn)
    .await?;
    category::Entity::insert_many((0..args.categories).map(|c| {
        category::ActiveModel::from(category::Model { id: format!("category-{c}"), code: format!("category-{c}"), name: format!("Category {c}"), dimension: cell(c).0, perspective: cell(c).1, version: 1 })
    }))
    .exec(&txn)
    .await?;
    txn.commit().await?;

    let hours = args.days * 24;
    let combos = (args.sites * args.categories) as u64;
    let first_hour = (now_micros() / HOUR_US - hours) * HOUR_US;
    let mut rows = 0u64;
    let mut batch = Vec::new();
    let txn = db.begin().await?;
    for h in 0..hours as u64 {
        // This hour's share of the tickets, spread over the site × category combinations.
        let in_hour = tickets * (h + 1) / hours as u64 - tickets * h / hours as u64;
        let mut per_combo = std::collections::BTreeMap::new();
        for t in 0..in_hour {
            *per_combo.entry((h * 7919 + t * 104_729) % combos).or_insert(0i64) += 1;
        }
        for (combo, count) in per_combo {
            let (s, c) = ((combo % args.sites as u64) as usize, (combo / args.sites as u64) as usize);
            batch.push(hour_row(first_hour + h as i64 * HOUR_US, s, c, count));
            rows += 1;
        }
        if batch.len() >= 2000 {
            kpi_hour::Entity::insert_many(std::mem::take(&mut batch)).exec(&txn).await?;
        }
    }
    if !batch.is_empty() {
        kpi_hour::Entity::insert_many(batch).exec(&txn).await?;
    }
    // Rows written past the projector: their running backlog, day rows and rollup rows as the
    // projector would keep them (in the zone the queries plan their day reads in).
    store::recount_backlog(&txn).await?;
    store::recount_rollups(&txn, settings.time_zone).await?;
    txn.commit().await?;
    Ok(rows)
}

fn street_path(site: usize) -> String {
    format!("/city/district/street-{}/", site % STREETS)
}

/// The category's scenario cell, both axes 1..3.
fn cell(category: usize) -> (i32, i32) {
    ((category % 3) as i32 + 1, (category / 3 % 3) as i32 + 1)
}

fn hour_row(hour_us: i64, site: usize, category: usize, tickets: i64) -> kpi_hour::ActiveModel {
    let mut facts = Facts {
        counters: Counters {
            reports_received: tickets,
            complaints_received: tickets,
            tickets_opened: tickets,
            tickets_resolved: tickets,
            resolved_within_sla: tickets - tickets / 10,
            first_assignment_resolutions: tickets,
            ..Default::default()
        },
        acknowledge: Durations::default(),
        resolve: Durations::default(),
    };
    for t in 0..tickets {
        facts.acknowledge.add((600 + 60 * t) * 1_000_000);
        facts.resolve.add((4 * 3600 + 300 * t) * 1_000_000);
    }
    let (dimension, perspective) = cell(category);
    kpi_hour::ActiveModel::from(kpi_hour::Model {
        hour_us,
        site_id: format!("site-{site}"),
        category_id: format!("category-{category}"),
        dimension,
        perspective,
        region_path: street_path(site),
        backlog_delta: 0,
        facts: facts.encode(),
    })
}

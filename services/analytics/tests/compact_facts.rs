//! Migration m0104: a database whose facts are JSON (written with the migrations before it, in
//! the form the previous sketch library serialised) answers after the migration exactly as it
//! did, and holds the very rows the current code projects from the same facts; a row that does
//! not read stops the migration with an error naming it and leaves the database as it was.
//! SQLite, or PostgreSQL with FLYWHEEL_TEST_POSTGRES.

use flywheel_analytics::app::{Directory, GroupBy, Rollup};
use flywheel_analytics::domain::kpi::{Facts, Kpis};
use flywheel_analytics::domain::time::{self, Plan, Span};
use flywheel_analytics::migration::Migrator;
use flywheel_analytics::settings::Settings;
use flywheel_analytics::store::batch::Changes;
use flywheel_analytics::store::entities::{kpi_day, kpi_hour};
use flywheel_analytics::store::{self, Cell, Filter};
use flywheel_runtime::db::connect_and_migrate;
use flywheel_testing::TestDatabase;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, EntityTrait, TransactionTrait};
use sea_orm_migration::MigratorTrait;
use serde_json::{Value, json};
use sketches_ddsketch::{Config, DDSketch};
use std::collections::BTreeMap;

const HOUR: i64 = 3_600_000_000;
/// 2025-03-31T00:00:00Z: twenty days from here, in the default zone (Asia/Shanghai) 21 local
/// days, the first and last partial.
const FIRST_HOUR: i64 = 1_743_379_200_000_000;
/// Enough hours for more hour rows than the migration converts in one batch.
const HOURS: i64 = 480;

/// What one hour row holds, before any encoding.
struct Hour {
    hour_us: i64,
    cell: Cell,
    path: &'static str,
    backlog_delta: i64,
    opened: i64,
    resolved: i64,
    acknowledge_us: Vec<i64>,
    resolve_us: Vec<i64>,
}

fn cells() -> [(Cell, &'static str); 3] {
    let cell = |site: &str, category: &str, dimension, perspective| Cell {
        site_id: site.into(),
        category_id: category.into(),
        dimension,
        perspective,
    };
    [
        (cell("s1", "c1", 1, 1), "/north/"),
        (cell("s1", "c2", 2, 3), "/north/"),
        (cell("s2", "c1", 1, 1), "/south/"),
    ]
}

fn hours() -> Vec<Hour> {
    let mut out = Vec::new();
    for h in 0..HOURS {
        for (i, (cell, path)) in cells().into_iter().enumerate() {
            let n = (h * 5 + i as i64 * 3) % 4;
            if n == 0 {
                continue;
            }
            // Zero-length acknowledgements too: the sketch's zero count must survive.
            let acknowledge_us = (0..n).map(|k| (k * 97 + h * 13) % 5 * 60_000_000).collect();
            let resolve_us = (0..n)
                .map(|k| (3_600 + 450 * k * (i as i64 + 1) + 37 * h) * 1_000_000)
                .collect();
            out.push(Hour {
                hour_us: FIRST_HOUR + h * HOUR,
                cell,
                path,
                backlog_delta: 2 * n - 3,
                opened: n,
                resolved: n - 1,
                acknowledge_us,
                resolve_us,
            });
        }
    }
    out
}

fn old_sketch(durations_us: &[i64]) -> DDSketch {
    let mut s = DDSketch::new(Config::defaults());
    durations_us.iter().for_each(|&us| s.add(us as f64 / 1e6));
    s
}

/// Facts JSON as the previous revision wrote it: every counter, and per duration kind the
/// count, the sum and the serialised sketch (null while empty).
fn old_json(opened: i64, resolved: i64, durations: [(i64, i64, Option<DDSketch>); 2]) -> String {
    let names = [
        "reports_received",
        "praise_received",
        "complaints_received",
        "tickets_opened",
        "tickets_resolved",
        "tickets_closed",
        "tickets_cancelled",
        "tickets_reopened",
        "resolved_within_sla",
        "first_assignment_resolutions",
        "reopened_resolutions",
        "acknowledge_breaches",
        "resolve_breaches",
        "escalations",
        "ratings_count",
        "rating_sum",
        "fixed_yes",
        "supports",
    ];
    let mut counters: serde_json::Map<String, Value> =
        names.iter().map(|n| (n.to_string(), json!(0))).collect();
    counters.insert("tickets_opened".into(), json!(opened));
    counters.insert("tickets_resolved".into(), json!(resolved));
    let [acknowledge, resolve] = durations.map(
        |(count, sum_us, sketch)| json!({ "count": count, "sum_us": sum_us, "sketch": sketch }),
    );
    json!({ "counters": counters, "acknowledge": acknowledge, "resolve": resolve }).to_string()
}

/// The previous revision's database: the migrations before m0104, hour rows and their day rows
/// (merged with the old library, as its projector did) with JSON facts, running backlogs.
async fn old_database(
    test_db: &TestDatabase,
    hours: &[Hour],
    corrupt: Option<usize>,
) -> DatabaseConnection {
    let db = Database::connect(test_db.url()).await.unwrap();
    let before_m0104 = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m0104_analytics_compact_facts")
        .unwrap() as u32;
    Migrator::up(&db, Some(before_m0104)).await.unwrap();
    let zone = Settings::default().time_zone;
    let txn = db.begin().await.unwrap();
    type Day = (i64, i64, i64, [(i64, i64, Option<DDSketch>); 2]);
    let mut days: BTreeMap<(i64, Cell, &str), Day> = BTreeMap::new();
    for (i, h) in hours.iter().enumerate() {
        let durations = |us: &[i64]| {
            (
                us.len() as i64,
                us.iter().sum::<i64>(),
                (!us.is_empty()).then(|| old_sketch(us)),
            )
        };
        let kinds = [durations(&h.acknowledge_us), durations(&h.resolve_us)];
        let facts = match corrupt {
            Some(c) if c == i => "{\"counters\": {\"tickets_opened\": \"many\"}}".to_string(),
            _ => old_json(h.opened, h.resolved, kinds.clone()),
        };
        insert(
            &txn,
            "kpi_hour",
            "hour_us",
            h.hour_us,
            &h.cell,
            h.path,
            h.backlog_delta,
            facts,
        )
        .await;

        let day = days
            .entry((
                time::day_of(zone, h.hour_us).start_us,
                h.cell.clone(),
                h.path,
            ))
            .or_default();
        day.0 += h.backlog_delta;
        day.1 += h.opened;
        day.2 += h.resolved;
        for (sum, add) in day.3.iter_mut().zip(kinds) {
            sum.0 += add.0;
            sum.1 += add.1;
            match (&mut sum.2, add.2) {
                (Some(s), Some(a)) => s.merge(&a).unwrap(),
                (s @ None, a) => *s = a,
                (Some(_), None) => {}
            }
        }
    }
    for ((day_us, cell, path), (delta, opened, resolved, kinds)) in days {
        insert(
            &txn,
            "kpi_day",
            "day_us",
            day_us,
            &cell,
            path,
            delta,
            old_json(opened, resolved, kinds),
        )
        .await;
    }
    store::recount_backlog(&txn).await.unwrap();
    txn.commit().await.unwrap();
    db
}

#[allow(clippy::too_many_arguments)]
async fn insert(
    db: &impl ConnectionTrait,
    table: &str,
    time: &str,
    start_us: i64,
    cell: &Cell,
    path: &str,
    delta: i64,
    facts: String,
) {
    let columns = [
        time,
        "site_id",
        "category_id",
        "dimension",
        "perspective",
        "region_path",
        "backlog_delta",
        "facts",
    ];
    let values: [Expr; 8] = [
        start_us.into(),
        cell.site_id.as_str().into(),
        cell.category_id.as_str().into(),
        cell.dimension.into(),
        cell.perspective.into(),
        path.into(),
        delta.into(),
        facts.into(),
    ];
    let statement = Query::insert()
        .into_table(table.to_owned())
        .columns(columns.map(str::to_owned))
        .values(values)
        .unwrap()
        .to_owned();
    db.execute(&statement).await.unwrap();
}

/// The same facts projected by the current code.
async fn new_database(test_db: &TestDatabase, hours: &[Hour]) -> DatabaseConnection {
    let db = connect_and_migrate::<Migrator>(&test_db.url())
        .await
        .unwrap();
    let txn = db.begin().await.unwrap();
    for h in hours {
        let mut facts = Facts::default();
        facts.counters.tickets_opened = h.opened;
        facts.counters.tickets_resolved = h.resolved;
        h.acknowledge_us
            .iter()
            .for_each(|&us| facts.acknowledge.add(us));
        h.resolve_us.iter().for_each(|&us| facts.resolve.add(us));
        let mut changes = Changes::default();
        changes.add_facts(h.hour_us, &h.cell, h.path, h.backlog_delta, facts);
        changes
            .write(&txn, Settings::default().time_zone)
            .await
            .unwrap();
    }
    txn.commit().await.unwrap();
    db
}

fn ranges() -> [Span; 4] {
    let span = |from: i64, to: i64| Span {
        start_us: FIRST_HOUR + from * HOUR,
        end_us: FIRST_HOUR + to * HOUR,
    };
    [span(0, HOURS), span(5, 61), span(16, 40), span(30, 31)]
}

/// Each range's KPIs per site and in total, read as a query reads them (day rows for whole
/// days, hour rows for the rest, daily buckets), from the per-cell rows and from the site
/// level of the rollup rows (`m0105_analytics_rollup_levels` fills them from the hour rows).
async fn answers(db: &DatabaseConnection) -> Vec<BTreeMap<String, (Kpis, Vec<Kpis>)>> {
    let zone = Settings::default().time_zone;
    let mut out = Vec::new();
    for range in ranges() {
        let buckets = time::buckets(range, time::Bucket::Day, zone).unwrap();
        let filter = Filter::default();
        let mut read = Vec::new();
        for level in [None, GroupBy::Site.level(&filter)] {
            let closed_us = store::closing::closed_us(db).await.unwrap();
            let plan = Plan::new(range, &buckets, zone, store::tiers(level), closed_us);
            let rows = store::facts_in(db, &filter, &plan, level).await.unwrap();
            let prior = store::backlog_before(db, &filter, range.start_us, plan.backlog_days(), level)
                .await
                .unwrap();
            let rollup = Rollup::build(
                Directory::default(),
                GroupBy::Site,
                range,
                &buckets,
                &rows,
                &prior,
            );
            let mut by_group: BTreeMap<String, (Kpis, Vec<Kpis>)> = rollup
                .groups
                .iter()
                .map(|(id, g)| (id.clone(), (g.kpis(), g.bucket_kpis())))
                .collect();
            by_group.insert(
                "(total)".into(),
                (rollup.total.kpis(), rollup.total.bucket_kpis()),
            );
            read.push(by_group);
        }
        assert_eq!(read[0], read[1], "the site level answers as the cells do, {range:?}");
        out.push(read.remove(0));
    }
    out
}

async fn hour_rows(db: &DatabaseConnection) -> Vec<kpi_hour::Model> {
    let mut rows = kpi_hour::Entity::find().all(db).await.unwrap();
    rows.sort_by(|a, b| {
        (a.hour_us, &a.site_id, &a.category_id).cmp(&(b.hour_us, &b.site_id, &b.category_id))
    });
    rows
}

async fn day_rows(db: &DatabaseConnection) -> Vec<kpi_day::Model> {
    let mut rows = kpi_day::Entity::find().all(db).await.unwrap();
    rows.sort_by(|a, b| {
        (a.day_us, &a.site_id, &a.category_id).cmp(&(b.day_us, &b.site_id, &b.category_id))
    });
    rows
}

#[tokio::test]
async fn json_facts_migrate_to_the_rows_and_answers_of_the_compact_encoding() {
    let hours = hours();
    let (old_db, new_db) = (TestDatabase::new(), TestDatabase::new());
    let migrated = old_database(&old_db, &hours, None).await;
    Migrator::up(&migrated, None).await.unwrap();
    let projected = new_database(&new_db, &hours).await;

    let rows = hour_rows(&migrated).await;
    assert_eq!(rows.len(), hours.len());
    assert_eq!(rows, hour_rows(&projected).await);
    let days = day_rows(&migrated).await;
    assert_eq!(days.len(), 21 * cells().len());
    assert_eq!(days, day_rows(&projected).await);
    let answers = answers(&migrated).await;
    assert_eq!(answers, self::answers(&projected).await);

    // As before: the old library's percentiles of the same durations, per site and range.
    for (range, by_site) in ranges().into_iter().zip(&answers) {
        for site in ["s1", "s2"] {
            let inside = hours.iter().filter(|h| {
                h.cell.site_id == site && h.hour_us >= range.start_us && h.hour_us < range.end_us
            });
            let (acknowledge, resolve): (Vec<i64>, Vec<i64>) =
                inside.fold((vec![], vec![]), |(mut a, mut r), h| {
                    a.extend(&h.acknowledge_us);
                    r.extend(&h.resolve_us);
                    (a, r)
                });
            let kpis = &by_site[site].0;
            for ((count, summary), old) in
                [(kpis.acknowledge, &acknowledge), (kpis.resolve, &resolve)]
            {
                let sketch = old_sketch(old);
                assert_eq!(count, old.len() as i64, "{site} {range:?}");
                assert_eq!(
                    summary.map(|s| s.p50_s),
                    sketch.quantile(0.5).unwrap(),
                    "{site} {range:?}"
                );
                assert_eq!(
                    summary.map(|s| s.p90_s),
                    sketch.quantile(0.9).unwrap(),
                    "{site} {range:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn an_unreadable_json_row_stops_the_migration_and_changes_nothing() {
    let hours = hours();
    let test_db = TestDatabase::new();
    let db = old_database(&test_db, &hours, Some(40)).await;
    let err = Migrator::up(&db, None).await.unwrap_err().to_string();
    let bad = &hours[40];
    assert!(
        err.contains(&format!("kpi_hour row at {}", bad.hour_us))
            && err.contains(&bad.cell.site_id),
        "{err}"
    );
    // Still the old schema with its JSON: the migration was one transaction.
    let facts: Vec<String> = db
        .query_all(&Query::select().column("facts").from("kpi_hour").to_owned())
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get_by_index(0).unwrap())
        .collect();
    assert_eq!(facts.len(), hours.len());
    assert!(
        facts
            .iter()
            .all(|f| f.starts_with('{') && f.contains("\"counters\"")),
        "{facts:?}"
    );
}

#[tokio::test]
async fn a_corrupt_stored_row_is_an_error_naming_it() {
    let test_db = TestDatabase::new();
    let db = connect_and_migrate::<Migrator>(&test_db.url())
        .await
        .unwrap();
    let (cell, path) = cells()[2].clone();
    let row = kpi_hour::Model {
        hour_us: FIRST_HOUR,
        site_id: cell.site_id,
        category_id: cell.category_id,
        dimension: cell.dimension,
        perspective: cell.perspective,
        region_path: path.into(),
        backlog_delta: 0,
        facts: vec![1, 0xff, 0xff],
    };
    kpi_hour::Entity::insert(kpi_hour::ActiveModel::from(row))
        .exec(&db)
        .await
        .unwrap();
    let range = Span {
        start_us: FIRST_HOUR,
        end_us: FIRST_HOUR + HOUR,
    };
    let plan = Plan::hours_only(range);
    let err = store::facts_in(&db, &Filter::default(), &plan, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "kpi_hour row at {FIRST_HOUR} (site s2, category c1, cell 1/1)"
        )),
        "{err}"
    );
}

//! Day rows and rollup levels answer what the hour rows alone answer: every query reads whole
//! days from day rows and the rest from hour rows, per cell or merged at the level that holds
//! its filter and grouping, and must land exactly where reading only per-cell hour rows lands.

use chrono::DateTime;
use chrono_tz::Tz;
use flywheel_analytics::app::{Directory, GroupBy, Rollup};
use flywheel_analytics::domain::kpi::{Facts, Kpis};
use flywheel_analytics::domain::time::{self, Bucket, Plan, Span, Tier};
use flywheel_analytics::migration::Migrator;
use flywheel_analytics::store::batch::Changes;
use flywheel_analytics::store::{self, Cell, Filter, closing, entities::{kpi_day, kpi_rollup}};
use flywheel_testing::TestDatabase;
use sea_orm::{DatabaseConnection, EntityTrait, TransactionTrait};
use std::collections::{BTreeMap, BTreeSet};

const HOUR: i64 = 3_600_000_000;

fn us(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_micros()
}

fn span(start: &str, end: &str) -> Span {
    Span { start_us: us(start), end_us: us(end) }
}

/// What a rollup answers: every group's KPIs over the range and per bucket.
fn answers(r: &Rollup) -> BTreeMap<String, (Kpis, Vec<Kpis>)> {
    let mut out: BTreeMap<String, (Kpis, Vec<Kpis>)> =
        r.groups.iter().map(|(id, g)| (id.clone(), (g.kpis(), g.bucket_kpis()))).collect();
    out.insert("(total)".into(), (r.total.kpis(), r.total.bucket_kpis()));
    out
}

/// How a test query reads its facts.
#[derive(Clone, Copy, Debug)]
enum Read {
    /// Per-cell hour rows only: the reference.
    Hours,
    /// Per cell, hours and whole days, as a query with a region filter or grouping does.
    Cells,
    /// As the service reads: from the rollup level that holds the filter and the grouping, in
    /// every tier, where one does.
    Planned,
}

/// The rollups by each grouping of a query, and the tiers they read.
async fn rollups(
    db: &DatabaseConnection,
    filter: &Filter,
    range: Span,
    buckets: &[Span],
    zone: Tz,
    read: Read,
) -> (Vec<BTreeMap<String, (Kpis, Vec<Kpis>)>>, BTreeSet<Tier>) {
    let mut out = Vec::new();
    let mut tiers = BTreeSet::new();
    for g in [GroupBy::None, GroupBy::Site, GroupBy::Category, GroupBy::Cell] {
        let level = g.level(filter).filter(|_| matches!(read, Read::Planned));
        let plan = match read {
            Read::Hours => Plan::hours_only(range),
            Read::Cells | Read::Planned => Plan::new(range, buckets, zone, store::tiers(level), closing::closed_us(db).await.unwrap()),
        };
        tiers.extend(Tier::ALL.into_iter().filter(|t| !plan.spans(*t).is_empty()));
        let rows = store::facts_in(db, filter, &plan, level).await.unwrap();
        let prior = store::backlog_before(db, filter, range.start_us, plan.backlog_days(), level).await.unwrap();
        out.push(answers(&Rollup::build(Directory::default(), g, range, buckets, &rows, &prior)));
    }
    (out, tiers)
}

/// Ten days of facts in four cells over two regions, with durations, openings and closings,
/// site s2 moving region in the middle of a day, and late facts for past hours.
async fn project(db: &DatabaseConnection, zone: Tz) {
    // One transaction, as a rebuild applies its events.
    let txn = db.begin().await.unwrap();
    let db = &txn;
    let cells = [
        (Cell { site_id: "s1".into(), category_id: "c1".into(), dimension: 1, perspective: 1 }, "/north/"),
        (Cell { site_id: "s1".into(), category_id: "c2".into(), dimension: 2, perspective: 3 }, "/north/"),
        (Cell { site_id: "s2".into(), category_id: "c1".into(), dimension: 1, perspective: 1 }, "/north/"),
        (Cell { site_id: "s3".into(), category_id: "c2".into(), dimension: 2, perspective: 3 }, "/south/"),
    ];
    let first = us("2025-03-26T00:00:00Z");
    let moved_at = us("2025-03-31T13:00:00Z");
    for h in 0..240i64 {
        let hour = first + h * HOUR;
        // One batch per hour, as a consumer applies the events that came together.
        let mut changes = Changes::default();
        for (i, (cell, path)) in cells.iter().enumerate() {
            let n = (h * 7 + i as i64 * 13) % 5;
            if n == 0 {
                continue;
            }
            let path = if cell.site_id == "s2" && hour >= moved_at { "/south/" } else { path };
            let mut facts = Facts::default();
            facts.counters.tickets_opened = n;
            facts.counters.tickets_resolved = n - 1;
            facts.counters.resolved_within_sla = (n - 1) / 2;
            facts.counters.ratings_count = n % 3;
            facts.counters.rating_sum = 4 * (n % 3);
            for k in 0..n {
                facts.acknowledge.add((60 + 37 * k + h) * 1_000_000);
                facts.resolve.add((3600 + 600 * k * i as i64 + 11 * h) * 1_000_000);
            }
            changes.add_facts(hour, cell, path, 2 * n - 3, facts);
        }
        changes.write(db, zone).await.unwrap();
    }
    // Late facts into hours whose day rows exist already (a reopen counted against an earlier
    // resolution), including s2's hour just before its move, which then moves too.
    let mut undo = Facts::default();
    undo.counters.reopened_resolutions = 1;
    for (hour, cell) in [(first + 30 * HOUR, 0), (moved_at - HOUR, 2), (first + 200 * HOUR, 3)] {
        let (cell, path) = &cells[cell];
        let path = if cell.site_id == "s2" { "/south/" } else { path };
        let mut changes = Changes::default();
        changes.add_facts(hour, cell, path, 1, undo.clone());
        changes.write(db, zone).await.unwrap();
    }
    txn.commit().await.unwrap();
}

/// Late facts for hours of cell s1/c1 (a reopen counted against an earlier resolution).
async fn project_late(db: &DatabaseConnection, zone: Tz, hours: &[i64]) {
    let cell = Cell { site_id: "s1".into(), category_id: "c1".into(), dimension: 1, perspective: 1 };
    let mut undo = Facts::default();
    undo.counters.reopened_resolutions = 1;
    let txn = db.begin().await.unwrap();
    let mut changes = Changes::default();
    for hour in hours {
        changes.add_facts(*hour, &cell, "/north/", 1, undo.clone());
    }
    changes.write(&txn, zone).await.unwrap();
    txn.commit().await.unwrap();
}

/// Every query shape reads the same from day and hour rows as from hour rows alone; returns
/// the tiers the queries read.
async fn assert_day_rows_answer_as_hours(db: &DatabaseConnection, zone: Tz) -> BTreeSet<Tier> {
    let ranges = [
        span("2025-03-26T00:00:00Z", "2025-04-05T00:00:00Z"),
        span("2025-03-27T05:00:00Z", "2025-04-02T19:00:00Z"),
        span("2025-03-29T23:00:00Z", "2025-03-31T22:00:00Z"),
        span("2025-03-31T10:00:00Z", "2025-04-01T11:00:00Z"),
        span("2025-03-28T12:00:00Z", "2025-03-28T13:00:00Z"),
        span("2025-03-20T00:00:00Z", "2025-04-20T00:00:00Z"),
    ];
    let filters = [
        Filter::default(),
        Filter { region_ids: vec!["south".into()], ..Filter::default() },
        Filter { site_ids: vec!["s2".into()], ..Filter::default() },
        Filter { category_ids: vec!["c2".into()], cells: vec![(2, 3)], ..Filter::default() },
    ];
    let utc = time::parse_zone("UTC").unwrap();
    let mut tiers_read = BTreeSet::new();
    for range in ranges {
        let bucketings = [
            Vec::new(),
            time::buckets(range, Bucket::Day, zone).unwrap(),
            time::buckets(range, Bucket::Day, utc).unwrap(),
            time::buckets(range, Bucket::Week, zone).unwrap(),
        ];
        for buckets in &bucketings {
            for filter in &filters {
                let (want, _) = rollups(db, filter, range, buckets, zone, Read::Hours).await;
                for read in [Read::Cells, Read::Planned] {
                    let (got, tiers) = rollups(db, filter, range, buckets, zone, read).await;
                    assert_eq!(got, want, "{range:?}, {} buckets, {filter:?}, {read:?}", buckets.len());
                    tiers_read.extend(tiers);
                }
                let counted = want[0].values().any(|(k, _)| k.counters.tickets_opened > 0 && k.backlog != 0);
                assert!(counted || range.end_us - range.start_us <= HOUR, "{range:?} {filter:?} counts nothing");
            }
        }
    }
    tiers_read
}

fn day_rows_by_key(rows: Vec<kpi_day::Model>) -> BTreeMap<(i64, String, String, String), (i64, Kpis)> {
    rows.into_iter()
        .map(|r| {
            let facts = Facts::decode(&r.facts).unwrap();
            ((r.day_us, r.site_id, r.category_id, r.region_path), (r.backlog_delta, facts.kpis(0)))
        })
        .collect()
}

type RollupKey = (i32, i32, i64, String, String, i32, i32);

fn rollup_rows_by_key(rows: Vec<kpi_rollup::Model>) -> BTreeMap<RollupKey, (i64, Kpis)> {
    rows.into_iter()
        .map(|r| {
            let facts = Facts::decode(&r.facts).unwrap();
            ((r.tier, r.level, r.start_us, r.site_id, r.category_id, r.dimension, r.perspective), (r.backlog_delta, facts.kpis(0)))
        })
        .collect()
}

#[tokio::test]
async fn day_rows_and_rollup_levels_answer_every_query_as_the_hour_rows_do() {
    let test_db = TestDatabase::new();
    let db = flywheel_runtime::db::connect_and_migrate::<Migrator>(&test_db.url()).await.unwrap();
    // Berlin: the data crosses the 23-hour day of 2025-03-30.
    let berlin = time::parse_zone("Europe/Berlin").unwrap();
    project(&db, berlin).await;
    assert_eq!(assert_day_rows_answer_as_hours(&db, berlin).await, Tier::ALL.into_iter().collect(), "some tier was never read");

    // The recount (migration backfill, bulk loads) lands where the projector's increments did.
    let incremental = day_rows_by_key(kpi_day::Entity::find().all(&db).await.unwrap());
    assert!(incremental.keys().any(|(_, site, _, path)| site == "s2" && path == "/south/"));
    assert!(incremental.keys().any(|(_, site, _, path)| site == "s2" && path == "/north/"));
    store::days::recount(&db, berlin).await.unwrap();
    assert_eq!(day_rows_by_key(kpi_day::Entity::find().all(&db).await.unwrap()), incremental);
    let merged = rollup_rows_by_key(kpi_rollup::Entity::find().all(&db).await.unwrap());
    assert!(Tier::ALL.iter().all(|t| merged.keys().any(|(tier, ..)| *tier == *t as i32)));
    store::levels::recount(&db, berlin).await.unwrap();
    assert_eq!(rollup_rows_by_key(kpi_rollup::Entity::find().all(&db).await.unwrap()), merged);

    // A changed zone: start-up realigns the day rows to it, and they answer as hours again.
    store::days::realign(&db, berlin).await.unwrap();
    assert_eq!(day_rows_by_key(kpi_day::Entity::find().all(&db).await.unwrap()), incremental);
    let shanghai = time::parse_zone("Asia/Shanghai").unwrap();
    store::days::realign(&db, shanghai).await.unwrap();
    let realigned = kpi_day::Entity::find().all(&db).await.unwrap();
    assert!(realigned.iter().all(|r| time::day_of(shanghai, r.day_us).start_us == r.day_us));
    let realigned = kpi_rollup::Entity::find().all(&db).await.unwrap();
    assert!(realigned.iter().filter(|r| r.tier == Tier::Day as i32).all(|r| time::day_of(shanghai, r.start_us).start_us == r.start_us));
    assert_eq!(assert_day_rows_answer_as_hours(&db, shanghai).await, Tier::ALL.into_iter().collect());
}

/// Spans that close as time passes: the projector writes a coarser tier's rows (rollup and
/// per-cell day rows) only for spans closed already, each closing sets those of the spans that
/// ended since, and at every point every query answers as the hour rows do; once all have
/// closed, the rows are a recount's.
#[tokio::test]
async fn rollup_rows_of_spans_closed_as_time_passes_answer_as_the_hour_rows_do() {
    let test_db = TestDatabase::new();
    let db = flywheel_runtime::db::connect_and_migrate::<Migrator>(&test_db.url()).await.unwrap();
    let berlin = time::parse_zone("Europe/Berlin").unwrap();
    // Spans are kept open from before the first hour of the data and of every query's range.
    closing::close(&db, berlin, us("2025-03-01T00:00:00Z")).await.unwrap();
    project(&db, berlin).await;
    let tiers = |rows: &BTreeMap<RollupKey, (i64, Kpis)>| rows.keys().map(|k| k.0).collect::<BTreeSet<_>>();
    let written = rollup_rows_by_key(kpi_rollup::Entity::find().all(&db).await.unwrap());
    assert_eq!(tiers(&written), BTreeSet::from([Tier::Hour as i32]), "rows of open spans were written");
    assert!(kpi_day::Entity::find().all(&db).await.unwrap().is_empty(), "day rows of open days were written");
    assert_eq!(assert_day_rows_answer_as_hours(&db, berlin).await, BTreeSet::from([Tier::Hour]));

    let mut read = BTreeSet::new();
    // Closing in steps: mid-quarter, across the short day of 2025-03-30, past a week's end (a
    // Monday), past the data. Between two, late facts land in closed and open spans alike.
    for (at, late) in [
        ("2025-03-28T13:00:00Z", [us("2025-03-26T07:00:00Z"), us("2025-03-28T14:00:00Z")]),
        ("2025-03-31T02:00:00Z", [us("2025-03-29T23:00:00Z"), us("2025-04-02T09:00:00Z")]),
        ("2025-04-01T00:00:00Z", [us("2025-03-27T01:00:00Z"), us("2025-04-04T22:00:00Z")]),
        ("2025-04-20T00:00:00Z", [us("2025-03-31T05:00:00Z"), us("2025-04-03T11:00:00Z")]),
    ] {
        closing::close(&db, berlin, us(at)).await.unwrap();
        project_late(&db, berlin, &late).await;
        read.extend(assert_day_rows_answer_as_hours(&db, berlin).await);
    }
    assert_eq!(read, Tier::ALL.into_iter().collect(), "some tier was never read");
    // Closing again by the same instant changes nothing.
    let closed = rollup_rows_by_key(kpi_rollup::Entity::find().all(&db).await.unwrap());
    let closed_days = day_rows_by_key(kpi_day::Entity::find().all(&db).await.unwrap());
    closing::close(&db, berlin, us("2025-04-20T00:00:00Z")).await.unwrap();
    assert_eq!(rollup_rows_by_key(kpi_rollup::Entity::find().all(&db).await.unwrap()), closed);
    assert_eq!(day_rows_by_key(kpi_day::Entity::find().all(&db).await.unwrap()), closed_days);
    store::levels::recount(&db, berlin).await.unwrap();
    assert_eq!(rollup_rows_by_key(kpi_rollup::Entity::find().all(&db).await.unwrap()), closed);
    // The site that moved region mid-day keeps the day's rows under both paths, as a recount's.
    assert!(closed_days.keys().any(|(_, site, _, path)| site == "s2" && path == "/south/"));
    assert!(closed_days.keys().any(|(_, site, _, path)| site == "s2" && path == "/north/"));
    store::days::recount(&db, berlin).await.unwrap();
    assert_eq!(day_rows_by_key(kpi_day::Entity::find().all(&db).await.unwrap()), closed_days);
}

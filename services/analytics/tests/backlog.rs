//! The running backlog per cell answers what summing every earlier hour row answered.

use flywheel_analytics::domain::kpi::Facts;
use flywheel_analytics::domain::time::Span;
use flywheel_analytics::migration::Migrator;
use flywheel_analytics::store::batch::Changes;
use flywheel_analytics::store::{self, Cell, Filter, entities::{kpi_backlog, kpi_hour}};
use flywheel_testing::TestDatabase;
use sea_orm::{DatabaseConnection, EntityTrait};
use std::collections::BTreeMap;

const HOUR: i64 = 3_600_000_000;

fn cell(site: &str, category: &str, dimension: i32) -> Cell {
    Cell { site_id: site.into(), category_id: category.into(), dimension, perspective: 1 }
}

/// The backlog before `before_us` by its definition: the sum of the deltas of every earlier
/// hour row, per cell and region path, for the cells that have such a row.
async fn summed(db: &DatabaseConnection, before_us: i64, keep: impl Fn(&kpi_hour::Model) -> bool) -> BTreeMap<(Cell, String), i64> {
    let mut sums = BTreeMap::new();
    for r in kpi_hour::Entity::find().all(db).await.unwrap() {
        if r.hour_us < before_us && keep(&r) {
            let c = Cell { site_id: r.site_id, category_id: r.category_id, dimension: r.dimension, perspective: r.perspective };
            *sums.entry((c, r.region_path)).or_insert(0) += r.backlog_delta;
        }
    }
    sums
}

async fn running(db: &DatabaseConnection, filter: &Filter, before_us: i64) -> BTreeMap<(Cell, String), i64> {
    let rows = store::backlog_before(db, filter, before_us, Span { start_us: i64::MAX, end_us: i64::MAX }, None).await.unwrap();
    let n = rows.len();
    let map: BTreeMap<_, _> = rows.into_iter().map(|(c, path, b)| ((c, path), b)).collect();
    assert_eq!(map.len(), n, "one row per cell and path");
    map
}

#[tokio::test]
async fn running_backlog_equals_the_sum_of_earlier_deltas() {
    let test_db = TestDatabase::new();
    let db = flywheel_runtime::db::connect_and_migrate::<Migrator>(&test_db.url()).await.unwrap();
    let t0 = 1_000 * HOUR;
    let (north, south) = ("/r-north/", "/r-south/");
    let (a, b, c) = (cell("s1", "c1", 1), cell("s1", "c2", 2), cell("s2", "c1", 1));
    // (hour, cell, path, delta): openings and closings over ten hours, a cell with no backlog
    // change, and site s2 moving from north to south in hour 6 (its hour-6 row moves with it).
    let adds = [
        (0, &a, north, 2),
        (0, &b, north, 1),
        (1, &a, north, -1),
        (2, &c, north, 3),
        (3, &b, north, 0),
        (4, &a, north, 4),
        (4, &a, north, 0),
        (6, &c, north, -1),
        (6, &c, south, 2),
        (7, &c, south, -2),
        (8, &a, north, -5),
        (9, &b, north, 1),
    ];
    // One event at a time, as the consumer applies a batch of one.
    for (hour, cell, path, delta) in adds {
        let mut changes = Changes::default();
        changes.add_facts(t0 + hour * HOUR, cell, path, delta, Facts::default());
        changes.write(&db, chrono_tz::UTC).await.unwrap();
    }
    let everything = Filter::default();
    let south_only = Filter { region_ids: vec!["r-south".into()], ..Filter::default() };
    let site_s1 = Filter { site_ids: vec!["s1".into()], ..Filter::default() };
    // Before the data, at its first hour, inside it (also inside the moved hour), at its last
    // hour and after it.
    for hour in [-5, 0, 1, 3, 6, 7, 9, 10, 50] {
        let before = t0 + hour * HOUR;
        assert_eq!(running(&db, &everything, before).await, summed(&db, before, |_| true).await, "all, hour {hour}");
        let want_south = summed(&db, before, |r| r.region_path == south).await;
        assert_eq!(running(&db, &south_only, before).await, want_south, "south, hour {hour}");
        let want_s1 = summed(&db, before, |r| r.site_id == "s1").await;
        assert_eq!(running(&db, &site_s1, before).await, want_s1, "s1, hour {hour}");
    }
    // Not vacuous: the middle of the range has a backlog, and north lost s2's moved hour.
    let middle = running(&db, &everything, t0 + 5 * HOUR).await;
    assert_eq!(middle[&(a.clone(), north.to_owned())], 5);
    assert_eq!(middle[&(c.clone(), north.to_owned())], 3);
    let after = running(&db, &everything, t0 + 10 * HOUR).await;
    assert_eq!(after[&(c.clone(), north.to_owned())], 3);
    assert_eq!(after[&(c, south.to_owned())], -1);
    assert!(running(&db, &everything, t0).await.is_empty());
    // Recounting from the hour rows (the migration's backfill) lands where the increments did.
    let mut incremental = kpi_backlog::Entity::find().all(&db).await.unwrap();
    store::recount_backlog(&db).await.unwrap();
    let mut recounted = kpi_backlog::Entity::find().all(&db).await.unwrap();
    let key = |r: &kpi_backlog::Model| (r.site_id.clone(), r.category_id.clone(), r.dimension, r.perspective, r.region_path.clone());
    recounted.sort_by_key(key);
    incremental.sort_by_key(key);
    assert_eq!(recounted, incremental);
}

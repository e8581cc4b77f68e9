//! The search for the open reports a batch of new ones may repeat.

use super::entities::report;
use crate::domain::geo::BoundingBox;
use crate::domain::status::NOT_OPEN;
use flywheel_runtime::{Result, bulk};
use sea_orm::sea_query::{Alias, CommonTableExpression, Cond, Expr, ExprTrait, JoinType, Query, SelectStatement, UnionType, Values, WithClause};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Iterable};

/// Where one new report looks for the report it repeats.
pub struct Search<'a> {
    pub site_id: &'a str,
    pub category_id: &'a str,
    /// Around the new report's location.
    pub area: BoundingBox,
    /// Whether the site's centre is near enough, so reports without a location (which count at
    /// the centre) are candidates too.
    pub centre_near: bool,
}

/// The open primary reports submitted since `since_us` that lie in the area of a search, on its
/// site and in its category; a report found by several searches comes once per search.
pub async fn open_candidates(conn: &impl ConnectionTrait, searches: &[Search<'_>], since_us: i64) -> Result<Vec<report::Model>> {
    if searches.is_empty() {
        return Ok(Vec::new());
    }
    let rows = bulk::query_all(conn, &candidates(searches, since_us, conn.get_database_backend())).await?;
    Ok(rows.iter().map(|r| report::Model::from_query_result(r, "")).collect::<Result<_, _>>()?)
}

/// `WITH search (…) AS (VALUES …)` and, per search, the reports in its area UNION ALL those
/// without a location when the site's centre is near: one text for any number of searches on
/// PostgreSQL, where the list goes as arrays (a UNION ALL of one SELECT per search was a new text,
/// planned again, for every batch size). Each branch finds its candidates through the index on
/// (duplicate_of, site_id, category_id, lat, lng), which one OR of the two would lose to a read of
/// every report of the cell in the window. Reports hold both coordinates or neither, so a report
/// without a latitude has no location, and an area without a longitude bound (near a pole) spans
/// every longitude.
///
/// The searches drive: on PostgreSQL the branches are a LATERAL subquery of each search, so they
/// can only run as index probes per search (joined, the planner hashed every open report in the
/// window, with a cached plan from the table's first statistics); SQLite, which has no LATERAL,
/// is held to the same order by a CROSS JOIN (it had scanned every open report for the branch
/// without a location, whose index condition needs the search's cell).
fn candidates(searches: &[Search<'_>], since_us: i64, backend: DbBackend) -> SelectStatement {
    let search = Alias::new("search");
    let [site_id, category_id, south, north, west, east, centre_near] =
        ["site_id", "category_id", "south", "north", "west", "east", "centre_near"].map(Alias::new);
    let values = searches
        .iter()
        .map(|s| {
            let (w, e) = s.area.lng.unwrap_or((-180.0, 180.0));
            Values(vec![
                s.site_id.into(),
                s.category_id.into(),
                s.area.lat.0.into(),
                s.area.lat.1.into(),
                w.into(),
                e.into(),
                s.centre_near.into(),
            ])
        })
        .collect();
    let table = CommonTableExpression::new()
        .table_name(search.clone())
        .columns([&site_id, &category_id, &south, &north, &west, &east, &centre_near].map(|c| c.clone()))
        .values(values)
        .to_owned();
    let col = |c: report::Column| Expr::col((report::Entity, c));
    let param = |c: &Alias| Expr::col((search.clone(), c.clone()));
    let in_cell = Cond::all()
        .add(col(report::Column::SiteId).equals((search.clone(), site_id.clone())))
        .add(col(report::Column::CategoryId).equals((search.clone(), category_id.clone())));
    let in_area = Cond::all()
        .add(col(report::Column::Lat).between(param(&south), param(&north)))
        .add(col(report::Column::Lng).between(param(&west), param(&east)));
    let at_centre = Cond::all().add(param(&centre_near).eq(true)).add(col(report::Column::Lat).is_null());
    let lateral = backend == DbBackend::Postgres;
    let branch = |place: Cond| {
        let mut q = Query::select();
        if lateral {
            q.from(report::Entity);
        } else {
            // SQLite keeps the left side of a CROSS JOIN as the outer loop.
            q.from(search.clone()).cross_join(report::Entity);
        }
        q.columns(report::Column::iter().map(|c| (report::Entity, c)))
            .cond_where(in_cell.clone().add(place))
            .and_where(col(report::Column::DuplicateOf).eq(""))
            .and_where(col(report::Column::Status).is_not_in(NOT_OPEN))
            .and_where(col(report::Column::SubmitUs).gte(since_us));
        q
    };
    let mut found = branch(in_area).union(UnionType::All, branch(at_centre)).to_owned();
    if lateral {
        let per_search = Alias::new("found");
        found = Query::select()
            .columns(report::Column::iter().map(|c| (per_search.clone(), c)))
            .from(search.clone())
            .join_lateral(JoinType::InnerJoin, found, per_search, Expr::cust("TRUE"))
            .to_owned();
    }
    found.with_cte(WithClause::new().cte(table).to_owned()).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flywheel_proto::flywheel::common::v1::GeoPoint;

    fn searches(n: usize) -> Vec<Search<'static>> {
        (0..n)
            .map(|i| Search {
                site_id: "site",
                category_id: "cat",
                area: BoundingBox::around(&GeoPoint { lat: 89.9 * (i % 2) as f64, lng: 10.0 }, 50.0),
                centre_near: i % 3 == 0,
            })
            .collect()
    }

    #[test]
    fn any_number_of_searches_is_one_text_on_postgres() {
        let text = |n| bulk::statement(DbBackend::Postgres, &candidates(&searches(n), 0, DbBackend::Postgres)).sql;
        assert_eq!(text(1), text(2));
        assert_eq!(text(1), text(64));
        assert!(text(1).contains("unnest($1::text[], $2::text[], $3::float8[]"), "{}", text(1));
        assert!(text(1).starts_with("WITH \"search\"") && text(1).contains("UNION ALL"), "{}", text(1));
        assert!(text(1).contains("FROM \"search\" INNER JOIN LATERAL ("), "{}", text(1));
        let sqlite = |n| bulk::statement(DbBackend::Sqlite, &candidates(&searches(n), 0, DbBackend::Sqlite)).sql;
        assert_ne!(sqlite(1), sqlite(2), "SQLite runs the VALUES list as built");
    }

    /// The open primaries of `sites` sites, `per_site` each, in one category around (45, 9).
    fn reports(sites: usize, per_site: usize) -> Vec<report::ActiveModel> {
        use flywheel_proto::flywheel::feedback::v1::ReportStatus;
        (0..sites * per_site)
            .map(|i| {
                let site = i % sites;
                let row = report::Model {
                    id: format!("r{i}"),
                    tracking_code: format!("t{i}"),
                    kind: 1,
                    site_id: format!("site-{site}"),
                    region_path: "/".into(),
                    zone_id: String::new(),
                    lat: Some(45.0 + site as f64 * 0.001),
                    lng: Some(9.0),
                    address: String::new(),
                    category_id: "cat".into(),
                    dimension: 1,
                    perspective: 1,
                    priority_hint: 0,
                    description: String::new(),
                    media_urls: String::new(),
                    channel: 1,
                    resident_id: String::new(),
                    needs_field_work: true,
                    status: ReportStatus::Submitted as i32,
                    ticket_id: String::new(),
                    duplicate_of: String::new(),
                    duplicate_count: 0,
                    support_count: 0,
                    reopen_count: 0,
                    correlation_id: String::new(),
                    version: 1,
                    submit_us: 1_000,
                    update_us: 1_000,
                    close_us: None,
                    expected_resolve_us: None,
                };
                row.into()
            })
            .collect()
    }

    /// The search probes the place index with each search's cell, whatever the statistics say:
    /// here they were taken while the table was empty, as on a new deployment, which let
    /// PostgreSQL plan a hash of every open report (SQLite or PostgreSQL with FLYWHEEL_TEST_POSTGRES).
    #[tokio::test]
    async fn the_search_reads_only_the_searched_cells_reports() {
        use sea_orm::EntityTrait;
        let database = flywheel_testing::TestDatabase::new();
        let db = flywheel_runtime::db::connect_and_migrate::<crate::migration::Migrator>(&database.url()).await.unwrap();
        let backend = db.get_database_backend();
        db.execute_unprepared("ANALYZE report").await.unwrap();
        let rows = reports(300, 10);
        for chunk in rows.chunks(500) {
            report::Entity::insert_many(chunk.to_vec()).exec(&db).await.unwrap();
        }
        let searches: Vec<Search<'_>> = ["site-7", "site-8"]
            .iter()
            .enumerate()
            .map(|(i, site)| Search {
                site_id: site,
                category_id: "cat",
                area: BoundingBox::around(&GeoPoint { lat: 45.007 + i as f64 * 0.001, lng: 9.0 }, 50.0),
                centre_near: true,
            })
            .collect();
        let found = open_candidates(&db, &searches, 0).await.unwrap();
        let mut ids: Vec<&str> = found.iter().map(|r| r.site_id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, [["site-7"; 10], ["site-8"; 10]].concat());

        let mut query = bulk::statement(backend, &candidates(&searches, 0, backend));
        let explain = if backend == DbBackend::Postgres { "EXPLAIN (ANALYZE, TIMING OFF) " } else { "EXPLAIN QUERY PLAN " };
        query.sql = format!("{explain}{}", query.sql);
        let plan = db.query_all_raw(query).await.unwrap();
        let column = if backend == DbBackend::Postgres { "QUERY PLAN" } else { "detail" };
        let lines: Vec<String> = plan.iter().map(|row| row.try_get("", column).unwrap()).collect();
        if backend == DbBackend::Postgres {
            let scans = scans_of_report(&lines);
            assert!(!scans.is_empty(), "{lines:#?}");
            for (cond, _) in &scans {
                assert!(cond.contains("site_id"), "a scan of the reports not by cell: {lines:#?}");
            }
            assert_eq!(scans.iter().map(|(_, read)| read).sum::<u64>(), 20, "{lines:#?}");
        } else {
            for detail in lines.iter().filter(|l| l.contains("report")) {
                assert!(detail.starts_with("SEARCH report USING INDEX") && detail.contains("site_id=?"), "{lines:#?}");
            }
        }
    }

    /// Each scan of the reports in a PostgreSQL plan: its index condition and the rows it read.
    fn scans_of_report(lines: &[String]) -> Vec<(String, u64)> {
        let number = |line: &str, key: &str| -> u64 {
            let at = line.find(key).map(|i| i + key.len()).unwrap_or(line.len());
            line[at..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap_or(0)
        };
        let mut scans: Vec<(String, u64)> = Vec::new();
        let mut in_scan = false;
        for line in lines {
            if line.contains("->") || !line.starts_with(' ') {
                in_scan = line.contains(" on report ");
                if in_scan {
                    scans.push((String::new(), number(line, "actual rows=") * number(line, "loops=")));
                }
            } else if in_scan && line.trim_start().starts_with("Index Cond:") {
                scans.last_mut().expect("a scan").0 = line.clone();
            }
        }
        scans
    }
}

//! The search for the open reports a batch of new ones may repeat.

use super::entities::report;
use crate::domain::geo::BoundingBox;
use crate::domain::status::NOT_OPEN;
use flywheel_runtime::{Result, bulk};
use sea_orm::sea_query::{Alias, CommonTableExpression, Cond, Expr, ExprTrait, Query, SelectStatement, UnionType, Values, WithClause};
use sea_orm::{ConnectionTrait, FromQueryResult, Iterable};

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
    let rows = bulk::query_all(conn, &candidates(searches, since_us)).await?;
    Ok(rows.iter().map(|r| report::Model::from_query_result(r, "")).collect::<Result<_, _>>()?)
}

/// `WITH search (…) AS (VALUES …) SELECT report.* FROM report JOIN search ON <in its area>
/// UNION ALL SELECT report.* FROM report JOIN search ON <without a location, centre near>`: one
/// text for any number of searches on PostgreSQL, where the list goes as arrays (a UNION ALL of
/// one SELECT per search was a new text, planned again, for every batch size). Each branch finds
/// its candidates through the index on (duplicate_of, site_id, category_id, lat, lng), which
/// one OR of the two would lose to a read of every report of the cell in the window. Reports hold
/// both coordinates or neither, so a report without a latitude has no location, and an area
/// without a longitude bound (near a pole) spans every longitude.
fn candidates(searches: &[Search<'_>], since_us: i64) -> SelectStatement {
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
    let branch = |place: Cond| {
        Query::select()
            .columns(report::Column::iter().map(|c| (report::Entity, c)))
            .from(report::Entity)
            .inner_join(
                search.clone(),
                Cond::all()
                    .add(col(report::Column::SiteId).equals((search.clone(), site_id.clone())))
                    .add(col(report::Column::CategoryId).equals((search.clone(), category_id.clone())))
                    .add(place),
            )
            .and_where(col(report::Column::DuplicateOf).eq(""))
            .and_where(col(report::Column::Status).is_not_in(NOT_OPEN))
            .and_where(col(report::Column::SubmitUs).gte(since_us))
            .to_owned()
    };
    let in_area = Cond::all()
        .add(col(report::Column::Lat).between(param(&south), param(&north)))
        .add(col(report::Column::Lng).between(param(&west), param(&east)));
    let at_centre = Cond::all().add(param(&centre_near).eq(true)).add(col(report::Column::Lat).is_null());
    branch(in_area).union(UnionType::All, branch(at_centre)).with_cte(WithClause::new().cte(table).to_owned()).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flywheel_proto::flywheel::common::v1::GeoPoint;
    use sea_orm::DbBackend;

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
        let text = |n| bulk::statement(DbBackend::Postgres, &candidates(&searches(n), 0)).sql;
        assert_eq!(text(1), text(2));
        assert_eq!(text(1), text(64));
        assert!(text(1).contains("unnest($1::text[], $2::text[], $3::float8[]"), "{}", text(1));
        assert!(text(1).starts_with("WITH \"search\"") && text(1).contains("UNION ALL"), "{}", text(1));
        let sqlite = |n| bulk::statement(DbBackend::Sqlite, &candidates(&searches(n), 0)).sql;
        assert_ne!(sqlite(1), sqlite(2), "SQLite runs the VALUES list as built");
    }
}

//! The use cases: validate a query, read the hour facts it needs, roll them up into groups and
//! buckets, and compute KPIs.

mod export;
mod flywheel;
mod kpis;
mod league;
mod rollup;
mod status;

pub use export::ExportChunk;
pub use rollup::{Directory, GroupBy, Rollup};

use crate::convert::timestamp_us;
use crate::domain::time::{self, Bucket, Plan, Span};
use crate::settings::Settings;
use crate::store::{self, Filter};
use async_nats::jetstream;
use chrono_tz::Tz;
use flywheel_proto::flywheel::analytics::v1 as pb;
use flywheel_runtime::{Error, Result, Violations};
use sea_orm::DatabaseConnection;

/// The analytics read side, shared by gRPC and the dashboard.
#[derive(Clone)]
pub struct Analytics {
    db: DatabaseConnection,
    jetstream: jetstream::Context,
    settings: Settings,
}

/// A validated query: what to count, over which whole hours, bucketed in which zone.
#[derive(Clone, Debug)]
pub struct Query {
    pub filter: Filter,
    pub span: Span,
    pub tz: Tz,
}

impl Analytics {
    pub fn new(db: DatabaseConnection, jetstream: jetstream::Context, settings: Settings) -> Self {
        Self { db, jetstream, settings }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    async fn as_of(&self) -> Result<Option<prost_types::Timestamp>> {
        Ok(store::as_of_us(&self.db).await?.map(crate::convert::timestamp))
    }

    /// Reads the facts of a query (day rows for its whole closed days in the rollup zone, hour
    /// rows for the rest; merged across cells when a rollup level holds its filter and grouping) and
    /// rolls them up by `group_by` into `buckets`.
    pub async fn rollup(&self, query: &Query, group_by: GroupBy, buckets: &[Span]) -> Result<Rollup> {
        let directory = Directory::load(&self.db).await?;
        let level = group_by.level(&query.filter);
        let closed_us = store::closing::closed_us(&self.db).await?;
        let plan = Plan::new(query.span, buckets, self.settings.time_zone, store::tiers(level), closed_us);
        let rows = store::facts_in(&self.db, &query.filter, &plan, level).await?;
        let prior = store::backlog_before(&self.db, &query.filter, query.span.start_us, plan.backlog_days(), level).await?;
        Ok(Rollup::build(directory, group_by, query.span, buckets, &rows, &prior))
    }
}

const TIMESTAMP_RANGE: &str = "must be between 0001-01-01 and 9999-12-31 with nanos in 0..1e9";

/// A timestamp protobuf allows (years 1..9999); arithmetic on anything wider could overflow.
fn valid_timestamp(t: &prost_types::Timestamp) -> bool {
    (-62_135_596_800..=253_402_300_799).contains(&t.seconds) && (0..1_000_000_000).contains(&t.nanos)
}

/// Validates the parts every query shares; collects every violation into `v`.
pub fn query(
    v: &mut Violations,
    filter: Option<&pb::KpiFilter>,
    range: Option<&pb::TimeRange>,
    zone: &str,
    default_zone: Tz,
) -> Option<Query> {
    let filter = filter.cloned().unwrap_or_default();
    let mut cells = Vec::new();
    for (i, c) in filter.cells.iter().enumerate() {
        let ok = (1..=3).contains(&c.dimension) && (1..=3).contains(&c.perspective);
        v.check(ok, format!("filter.cells[{i}]"), "both dimension and perspective must be set");
        cells.push((c.dimension, c.perspective));
    }
    let span = match range {
        None => {
            v.add("time_range", "required");
            None
        }
        Some(r) => match (&r.start_time, &r.end_time) {
            (Some(s), Some(e)) if !(valid_timestamp(s) && valid_timestamp(e)) => {
                v.check(valid_timestamp(s), "time_range.start_time", TIMESTAMP_RANGE);
                v.check(valid_timestamp(e), "time_range.end_time", TIMESTAMP_RANGE);
                None
            }
            (Some(s), Some(e)) => {
                let span = time::effective_span(timestamp_us(s), timestamp_us(e));
                v.check(span.is_some(), "time_range.end_time", "must be after start_time");
                span
            }
            (s, e) => {
                v.check(s.is_some(), "time_range.start_time", "required");
                v.check(e.is_some(), "time_range.end_time", "required");
                None
            }
        },
    };
    let tz = if zone.is_empty() {
        Some(default_zone)
    } else {
        time::parse_zone(zone).map_err(|e| v.add("time_zone", e)).ok()
    };
    Some(Query {
        filter: Filter { region_ids: filter.region_ids, site_ids: filter.site_ids, category_ids: filter.category_ids, cells },
        span: span?,
        tz: tz?,
    })
}

pub fn bucket_of(g: pb::Granularity) -> Option<Bucket> {
    match g {
        pb::Granularity::Unspecified => None,
        pb::Granularity::Hour => Some(Bucket::Hour),
        pb::Granularity::Day => Some(Bucket::Day),
        pb::Granularity::Week => Some(Bucket::Week),
        pb::Granularity::Month => Some(Bucket::Month),
    }
}

/// The buckets of a query, or a violation on `granularity` when there are too many.
pub fn buckets(v: &mut Violations, query: Option<&Query>, bucket: Option<Bucket>) -> Vec<Span> {
    match (query, bucket) {
        (Some(q), Some(b)) => time::buckets(q.span, b, q.tz).unwrap_or_else(|e| {
            v.add("granularity", e);
            Vec::new()
        }),
        _ => Vec::new(),
    }
}

/// A query split into groups and buckets.
pub struct Grouped {
    pub query: Query,
    pub buckets: Vec<Span>,
    pub group_by: GroupBy,
}

/// Validates a grouped query's fields; collects every violation into `v`.
pub fn grouped(
    v: &mut Violations,
    filter: Option<&pb::KpiFilter>,
    range: Option<&pb::TimeRange>,
    zone: &str,
    default_zone: Tz,
    granularity: i32,
    group_by: i32,
) -> Option<Grouped> {
    let q = query(v, filter, range, zone, default_zone);
    let granularity = known::<pb::Granularity>(v, "granularity", granularity);
    let group_by = known::<pb::GroupBy>(v, "group_by", group_by);
    let buckets = buckets(v, q.as_ref(), granularity.and_then(bucket_of));
    Some(Grouped { query: q?, buckets, group_by: GroupBy::from_proto(group_by?) })
}

/// The validated value, or INVALID_ARGUMENT with every violation.
pub fn finish<T>(v: Violations, value: Option<T>) -> Result<T> {
    // A part is missing only when a violation says why, so the fallback never shows.
    v.finish(value)?.ok_or_else(|| Error::invalid("request", "invalid"))
}

/// An enum field's value, or a violation when the number is not one of its values.
pub fn known<E: TryFrom<i32>>(v: &mut Violations, field: &str, value: i32) -> Option<E> {
    E::try_from(value).map_err(|_| v.add(field, format!("unknown value {value}"))).ok()
}

fn not_found_region(id: &str) -> Error {
    Error::not_found("region", id)
}

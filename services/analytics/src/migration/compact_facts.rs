//! `m0104_analytics_compact_facts`: hour and day facts from JSON text to the compact encoding
//! (`Facts::encode`) in a binary column (BLOB on SQLite, bytea on PostgreSQL).
//!
//! The hour rows are copied in key order, a batch at a time, into a table with a binary
//! `facts` column, which then replaces `kpi_hour`: the old text column is gone, and neither
//! database has to alter a column's type in place. The day rows are recounted from the
//! converted hour rows (as `m0103_analytics_day_rollup` filled them; the same merge, so the
//! same bytes), which also fills them for a database that skipped m0103's backfill. The whole
//! migration is one transaction on both databases: a failure leaves the JSON rows as they were.

use super::legacy_facts;
use crate::store::Cell;
use sea_orm::{ConnectionTrait, Value};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// Hour rows converted per statement (8 bound values each).
const BATCH: u64 = 1_000;

pub struct CompactFacts;

impl MigrationName for CompactFacts {
    fn name(&self) -> &str {
        "m0104_analytics_compact_facts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CompactFacts {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(facts_table(COMPACT_HOURS, "hour_us", false))
            .await?;
        copy_hours(m.get_connection()).await?;
        m.drop_table(Table::drop().table("kpi_hour").to_owned())
            .await?;
        m.rename_table(Table::rename().table(COMPACT_HOURS, "kpi_hour").to_owned())
            .await?;

        m.drop_table(Table::drop().table("kpi_day").to_owned())
            .await?;
        m.create_table(facts_table("kpi_day", "day_us", true))
            .await?;
        let zone = crate::settings::Settings::from_env()
            .map_err(|e| DbErr::Custom(e.to_string()))?
            .time_zone;
        crate::store::days::recount(m.get_connection(), zone).await
    }
}

/// An hour or day table (`time` its first key column) with binary facts; day rows have the
/// region path in their key.
fn facts_table(name: &'static str, time: &'static str, path_in_key: bool) -> TableCreateStatement {
    let mut key = Index::create();
    key.col(time)
        .col("site_id")
        .col("category_id")
        .col("dimension")
        .col("perspective");
    if path_in_key {
        key.col("region_path");
    }
    Table::create()
        .table(name)
        .col(big_integer(time))
        .col(string_len("site_id", 64))
        .col(string_len("category_id", 64))
        .col(integer("dimension"))
        .col(integer("perspective"))
        .col(string_len("region_path", 400))
        .col(big_integer("backlog_delta"))
        .col(blob("facts"))
        .primary_key(&mut key)
        .to_owned()
}

/// The converted hour rows' table until it replaces `kpi_hour`.
const COMPACT_HOURS: &str = "kpi_hour_compact";

const COLUMNS: [&str; 8] = [
    "hour_us",
    "site_id",
    "category_id",
    "dimension",
    "perspective",
    "region_path",
    "backlog_delta",
    "facts",
];

type HourRow = (i64, String, String, i32, i32, String, i64, String);

/// Copies every hour row into `COMPACT_HOURS` with its JSON facts encoded, in key order, in
/// batches (each read resumes after the previous batch's last key, so it stays an index range).
async fn copy_hours(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let key = || COLUMNS[..5].iter().map(|c| Expr::col(*c));
    let mut after: Option<HourRow> = None;
    loop {
        let mut select = Query::select();
        select
            .columns(COLUMNS)
            .from("kpi_hour")
            .order_by_columns(COLUMNS[..5].iter().map(|c| (*c, Order::Asc)))
            .limit(BATCH);
        if let Some((h, s, c, d, p, ..)) = &after {
            let last: [Expr; 5] = [
                (*h).into(),
                s.as_str().into(),
                c.as_str().into(),
                (*d).into(),
                (*p).into(),
            ];
            select.and_where(Expr::tuple(key()).gt(Expr::tuple(last)));
        }
        let rows = db.query_all(&select).await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        let mut insert = Query::insert();
        insert.into_table(COMPACT_HOURS).columns(COLUMNS);
        for r in &rows {
            insert
                .values(encoded(r.try_get_many_by_index()?)?)
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        db.execute(&insert).await?;
        after = Some(last.try_get_many_by_index()?);
    }
}

/// One hour row's values with its facts encoded; JSON that does not read is an error naming
/// the row.
fn encoded(
    (hour_us, site_id, category_id, dimension, perspective, region_path, backlog_delta, json): HourRow,
) -> Result<Vec<Expr>, DbErr> {
    let cell = Cell {
        site_id,
        category_id,
        dimension,
        perspective,
    };
    let facts = legacy_facts::from_json(&json).map_err(|e| {
        DbErr::Custom(format!(
            "kpi_hour row at {hour_us} (site {}, category {}, cell {dimension}/{perspective}): {e}",
            cell.site_id, cell.category_id
        ))
    })?;
    let values: [Value; 8] = [
        hour_us.into(),
        cell.site_id.into(),
        cell.category_id.into(),
        dimension.into(),
        perspective.into(),
        region_path.into(),
        backlog_delta.into(),
        facts.encode().into(),
    ];
    Ok(values.into_iter().map(Expr::val).collect())
}

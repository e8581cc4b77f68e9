//! Persistence: the tables and the queries the use cases share.

pub mod entities;
pub mod rate;

use crate::convert;
use entities::{report, survey, timeline};
use flywheel_proto::flywheel::feedback::v1::Report;
use flywheel_runtime::db::now_micros;
use flywheel_runtime::{Error, Result};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder};

pub async fn load_report(conn: &impl ConnectionTrait, id: &str) -> Result<report::Model> {
    report::Entity::find_by_id(id.to_owned()).one(conn).await?.ok_or_else(|| Error::not_found("report", id))
}

/// The report with its timeline and surveys, as the contract shows it (nothing redacted).
pub async fn snapshot(conn: &impl ConnectionTrait, row: report::Model) -> Result<Report> {
    let steps = timeline::Entity::find()
        .filter(timeline::Column::ReportId.eq(&row.id))
        .order_by_asc(timeline::Column::Seq)
        .all(conn)
        .await?;
    let surveys = surveys_of(conn, &row.id).await?;
    Ok(convert::report(row, steps, surveys, now_micros()))
}

pub async fn surveys_of(conn: &impl ConnectionTrait, report_id: &str) -> Result<Vec<survey::Model>> {
    Ok(survey::Entity::find()
        .filter(survey::Column::ReportId.eq(report_id))
        .order_by_asc(survey::Column::Round)
        .all(conn)
        .await?)
}

/// Saves every column of a changed report, bumping its version and update time.
pub async fn save_report(conn: &impl ConnectionTrait, mut row: report::Model) -> Result<report::Model> {
    row.version += 1;
    row.update_us = now_micros();
    row.clone().into_active_model().reset_all().update(conn).await?;
    Ok(row)
}

/// Appends a public status step to the report's timeline.
pub async fn append_step(conn: &impl ConnectionTrait, report_id: &str, status: i32, note: &str, time_us: i64) -> Result<()> {
    let last = timeline::Entity::find()
        .filter(timeline::Column::ReportId.eq(report_id))
        .order_by_desc(timeline::Column::Seq)
        .one(conn)
        .await?;
    let seq = last.map_or(1, |t| t.seq + 1);
    insert_step(conn, timeline::Model { report_id: report_id.to_owned(), seq, status, time_us, note: note.to_owned() }).await?;
    Ok(())
}

/// The first step of a new report's timeline, without looking for earlier ones.
pub async fn first_step(conn: &impl ConnectionTrait, report_id: &str, status: i32, time_us: i64) -> Result<timeline::Model> {
    insert_step(conn, timeline::Model { report_id: report_id.to_owned(), seq: 1, status, time_us, note: String::new() }).await
}

async fn insert_step(conn: &impl ConnectionTrait, step: timeline::Model) -> Result<timeline::Model> {
    timeline::ActiveModel::from(step.clone()).insert(conn).await?;
    Ok(step)
}

/// Reports whose row `column` equals `value` (e.g. the duplicates of a report).
pub async fn reports_where(
    conn: &impl ConnectionTrait,
    column: report::Column,
    value: &str,
) -> Result<Vec<report::Model>> {
    Ok(report::Entity::find().filter(column.eq(value)).order_by_asc(report::Column::Id).all(conn).await?)
}


//! ExportCsv: RFC 4180 CSV of the KPIs, the matrix or the league, in chunks with a resume cursor
//! (the row offset, bound to the request so it cannot be used with another one).

use super::kpis::matrix_cells;
use super::rollup::{GroupBy, cell_id};
use super::{Analytics, Grouped, finish, grouped, known};
use crate::domain::kpi::{Facts, Kpis};
use chrono_tz::Tz;
use flywheel_proto::flywheel::analytics::v1 as pb;
use crate::store::entities::{ticket, ticket_rating};
use flywheel_proto::flywheel::common::v1::{Dimension, Perspective, Priority};
use flywheel_proto::flywheel::dispatch::v1::{TicketOriginKind, TicketState};
use flywheel_proto::flywheel::feedback::v1::FixedAnswer;
use flywheel_runtime::pagination::{decode_token, encode_token, fingerprint};
use flywheel_runtime::{Error, Result, Violations};

pub type ExportChunk = pb::ExportCsvResponse;

const KPI_COLUMNS: [&str; 27] = [
    "reports_received", "praise_received", "tickets_opened", "tickets_resolved", "tickets_closed",
    "tickets_cancelled", "tickets_reopened", "backlog", "time_to_acknowledge_mean_s",
    "time_to_acknowledge_p50_s", "time_to_acknowledge_p90_s", "time_to_acknowledge_count",
    "time_to_resolve_mean_s", "time_to_resolve_p50_s", "time_to_resolve_p90_s", "time_to_resolve_count",
    "sla_compliance_ratio", "sla_breaches", "acknowledge_breaches", "resolve_breaches", "escalations",
    "reopen_rate", "first_assignment_resolution_rate", "ratings_count", "csat_mean", "fixed_share",
    "supports_count",
];

fn seconds(v: Option<f64>) -> String {
    v.map(|s| format!("{s:.3}")).unwrap_or_default()
}

fn ratio(v: Option<f64>) -> String {
    v.map(|r| format!("{r:.4}")).unwrap_or_default()
}

fn kpi_fields(k: &Kpis) -> Vec<String> {
    let c = &k.counters;
    let durations = |d: &(i64, Option<crate::domain::kpi::DurationSummary>)| {
        vec![seconds(d.1.map(|s| s.mean_s)), seconds(d.1.map(|s| s.p50_s)), seconds(d.1.map(|s| s.p90_s)), d.0.to_string()]
    };
    let mut f: Vec<String> = [
        c.reports_received, c.praise_received, c.tickets_opened, c.tickets_resolved, c.tickets_closed,
        c.tickets_cancelled, c.tickets_reopened, k.backlog,
    ]
    .iter()
    .map(i64::to_string)
    .collect();
    f.extend(durations(&k.acknowledge));
    f.extend(durations(&k.resolve));
    f.push(ratio(k.sla_compliance_ratio));
    f.extend([k.sla_breaches(), c.acknowledge_breaches, c.resolve_breaches, c.escalations].iter().map(i64::to_string));
    f.push(ratio(k.reopen_rate));
    f.push(ratio(k.first_assignment_resolution_rate));
    f.push(c.ratings_count.to_string());
    f.push(ratio(k.csat_mean));
    f.push(ratio(k.fixed_share));
    f.push(c.supports.to_string());
    f
}

/// One CSV field, quoted when it must be (RFC 4180).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
}

fn line(fields: &[String]) -> String {
    let mut l = fields.iter().map(|f| field(f)).collect::<Vec<_>>().join(",");
    l.push_str("\r\n");
    l
}

fn local_time(us: i64, tz: Tz) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap_or_default()
        .with_timezone(&tz)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

fn axes(d: i32, p: i32) -> [String; 2] {
    [enum_name(d, "DIMENSION_", Dimension::as_str_name), enum_name(p, "PERSPECTIVE_", Perspective::as_str_name)]
}

fn with_kpis(mut head: Vec<String>, k: &Kpis) -> Vec<String> {
    head.extend(kpi_fields(k));
    head
}

fn columns(head: &[&str]) -> Vec<String> {
    head.iter().chain(KPI_COLUMNS.iter()).map(|c| c.to_string()).collect()
}

impl Analytics {
    /// The chunks of an export, from the cursor on.
    pub async fn export_csv(&self, r: pb::ExportCsvRequest) -> Result<Vec<ExportChunk>> {
        let mut v = Violations::new();
        let dataset = known::<pb::ExportDataset>(&mut v, "dataset", r.dataset);
        v.check(r.dataset != 0, "dataset", "required");
        v.check(r.max_chunk_bytes == 0 || (1024..=1_048_576).contains(&r.max_chunk_bytes), "max_chunk_bytes", "must be within 1024..1048576");
        let g = grouped(&mut v, r.filter.as_ref(), r.time_range.as_ref(), &r.time_zone, self.settings.time_zone, r.granularity, r.group_by);
        let mut bound = r.clone();
        bound.cursor.clear();
        bound.max_chunk_bytes = 0;
        let fp = fingerprint(&[&format!("{bound:?}")]);
        let skip = match decode_token(&r.cursor, fp) {
            Ok(k) => k.map(|k| k.parse::<usize>().unwrap_or(usize::MAX)).unwrap_or(0),
            Err(_) => {
                v.add("cursor", "not a cursor of this export request");
                0
            }
        };
        let (Grouped { query: q, buckets: b, group_by }, dataset) = finish(v, g.zip(dataset))?;
        let (header, rows) = match dataset {
            pb::ExportDataset::ScenarioMatrix => {
                let rollup = self.rollup(&q, GroupBy::Cell, &[]).await?;
                let rows = matrix_cells()
                    .into_iter()
                    .map(|(d, p)| {
                        let k = rollup.groups.get(&cell_id(d, p)).map(|g| g.kpis()).unwrap_or_else(|| Facts::default().kpis(0));
                        with_kpis(axes(d, p).to_vec(), &k)
                    })
                    .collect();
                (columns(&["dimension", "perspective"]), rows)
            }
            pb::ExportDataset::Tickets => {
                let tickets = crate::store::tickets::opened_in(&self.db, &q.filter, q.span).await?;
                let rows = tickets.iter().map(|(t, rating)| ticket_fields(t, rating.as_ref(), q.tz)).collect();
                (TICKET_COLUMNS.iter().map(|c| c.to_string()).collect(), rows)
            }
            pb::ExportDataset::SiteLeague => {
                let league = self.league(r.filter.as_ref(), r.time_range.as_ref(), &r.time_zone, r.rank_by, r.min_volume).await?;
                let rows = league
                    .entries
                    .iter()
                    .zip(&league.kpis)
                    .map(|(e, k)| {
                        let mut f = vec![e.rank.to_string(), e.site_id.clone(), e.site_code.clone(), e.site_name.clone(), e.region_path.join("/")];
                        f.extend([e.flagship.to_string(), e.volume.to_string(), e.score.map(|s| format!("{s:.4}")).unwrap_or_default()]);
                        with_kpis(f, k)
                    })
                    .collect();
                (columns(&["rank", "site_id", "site_code", "site_name", "region_path", "flagship", "volume", "score"]), rows)
            }
            _ => {
                let rollup = self.rollup(&q, group_by, &b).await?;
                let directory = super::Directory::load(&self.db).await?;
                let mut rows = Vec::new();
                for g in rollup.ranked_groups() {
                    let key = directory.key(group_by, &g.id);
                    let head = vec![key.id.clone(), key.code.clone(), key.name.clone()];
                    if b.is_empty() {
                        let mut f = head.clone();
                        f.extend([local_time(q.span.start_us, q.tz), local_time(q.span.end_us, q.tz)]);
                        rows.push(with_kpis(f, &g.kpis()));
                    }
                    for (bucket, k) in b.iter().zip(g.bucket_kpis()) {
                        let mut f = head.clone();
                        f.extend([local_time(bucket.start_us, q.tz), local_time(bucket.end_us, q.tz)]);
                        rows.push(with_kpis(f, &k));
                    }
                }
                (columns(&["group_id", "group_code", "group_name", "bucket_start", "bucket_end"]), rows)
            }
        };
        if skip > rows.len() {
            return Err(Error::invalid("cursor", "not a cursor of this export request"));
        }
        let max = if r.max_chunk_bytes == 0 { 65_536 } else { r.max_chunk_bytes as usize };
        let mut chunks = Vec::new();
        let mut data = if skip == 0 { line(&header) } else { String::new() };
        let mut count = 0;
        for (i, row) in rows.iter().enumerate().skip(skip) {
            data.push_str(&line(row));
            count += 1;
            if data.len() >= max && i + 1 < rows.len() {
                chunks.push(chunk(std::mem::take(&mut data), count, encode_token(&(i + 1).to_string(), fp), false));
                count = 0;
            }
        }
        chunks.push(chunk(data, count, encode_token(&rows.len().to_string(), fp), true));
        chunks[0].columns = header;
        Ok(chunks)
    }
}

const TICKET_COLUMNS: [&str; 20] = [
    "ticket_id", "site_id", "region_path", "category_id", "dimension", "perspective", "priority", "origin_kind",
    "report_id", "state", "create_time", "first_acknowledge_time", "resolve_time", "time_to_acknowledge_s",
    "time_to_resolve_s", "resolved_within_sla", "reopen_count", "assignment_count", "rating", "fixed",
];

/// An enum value's name without its type prefix; empty when unspecified or unknown.
fn enum_name<E: TryFrom<i32>>(value: i32, prefix: &str, name: impl Fn(&E) -> &'static str) -> String {
    E::try_from(value)
        .ok()
        .map(|e| name(&e).trim_start_matches(prefix).to_owned())
        .filter(|n| n != "UNSPECIFIED")
        .unwrap_or_default()
}

fn ticket_fields(t: &ticket::Model, rating: Option<&ticket_rating::Model>, tz: Tz) -> Vec<String> {
    let time = |us: Option<i64>| us.map(|u| local_time(u, tz)).unwrap_or_default();
    let secs = |us: Option<i64>| seconds(us.map(|u| u as f64 / 1e6));
    let [dimension, perspective] = axes(t.dimension, t.perspective);
    vec![
        t.id.clone(),
        t.site_id.clone(),
        crate::convert::path_ids(&t.region_path).join("/"),
        t.category_id.clone(),
        dimension,
        perspective,
        enum_name(t.priority, "PRIORITY_", Priority::as_str_name),
        enum_name(t.origin_kind, "TICKET_ORIGIN_KIND_", TicketOriginKind::as_str_name),
        t.report_id.clone(),
        enum_name(t.state, "TICKET_STATE_", TicketState::as_str_name),
        local_time(t.create_us, tz),
        time(t.first_acknowledge_us),
        time(t.resolve_us),
        secs(t.time_to_acknowledge_us),
        secs(t.time_to_resolve_us),
        t.resolved_within_sla.map(|b| b.to_string()).unwrap_or_default(),
        t.reopen_count.to_string(),
        t.assignment_count.to_string(),
        rating.map(|r| r.rating.to_string()).unwrap_or_default(),
        rating.map(|r| enum_name(r.fixed, "FIXED_ANSWER_", FixedAnswer::as_str_name)).unwrap_or_default(),
    ]
}

fn chunk(data: String, rows: i64, cursor: String, last: bool) -> ExportChunk {
    ExportChunk { data: data.into_bytes(), cursor, row_count: rows, last, columns: Vec::new() }
}

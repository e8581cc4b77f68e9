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
use flywheel_runtime::{Result, Violations};

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
        let after = decode_token(&r.cursor, fp).unwrap_or_else(|_| {
            v.add("cursor", "not a cursor of this export request");
            None
        });
        let (Grouped { query: q, buckets: b, group_by }, dataset) = finish(v, g.zip(dataset))?;
        let (header, mut rows) = match dataset {
            pb::ExportDataset::ScenarioMatrix => {
                let rollup = self.rollup(&q, GroupBy::Cell, &[]).await?;
                let rows = matrix_cells()
                    .into_iter()
                    .map(|(d, p)| {
                        let k = rollup.groups.get(&cell_id(d, p)).map(|g| g.kpis()).unwrap_or_else(|| Facts::default().kpis(0));
                        (cell_id(d, p), with_kpis(axes(d, p).to_vec(), &k))
                    })
                    .collect();
                (columns(&["dimension", "perspective"]), rows)
            }
            pb::ExportDataset::Tickets => {
                let tickets = crate::store::tickets::opened_in(&self.db, &q.filter, q.span).await?;
                let rows = tickets
                    .iter()
                    .map(|(t, rating)| (format!("{}\u{1f}{}", ordered(t.create_us), t.id), ticket_fields(t, rating.as_ref(), q.tz)))
                    .collect();
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
                        (e.site_id.clone(), with_kpis(f, k))
                    })
                    .collect();
                (columns(&["rank", "site_id", "site_code", "site_name", "region_path", "flagship", "volume", "score"]), rows)
            }
            _ => {
                let rollup = self.rollup(&q, group_by, &b).await?;
                let whole = [q.span];
                let spans = if b.is_empty() { &whole[..] } else { &b[..] };
                let mut rows = Vec::new();
                for g in rollup.groups.values() {
                    let key = rollup.directory.key(group_by, &g.id);
                    let kpis = if b.is_empty() { vec![g.kpis()] } else { g.bucket_kpis() };
                    for (span, k) in spans.iter().zip(kpis) {
                        let mut f = vec![key.id.clone(), key.code.clone(), key.name.clone()];
                        f.extend([local_time(span.start_us, q.tz), local_time(span.end_us, q.tz)]);
                        rows.push((format!("{}\u{1f}{}", g.id, ordered(span.start_us)), with_kpis(f, &k)));
                    }
                }
                (columns(&["group_id", "group_code", "group_name", "bucket_start", "bucket_end"]), rows)
            }
        };
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let max = if r.max_chunk_bytes == 0 { 65_536 } else { r.max_chunk_bytes as usize };
        Ok(chunks(header, &rows, after, max, fp))
    }
}

/// An instant as a string that sorts like the number.
fn ordered(us: i64) -> String {
    format!("{:020}", (us as u64) ^ (1 << 63))
}

/// Splits rows (sorted by key) into chunks of about `max` bytes, starting after the row with
/// key `after`; each chunk's cursor is the key of its last row.
fn chunks(header: Vec<String>, rows: &[(String, Vec<String>)], after: Option<String>, max: usize, fp: u64) -> Vec<ExportChunk> {
    let start = after.as_ref().map(|k| rows.partition_point(|(key, _)| key <= k)).unwrap_or(0);
    let mut out = Vec::new();
    let mut data = if after.is_none() { line(&header) } else { String::new() };
    let mut count = 0;
    let mut cursor = after.unwrap_or_default();
    for (i, (key, row)) in rows.iter().enumerate().skip(start) {
        data.push_str(&line(row));
        count += 1;
        cursor.clone_from(key);
        if data.len() >= max && i + 1 < rows.len() {
            out.push(chunk(std::mem::take(&mut data), count, encode_token(&cursor, fp), false));
            count = 0;
        }
    }
    // An empty key cannot be a token; the start stands for "before every row".
    let last = if cursor.is_empty() { String::new() } else { encode_token(&cursor, fp) };
    out.push(chunk(data, count, last, true));
    out[0].columns = header;
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(keys: &[&str]) -> Vec<(String, Vec<String>)> {
        keys.iter().map(|k| (k.to_string(), vec![k.repeat(400)])).collect()
    }

    fn text(chunks: &[ExportChunk]) -> String {
        chunks.iter().map(|c| String::from_utf8(c.data.clone()).unwrap()).collect()
    }

    #[test]
    fn resuming_after_any_chunk_continues_after_its_last_row() {
        let header = vec!["value".to_owned()];
        let all = rows(&["a", "b", "c", "d", "e"]);
        let whole = chunks(header.clone(), &all, None, 800, 7);
        assert_eq!(whole.len(), 3, "every two rows of 402 bytes reach 800");
        assert_eq!(whole.iter().map(|c| c.row_count).sum::<i64>(), 5);
        for (i, chunk) in whole.iter().enumerate() {
            let cursor = decode_token(&chunk.cursor, 7).unwrap();
            let rest = chunks(header.clone(), &all, cursor, 800, 7);
            assert_eq!(text(&whole[..=i]) + &text(&rest), text(&whole), "after chunk {i}");
        }
        // A row that appears before the cursor later does not shift what follows it.
        let cursor = decode_token(&whole[0].cursor, 7).unwrap();
        let grown = rows(&["0", "a", "b", "c", "d", "e"]);
        assert_eq!(text(&chunks(header, &grown, cursor, 800, 7)), text(&whole[1..]));
    }

    #[test]
    fn instants_sort_as_strings_like_numbers() {
        let mut xs = [5_i64, -3, 0, i64::MIN, i64::MAX, -1_000_000];
        let mut keys: Vec<String> = xs.iter().map(|x| ordered(*x)).collect();
        xs.sort();
        keys.sort();
        assert_eq!(keys, xs.iter().map(|x| ordered(*x)).collect::<Vec<_>>());
    }

    #[test]
    fn fields_are_quoted_only_when_they_must_be() {
        let cases = [("plain", "plain"), ("a,b", "\"a,b\""), ("say \"hi\"", "\"say \"\"hi\"\"\""), ("two\nlines", "\"two\nlines\"")];
        for (input, want) in cases {
            assert_eq!(field(input), want);
        }
    }
}

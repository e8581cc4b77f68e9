//! GetKpis, GetScenarioMatrix and GetTrends.

use super::rollup::{Group, GroupBy, cell_id};
use super::{Analytics, Grouped, bucket_of, buckets, finish, grouped, known, query};
use crate::convert::{self, time_range, timestamp};
use crate::domain::kpi::{Facts, Kpis};
use crate::domain::time::Span;
use flywheel_proto::flywheel::analytics::v1 as pb;
use flywheel_proto::flywheel::common::v1::ScenarioCell;
use flywheel_runtime::pagination::{decode_token, encode_token, fingerprint, page_size};
use flywheel_runtime::{Error, Result, Violations};

/// The page of groups after `token` (an offset bound to the request's other fields).
pub(super) fn page<T: Clone>(items: &[T], size: i32, token: &str, request: &impl std::fmt::Debug) -> Result<(Vec<T>, String)> {
    let size = page_size(size)? as usize;
    let fp = fingerprint(&[&format!("{request:?}")]);
    let bad = || Error::invalid("page_token", "not a token from this query");
    let start = match decode_token(token, fp)? {
        None => 0,
        Some(k) => k.parse::<usize>().ok().filter(|s| *s <= items.len()).ok_or_else(bad)?,
    };
    let end = (start + size).min(items.len());
    let next = if end < items.len() { encode_token(&end.to_string(), fp) } else { String::new() };
    Ok((items[start..end].to_vec(), next))
}

fn kpi_buckets(buckets: &[Span], group: &Group) -> Vec<pb::KpiBucket> {
    buckets
        .iter()
        .zip(group.bucket_kpis())
        .map(|(b, k)| pb::KpiBucket {
            start_time: Some(timestamp(b.start_us)),
            end_time: Some(timestamp(b.end_us)),
            kpis: Some(convert::kpis(&k)),
        })
        .collect()
}

/// The dimension-major order of the nine cells.
pub fn matrix_cells() -> Vec<(i32, i32)> {
    (1..=3).flat_map(|d| (1..=3).map(move |p| (d, p))).collect()
}

/// A trend metric's value from KPIs.
pub fn metric_value(metric: pb::TrendMetric, k: &Kpis) -> Option<f64> {
    use pb::TrendMetric as M;
    let c = &k.counters;
    let count = |n: i64| Some(n as f64);
    match metric {
        M::Unspecified => None,
        M::ReportsReceived => count(c.reports_received),
        M::TicketsOpened => count(c.tickets_opened),
        M::TicketsResolved => count(c.tickets_resolved),
        M::TicketsClosed => count(c.tickets_closed),
        M::Backlog => count(k.backlog),
        M::TimeToAcknowledgeMeanSeconds => k.acknowledge.1.map(|s| s.mean_s),
        M::TimeToAcknowledgeP50Seconds => k.acknowledge.1.map(|s| s.p50_s),
        M::TimeToAcknowledgeP90Seconds => k.acknowledge.1.map(|s| s.p90_s),
        M::TimeToResolveMeanSeconds => k.resolve.1.map(|s| s.mean_s),
        M::TimeToResolveP50Seconds => k.resolve.1.map(|s| s.p50_s),
        M::TimeToResolveP90Seconds => k.resolve.1.map(|s| s.p90_s),
        M::SlaComplianceRatio => k.sla_compliance_ratio,
        M::SlaBreaches => count(k.sla_breaches()),
        M::ReopenRate => k.reopen_rate,
        M::FirstAssignmentResolutionRate => k.first_assignment_resolution_rate,
        M::CsatMean => k.csat_mean,
        M::FixedShare => k.fixed_share,
        M::SupportsCount => count(c.supports),
        M::PraiseReceived => count(c.praise_received),
    }
}

impl Analytics {
    pub async fn get_kpis(&self, r: pb::GetKpisRequest) -> Result<pb::GetKpisResponse> {
        let mut v = Violations::new();
        let g = grouped(&mut v, r.filter.as_ref(), r.time_range.as_ref(), &r.time_zone, self.settings.time_zone, r.granularity, r.group_by);
        let Grouped { query: q, buckets: b, group_by } = finish(v, g)?;
        let rollup = self.rollup(&q, group_by, &b).await?;
        let directory = &rollup.directory;
        let mut request = r.clone();
        request.page_size = 0;
        request.page_token.clear();
        let (groups, next_page_token) = page(&rollup.ranked_groups(), r.page_size, &r.page_token, &request)?;
        Ok(pb::GetKpisResponse {
            groups: groups
                .into_iter()
                .map(|g| pb::KpiGroup {
                    key: Some(directory.key(group_by, &g.id)),
                    total: Some(convert::kpis(&g.kpis())),
                    buckets: kpi_buckets(&rollup.buckets, g),
                })
                .collect(),
            total: Some(convert::kpis(&rollup.total.kpis())),
            effective_range: Some(time_range(q.span)),
            time_zone: q.tz.name().to_owned(),
            as_of_time: self.as_of().await?,
            next_page_token,
        })
    }

    pub async fn get_scenario_matrix(&self, r: pb::GetScenarioMatrixRequest) -> Result<pb::GetScenarioMatrixResponse> {
        let mut v = Violations::new();
        let mut filter = r.filter.clone().unwrap_or_default();
        filter.cells.clear();
        let q = query(&mut v, Some(&filter), r.time_range.as_ref(), &r.time_zone, self.settings.time_zone);
        let q = finish(v, q)?;
        let rollup = self.rollup(&q, GroupBy::Cell, &[]).await?;
        let cells = matrix_cells()
            .into_iter()
            .map(|(d, p)| {
                let k = rollup.groups.get(&cell_id(d, p)).map(Group::kpis).unwrap_or_else(|| Facts::default().kpis(0));
                pb::ScenarioMatrixCell {
                    cell: Some(ScenarioCell { dimension: d, perspective: p }),
                    volume: k.counters.tickets_opened,
                    sla_compliance_ratio: k.sla_compliance_ratio,
                    csat_mean: k.csat_mean,
                    kpis: Some(convert::kpis(&k)),
                }
            })
            .collect();
        Ok(pb::GetScenarioMatrixResponse {
            cells,
            total: Some(convert::kpis(&rollup.total.kpis())),
            effective_range: Some(time_range(q.span)),
            as_of_time: self.as_of().await?,
        })
    }

    pub async fn get_trends(&self, r: pb::GetTrendsRequest) -> Result<pb::GetTrendsResponse> {
        let mut v = Violations::new();
        let q = query(&mut v, r.filter.as_ref(), r.time_range.as_ref(), &r.time_zone, self.settings.time_zone);
        let granularity = known::<pb::Granularity>(&mut v, "granularity", r.granularity).and_then(bucket_of);
        v.check(granularity.is_some(), "granularity", "required");
        let group_by = known::<pb::GroupBy>(&mut v, "group_by", r.group_by);
        v.check(!r.metrics.is_empty(), "metrics", "at least one metric is required");
        v.check(r.metrics.len() <= 10, "metrics", "at most 10 metrics");
        let mut metrics = Vec::new();
        for (i, m) in r.metrics.iter().enumerate() {
            let field = format!("metrics[{i}]");
            match known::<pb::TrendMetric>(&mut v, &field, *m) {
                Some(pb::TrendMetric::Unspecified) => v.add(field, "must be set"),
                Some(m) if metrics.contains(&m) => v.add(field, "duplicate metric"),
                Some(m) => metrics.push(m),
                None => {}
            }
        }
        v.check((0..=50).contains(&r.max_groups), "max_groups", "must be within 1..50");
        let b = buckets(&mut v, q.as_ref(), granularity);
        let (q, group_by) = finish(v, q.zip(group_by))?;
        let group_by = GroupBy::from_proto(group_by);
        let rollup = self.rollup(&q, group_by, &b).await?;
        let previous_query = super::Query { span: q.span.previous(), ..q.clone() };
        let previous = self.rollup(&previous_query, group_by, &[]).await?;
        let directory = &rollup.directory;
        let max_groups = if r.max_groups == 0 { 10 } else { r.max_groups as usize };
        let groups: Vec<&Group> = rollup.ranked_groups().into_iter().take(max_groups).collect();
        let mut series = Vec::new();
        for metric in metrics {
            for g in &groups {
                let points = rollup
                    .buckets
                    .iter()
                    .zip(g.bucket_kpis())
                    .map(|(b, k)| pb::TrendPoint {
                        start_time: Some(timestamp(b.start_us)),
                        end_time: Some(timestamp(b.end_us)),
                        value: metric_value(metric, &k),
                    })
                    .collect();
                let total = metric_value(metric, &g.kpis());
                let previous_total = previous.groups.get(&g.id).and_then(|p| metric_value(metric, &p.kpis()));
                series.push(pb::TrendSeries {
                    metric: metric as i32,
                    key: Some(directory.key(group_by, &g.id)),
                    points,
                    total,
                    previous_total,
                    change: total.zip(previous_total).map(|(t, p)| t - p),
                });
            }
        }
        Ok(pb::GetTrendsResponse {
            series,
            effective_range: Some(time_range(q.span)),
            time_zone: q.tz.name().to_owned(),
            as_of_time: self.as_of().await?,
        })
    }
}

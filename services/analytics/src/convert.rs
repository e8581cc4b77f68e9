//! Between protobuf and the domain: instants, durations, region paths and KPIs.

use crate::domain::kpi::{DurationSummary, Kpis};
use flywheel_proto::flywheel::analytics::v1 as pb;

pub fn timestamp_us(t: &prost_types::Timestamp) -> i64 {
    t.seconds.saturating_mul(1_000_000).saturating_add(i64::from(t.nanos) / 1000)
}

pub fn timestamp(us: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: us.div_euclid(1_000_000), nanos: (us.rem_euclid(1_000_000) * 1000) as i32 }
}

pub fn duration_us(d: &prost_types::Duration) -> i64 {
    d.seconds.saturating_mul(1_000_000).saturating_add(i64::from(d.nanos) / 1000)
}

fn duration_s(seconds: f64) -> prost_types::Duration {
    let us = (seconds * 1e6).round() as i64;
    prost_types::Duration { seconds: us.div_euclid(1_000_000), nanos: (us.rem_euclid(1_000_000) * 1000) as i32 }
}

/// A region path as stored: `/root/.../leaf/`, so `LIKE '%/id/%'` matches a subtree.
pub fn path_key(ids: &[String]) -> String {
    if ids.is_empty() { "/".to_owned() } else { format!("/{}/", ids.join("/")) }
}

/// The ids of a stored region path, root first.
pub fn path_ids(key: &str) -> Vec<String> {
    key.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn duration_stats(count: i64, summary: Option<DurationSummary>) -> pb::DurationStats {
    pb::DurationStats {
        count,
        mean: summary.map(|s| duration_s(s.mean_s)),
        p50: summary.map(|s| duration_s(s.p50_s)),
        p90: summary.map(|s| duration_s(s.p90_s)),
    }
}

pub fn kpis(k: &Kpis) -> pb::Kpis {
    let c = &k.counters;
    pb::Kpis {
        reports_received: c.reports_received,
        praise_received: c.praise_received,
        tickets_opened: c.tickets_opened,
        tickets_resolved: c.tickets_resolved,
        tickets_closed: c.tickets_closed,
        tickets_cancelled: c.tickets_cancelled,
        tickets_reopened: c.tickets_reopened,
        backlog: k.backlog,
        time_to_acknowledge: Some(duration_stats(k.acknowledge.0, k.acknowledge.1)),
        time_to_resolve: Some(duration_stats(k.resolve.0, k.resolve.1)),
        sla_compliance_ratio: k.sla_compliance_ratio,
        sla_breaches: k.sla_breaches(),
        acknowledge_breaches: c.acknowledge_breaches,
        resolve_breaches: c.resolve_breaches,
        escalations: c.escalations,
        reopen_rate: k.reopen_rate,
        first_assignment_resolution_rate: k.first_assignment_resolution_rate,
        ratings_count: c.ratings_count,
        csat_mean: k.csat_mean,
        fixed_share: k.fixed_share,
        supports_count: c.supports,
    }
}

pub fn time_range(span: crate::domain::time::Span) -> pb::TimeRange {
    pb::TimeRange { start_time: Some(timestamp(span.start_us)), end_time: Some(timestamp(span.end_us)) }
}

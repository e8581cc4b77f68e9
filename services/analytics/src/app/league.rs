//! GetSiteLeague: sites ranked by a metric, with a minimum volume.

use super::kpis::page;
use super::rollup::GroupBy;
use super::{Analytics, finish, known, query};
use crate::convert::{self, path_ids, time_range};
use crate::domain::kpi::Kpis;
use crate::domain::score::{self, Candidate, LeagueMetric};
use flywheel_proto::flywheel::analytics::v1 as pb;
use flywheel_runtime::{Result, Violations};

pub fn league_metric(m: pb::LeagueMetric) -> LeagueMetric {
    match m {
        pb::LeagueMetric::Unspecified | pb::LeagueMetric::Composite => LeagueMetric::Composite,
        pb::LeagueMetric::SlaCompliance => LeagueMetric::SlaCompliance,
        pb::LeagueMetric::Csat => LeagueMetric::Csat,
        pb::LeagueMetric::TimeToResolveP90 => LeagueMetric::TimeToResolveP90,
        pb::LeagueMetric::ReopenRate => LeagueMetric::ReopenRate,
        pb::LeagueMetric::FirstAssignmentResolution => LeagueMetric::FirstAssignmentResolution,
    }
}

/// The whole league, every entry, ranked ones first.
pub struct League {
    pub entries: Vec<pb::SiteLeagueEntry>,
    /// The KPIs of each entry, in the same order.
    pub kpis: Vec<Kpis>,
    pub ranked_count: i32,
    pub unranked_count: i32,
    pub min_volume: i64,
    pub rank_by: pb::LeagueMetric,
    pub query: super::Query,
}

impl Analytics {
    /// Validates a league request's fields and computes the full league.
    pub async fn league(
        &self,
        filter: Option<&pb::KpiFilter>,
        range: Option<&pb::TimeRange>,
        zone: &str,
        rank_by: i32,
        min_volume: i64,
    ) -> Result<League> {
        let mut v = Violations::new();
        let q = query(&mut v, filter, range, zone, self.settings.time_zone);
        let rank_by = known::<pb::LeagueMetric>(&mut v, "rank_by", rank_by);
        v.check(min_volume >= 0, "min_volume", "must not be negative");
        let (q, rank_by) = finish(v, q.zip(rank_by))?;
        let rank_by = if rank_by == pb::LeagueMetric::Unspecified { pb::LeagueMetric::Composite } else { rank_by };
        let metric = league_metric(rank_by);
        let min_volume = if min_volume == 0 { self.settings.league_min_volume } else { min_volume };
        let rollup = self.rollup(&q, GroupBy::Site, &[]).await?;
        let directory = &rollup.directory;
        let groups: Vec<_> = rollup.groups.values().collect();
        let kpis: Vec<_> = groups.iter().map(|g| g.kpis()).collect();
        let candidates: Vec<Candidate> = groups
            .iter()
            .zip(&kpis)
            .map(|(g, k)| Candidate {
                code: directory.sites.get(&g.id).map(|s| s.code.clone()).unwrap_or_else(|| g.id.clone()),
                volume: k.counters.tickets_resolved,
                score: metric.score(k),
                ranked: metric.qualifies(k, min_volume),
            })
            .collect();
        let order = score::rank(metric, &candidates);
        let entries: Vec<pb::SiteLeagueEntry> = order
            .iter()
            .map(|&(i, rank)| {
                let site = directory.sites.get(&groups[i].id);
                pb::SiteLeagueEntry {
                    rank,
                    site_id: groups[i].id.clone(),
                    site_code: candidates[i].code.clone(),
                    site_name: site.map(|s| s.name.clone()).unwrap_or_default(),
                    region_path: site.map(|s| path_ids(&s.region_path)).unwrap_or_default(),
                    flagship: site.is_some_and(|s| s.flagship),
                    volume: candidates[i].volume,
                    score: candidates[i].score,
                    ranked: candidates[i].ranked,
                    kpis: Some(convert::kpis(&kpis[i])),
                }
            })
            .collect();
        let ranked_count = candidates.iter().filter(|c| c.ranked).count() as i32;
        Ok(League {
            unranked_count: candidates.len() as i32 - ranked_count,
            ranked_count,
            kpis: order.iter().map(|&(i, _)| kpis[i].clone()).collect(),
            entries,
            min_volume,
            rank_by,
            query: q,
        })
    }

    pub async fn get_site_league(&self, r: pb::GetSiteLeagueRequest) -> Result<pb::GetSiteLeagueResponse> {
        let league = self.league(r.filter.as_ref(), r.time_range.as_ref(), &r.time_zone, r.rank_by, r.min_volume).await?;
        let listed: Vec<_> = league.entries.into_iter().filter(|e| e.ranked || r.include_unranked).collect();
        let mut request = r.clone();
        request.page_size = 0;
        request.page_token.clear();
        let (entries, next_page_token) = page(&listed, r.page_size, &r.page_token, &request)?;
        Ok(pb::GetSiteLeagueResponse {
            entries,
            ranked_count: league.ranked_count,
            unranked_count: league.unranked_count,
            min_volume: league.min_volume,
            rank_by: league.rank_by as i32,
            effective_range: Some(time_range(league.query.span)),
            as_of_time: self.as_of().await?,
            next_page_token,
        })
    }
}

//! GetFlywheelIndicators: managed-site density per district and its growth, the reach around
//! each flagship, and the happiness index.

use super::rollup::GroupBy;
use super::{Analytics, Directory, Query, bucket_of, buckets, finish, known, not_found_region, query};
use crate::convert::{time_range, timestamp};
use crate::domain::geo::distance_km;
use crate::domain::kpi::{Facts, Kpis};
use crate::domain::score;
use crate::domain::time::Bucket;
use crate::store::entities::site;
use flywheel_proto::flywheel::analytics::v1 as pb;
use flywheel_proto::flywheel::common::v1::GeoPoint;
use flywheel_proto::flywheel::registry::v1::RegionKind;
use flywheel_runtime::{Result, Violations};

pub const DEFAULT_REACH_KM: f64 = 3.0;

fn active_at(s: &site::Model, t: i64) -> bool {
    s.registered_us < t && s.retired_us.is_none_or(|r| r >= t)
}

fn in_region(path: &str, region_id: &str) -> bool {
    region_id.is_empty() || path.contains(&format!("/{region_id}/"))
}

pub fn happiness(k: &Kpis) -> pb::HappinessIndex {
    pb::HappinessIndex {
        value: score::happiness(k),
        csat_mean: k.csat_mean,
        fixed_share: k.fixed_share,
        sla_compliance_ratio: k.sla_compliance_ratio,
        reopen_rate: k.reopen_rate,
        praise_share: k.praise_share,
        ratings_count: k.counters.ratings_count,
    }
}

impl Analytics {
    pub async fn get_flywheel_indicators(&self, r: pb::GetFlywheelIndicatorsRequest) -> Result<pb::GetFlywheelIndicatorsResponse> {
        let mut v = Violations::new();
        let q = query(&mut v, None, r.time_range.as_ref(), &r.time_zone, self.settings.time_zone);
        let granularity = known::<pb::Granularity>(&mut v, "granularity", r.granularity);
        let bucket = granularity.and_then(bucket_of).unwrap_or(Bucket::Month);
        let radius = if r.reach_radius_km == 0.0 { DEFAULT_REACH_KM } else { r.reach_radius_km };
        v.check((0.1..=50.0).contains(&radius), "reach_radius_km", "must be within 0.1..50 (0 for the default, 3)");
        let b = buckets(&mut v, q.as_ref(), Some(bucket));
        let q = finish(v, q)?;
        let dir = Directory::load(&self.db).await?;
        if !r.region_id.is_empty() && !dir.regions.contains_key(&r.region_id) {
            return Err(not_found_region(&r.region_id));
        }
        let scoped = Query {
            filter: crate::store::Filter {
                region_ids: if r.region_id.is_empty() { Vec::new() } else { vec![r.region_id.clone()] },
                ..Default::default()
            },
            ..q.clone()
        };
        let by_district = self.rollup(&scoped, GroupBy::District, &[]).await?;
        let by_site = self.rollup(&scoped, GroupBy::Site, &[]).await?;
        let (start, end) = (q.span.start_us, q.span.end_us);

        let mut overall = Facts::default();
        let mut districts: Vec<pb::DistrictIndicators> = Vec::new();
        for d in dir.regions.values().filter(|d| d.kind == RegionKind::District as i32 && in_region(&d.path, &r.region_id)) {
            let sites: Vec<&site::Model> = dir.sites.values().filter(|s| in_region(&s.region_path, &d.id)).collect();
            let count = |t: i64, flagship: bool| sites.iter().filter(|s| active_at(s, t) && (!flagship || s.flagship)).count() as i32;
            let (managed, at_start) = (count(end, false), count(start, false));
            let facts = by_district.groups.get(&d.id).map(|g| g.total.clone()).unwrap_or_default();
            overall.merge(&facts);
            districts.push(pb::DistrictIndicators {
                region_id: d.id.clone(),
                code: d.code.clone(),
                name: d.name.clone(),
                managed_sites: managed,
                flagship_sites: count(end, true),
                managed_sites_at_start: at_start,
                sites_registered: sites.iter().filter(|s| start <= s.registered_us && s.registered_us < end).count() as i32,
                sites_retired: sites.iter().filter(|s| s.retired_us.is_some_and(|t| start <= t && t < end)).count() as i32,
                growth_ratio: (at_start > 0).then(|| f64::from(managed - at_start) / f64::from(at_start)),
                density_series: b
                    .iter()
                    .map(|bucket| pb::DensityPoint { start_time: Some(timestamp(bucket.start_us)), managed_sites: count(bucket.end_us, false) })
                    .collect(),
                tickets_opened: facts.counters.tickets_opened,
                happiness: Some(happiness(&facts.kpis(0))),
            });
        }
        districts.sort_by(|a, b| b.managed_sites.cmp(&a.managed_sites).then_with(|| a.code.cmp(&b.code)));

        let mut flagships = Vec::new();
        for f in dir.sites.values().filter(|s| s.flagship && active_at(s, end) && in_region(&s.region_path, &r.region_id)) {
            let near = |t: i64| {
                let mut within: Vec<(f64, &site::Model)> = dir
                    .sites
                    .values()
                    .filter(|s| s.id != f.id && active_at(s, t))
                    .map(|s| (distance_km(f.lat, f.lng, s.lat, s.lng), s))
                    .filter(|(km, _)| *km <= radius)
                    .collect();
                within.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.code.cmp(&b.1.code)));
                within
            };
            let within = near(end);
            let mut facts = Facts::default();
            for id in std::iter::once(&f.id).chain(within.iter().map(|(_, s)| &s.id)) {
                if let Some(g) = by_site.groups.get(id) {
                    facts.merge(&g.total);
                }
            }
            let k = facts.kpis(0);
            let district = crate::convert::path_ids(&f.region_path)
                .into_iter()
                .find(|id| dir.regions.get(id).is_some_and(|r| r.kind == RegionKind::District as i32))
                .unwrap_or_default();
            flagships.push(pb::FlagshipReach {
                site_id: f.id.clone(),
                site_code: f.code.clone(),
                site_name: f.name.clone(),
                location: Some(GeoPoint { lat: f.lat, lng: f.lng }),
                district_region_id: district,
                radius_km: radius,
                sites_within: within.len() as i32,
                sites_within_at_start: near(start).len() as i32,
                site_ids_within: within.iter().take(500).map(|(_, s)| s.id.clone()).collect(),
                tickets_within: k.counters.tickets_opened,
                reports_within: k.counters.reports_received,
                sla_compliance_ratio: k.sla_compliance_ratio,
                csat_mean: k.csat_mean,
            });
        }
        flagships.sort_by(|a, b| b.sites_within.cmp(&a.sites_within).then_with(|| a.site_code.cmp(&b.site_code)));

        Ok(pb::GetFlywheelIndicatorsResponse {
            districts,
            flagships,
            overall_happiness: Some(happiness(&overall.kpis(0))),
            effective_range: Some(time_range(q.span)),
            as_of_time: self.as_of().await?,
        })
    }
}

//! Scores built from KPIs: the league's composite, the happiness index, and league ranking with
//! a minimum-volume rule.

use super::kpi::Kpis;

/// Weighted mean of the components that have a value, the weights rescaled to sum to 1;
/// `None` when no component has one. Components are 0..1; the result is 0..100.
fn weighted(components: &[(f64, Option<f64>)]) -> Option<f64> {
    let present: Vec<(f64, f64)> = components.iter().filter_map(|(w, v)| v.map(|v| (*w, v))).collect();
    let total: f64 = present.iter().map(|(w, _)| w).sum();
    (total > 0.0).then(|| 100.0 * present.iter().map(|(w, v)| w * v).sum::<f64>() / total)
}

fn csat_unit(csat: Option<f64>) -> Option<f64> {
    csat.map(|c| (c - 1.0) / 4.0)
}

/// 100 x (0.5 sla + 0.3 (csat - 1)/4 + 0.2 (1 - reopen)).
pub fn composite(k: &Kpis) -> Option<f64> {
    weighted(&[
        (0.5, k.sla_compliance_ratio),
        (0.3, csat_unit(k.csat_mean)),
        (0.2, k.reopen_rate.map(|r| 1.0 - r)),
    ])
}

/// 100 x (0.4 (csat - 1)/4 + 0.2 fixed + 0.2 sla + 0.1 (1 - reopen) + 0.1 praise share).
pub fn happiness(k: &Kpis) -> Option<f64> {
    weighted(&[
        (0.4, csat_unit(k.csat_mean)),
        (0.2, k.fixed_share),
        (0.2, k.sla_compliance_ratio),
        (0.1, k.reopen_rate.map(|r| 1.0 - r)),
        (0.1, k.praise_share),
    ])
}

/// What a league ranks by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeagueMetric {
    Composite,
    SlaCompliance,
    Csat,
    TimeToResolveP90,
    ReopenRate,
    FirstAssignmentResolution,
}

impl LeagueMetric {
    pub fn score(self, k: &Kpis) -> Option<f64> {
        match self {
            Self::Composite => composite(k),
            Self::SlaCompliance => k.sla_compliance_ratio,
            Self::Csat => k.csat_mean,
            Self::TimeToResolveP90 => k.resolve.1.map(|s| s.p90_s),
            Self::ReopenRate => k.reopen_rate,
            Self::FirstAssignmentResolution => k.first_assignment_resolution_rate,
        }
    }

    fn lower_is_better(self) -> bool {
        matches!(self, Self::TimeToResolveP90 | Self::ReopenRate)
    }

    /// Whether a site has enough volume to be ranked.
    pub fn qualifies(self, k: &Kpis, min_volume: i64) -> bool {
        k.counters.tickets_resolved >= min_volume
            && (self != Self::Csat || k.counters.ratings_count >= min_volume)
    }
}

/// One site's candidacy for the league.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub code: String,
    pub volume: i64,
    pub score: Option<f64>,
    pub ranked: bool,
}

/// Orders candidates (ranked best first, ties by volume then code; then unranked by volume)
/// and gives each its rank: ties share a rank (1, 2, 2, 4); unranked sites get 0. Returns the
/// permutation and the ranks. A qualifying site without a score sorts after those with one.
pub fn rank(metric: LeagueMetric, candidates: &[Candidate]) -> Vec<(usize, i32)> {
    let key = |c: &Candidate| {
        c.score.map(|s| if metric.lower_is_better() { s } else { -s }).unwrap_or(f64::INFINITY)
    };
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&candidates[a], &candidates[b]);
        y.ranked
            .cmp(&x.ranked)
            .then_with(|| if x.ranked { key(x).total_cmp(&key(y)) } else { std::cmp::Ordering::Equal })
            .then_with(|| y.volume.cmp(&x.volume))
            .then_with(|| x.code.cmp(&y.code))
    });
    let mut out = Vec::with_capacity(order.len());
    let mut previous: Option<(f64, i32)> = None;
    for (position, &i) in order.iter().enumerate() {
        let c = &candidates[i];
        if !c.ranked {
            out.push((i, 0));
            continue;
        }
        let k = key(c);
        let rank = match previous {
            Some((pk, pr)) if pk == k => pr,
            _ => position as i32 + 1,
        };
        previous = Some((k, rank));
        out.push((i, rank));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::kpi::Facts;

    fn kpis(f: impl FnOnce(&mut Facts)) -> Kpis {
        let mut x = Facts::default();
        f(&mut x);
        x.kpis(0)
    }

    #[test]
    fn composite_and_happiness_rescale_missing_components() {
        let cases: [(&str, Kpis, Option<f64>, Option<f64>); 3] = [
            ("nothing known", kpis(|_| {}), None, None),
            (
                "only SLA: 3 of 4 in time, none reopened",
                kpis(|f| {
                    f.counters.tickets_resolved = 4;
                    f.counters.resolved_within_sla = 3;
                }),
                // (0.5 x 0.75 + 0.2 x 1) / 0.7
                Some(100.0 * (0.5 * 0.75 + 0.2) / 0.7),
                // (0.2 x 0.75 + 0.1 x 1) / 0.3
                Some(100.0 * (0.2 * 0.75 + 0.1) / 0.3),
            ),
            (
                "everything perfect",
                kpis(|f| {
                    f.counters.tickets_resolved = 2;
                    f.counters.resolved_within_sla = 2;
                    f.counters.ratings_count = 2;
                    f.counters.rating_sum = 10;
                    f.counters.fixed_yes = 2;
                    f.counters.praise_received = 1;
                }),
                Some(100.0),
                Some(100.0),
            ),
        ];
        for (name, k, want_composite, want_happiness) in cases {
            let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) => (a - b).abs() < 1e-9,
                (a, b) => a == b,
            };
            assert!(close(composite(&k), want_composite), "{name}: composite {:?}", composite(&k));
            assert!(close(happiness(&k), want_happiness), "{name}: happiness {:?}", happiness(&k));
        }
    }

    fn candidate(code: &str, volume: i64, score: Option<f64>, ranked: bool) -> Candidate {
        Candidate { code: code.into(), volume, score, ranked }
    }

    #[test]
    fn ties_share_a_rank_and_small_samples_are_not_ranked() {
        let candidates = [
            candidate("a", 30, Some(0.8), true),
            candidate("b", 40, Some(0.9), true),
            candidate("c", 25, Some(0.8), true),
            candidate("tiny", 2, Some(1.0), false),
            candidate("d", 50, Some(0.5), true),
        ];
        let got: Vec<(&str, i32)> = rank(LeagueMetric::SlaCompliance, &candidates)
            .into_iter()
            .map(|(i, r)| (candidates[i].code.as_str(), r))
            .collect();
        assert_eq!(got, [("b", 1), ("a", 2), ("c", 2), ("d", 4), ("tiny", 0)]);
    }

    #[test]
    fn lower_is_better_for_durations_and_reopens() {
        let candidates = [candidate("slow", 30, Some(7200.0), true), candidate("fast", 30, Some(600.0), true)];
        let got: Vec<i32> = rank(LeagueMetric::TimeToResolveP90, &candidates).into_iter().map(|(i, _)| i as i32).collect();
        assert_eq!(got, [1, 0]);
    }

    #[test]
    fn csat_needs_enough_ratings_too() {
        let k = kpis(|f| {
            f.counters.tickets_resolved = 25;
            f.counters.ratings_count = 3;
            f.counters.rating_sum = 15;
        });
        assert!(LeagueMetric::SlaCompliance.qualifies(&k, 20));
        assert!(!LeagueMetric::Csat.qualifies(&k, 20));
    }
}

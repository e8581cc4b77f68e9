//! The facts one hour of one site, category and cell contributes, how facts merge, and the KPIs
//! computed from merged facts. Durations go into a DDSketch (relative error 1%), so percentiles
//! over any number of hours come from merged sketches, never from every duration kept.

mod encoding;

use super::sketch::Sketch;
use serde::Deserialize;

/// Additive counts; every field is a sum of event contributions. (Deserialize reads the
/// counters of facts stored as JSON before migration `m0104_analytics_compact_facts`.)
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Counters {
    pub reports_received: i64,
    pub praise_received: i64,
    pub complaints_received: i64,
    pub tickets_opened: i64,
    pub tickets_resolved: i64,
    pub tickets_closed: i64,
    pub tickets_cancelled: i64,
    pub tickets_reopened: i64,
    pub resolved_within_sla: i64,
    pub first_assignment_resolutions: i64,
    /// Resolutions of this hour that were later reopened (attributed back to the resolution).
    pub reopened_resolutions: i64,
    pub acknowledge_breaches: i64,
    pub resolve_breaches: i64,
    pub escalations: i64,
    pub ratings_count: i64,
    pub rating_sum: i64,
    pub fixed_yes: i64,
    pub supports: i64,
}

impl Counters {
    fn add(&mut self, o: &Counters) {
        self.reports_received += o.reports_received;
        self.praise_received += o.praise_received;
        self.complaints_received += o.complaints_received;
        self.tickets_opened += o.tickets_opened;
        self.tickets_resolved += o.tickets_resolved;
        self.tickets_closed += o.tickets_closed;
        self.tickets_cancelled += o.tickets_cancelled;
        self.tickets_reopened += o.tickets_reopened;
        self.resolved_within_sla += o.resolved_within_sla;
        self.first_assignment_resolutions += o.first_assignment_resolutions;
        self.reopened_resolutions += o.reopened_resolutions;
        self.acknowledge_breaches += o.acknowledge_breaches;
        self.resolve_breaches += o.resolve_breaches;
        self.escalations += o.escalations;
        self.ratings_count += o.ratings_count;
        self.rating_sum += o.rating_sum;
        self.fixed_yes += o.fixed_yes;
        self.supports += o.supports;
    }
}

/// Count, exact sum and a quantile sketch of durations (seconds in the sketch).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Durations {
    pub count: i64,
    pub sum_us: i64,
    sketch: Sketch,
}

impl std::fmt::Debug for Durations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Durations(count {}, sum {} us)", self.count, self.sum_us)
    }
}

impl Durations {
    /// Durations as stored: count, sum and their sketch.
    pub fn from_parts(count: i64, sum_us: i64, sketch: Sketch) -> Self {
        Self { count, sum_us, sketch }
    }

    pub fn add(&mut self, us: i64) {
        let us = us.max(0);
        self.count += 1;
        self.sum_us += us;
        self.sketch.add(us as f64 / 1e6);
    }

    fn merge(&mut self, o: &Durations) {
        self.count += o.count;
        self.sum_us += o.sum_us;
        self.sketch.merge(&o.sketch);
    }

    /// Mean, p50 and p90 in seconds; `None` when nothing was measured.
    pub fn summary(&self) -> Option<DurationSummary> {
        if self.count <= 0 || self.sketch.count() == 0 {
            return None;
        }
        let q = |q: f64| self.sketch.quantile(q).unwrap_or(0.0);
        Some(DurationSummary {
            mean_s: self.sum_us as f64 / self.count as f64 / 1e6,
            p50_s: q(0.5),
            p90_s: q(0.9),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DurationSummary {
    pub mean_s: f64,
    pub p50_s: f64,
    pub p90_s: f64,
}

/// Everything a scope of hours knows, mergeable in any order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    pub counters: Counters,
    pub acknowledge: Durations,
    pub resolve: Durations,
}

impl Facts {
    pub fn merge(&mut self, o: &Facts) {
        self.counters.add(&o.counters);
        self.acknowledge.merge(&o.acknowledge);
        self.resolve.merge(&o.resolve);
    }

    /// The KPIs of these facts, with the backlog at the end of their scope.
    pub fn kpis(&self, backlog: i64) -> Kpis {
        let c = &self.counters;
        Kpis {
            counters: c.clone(),
            backlog,
            acknowledge: (self.acknowledge.count, self.acknowledge.summary()),
            resolve: (self.resolve.count, self.resolve.summary()),
            sla_compliance_ratio: ratio(c.resolved_within_sla, c.tickets_resolved),
            reopen_rate: ratio(c.reopened_resolutions, c.tickets_resolved),
            first_assignment_resolution_rate: ratio(c.first_assignment_resolutions, c.tickets_resolved),
            csat_mean: ratio(c.rating_sum, c.ratings_count),
            fixed_share: ratio(c.fixed_yes, c.ratings_count),
            praise_share: ratio(c.praise_received, c.praise_received + c.complaints_received),
        }
    }
}

/// The KPIs of one scope; ratios are `None` when their denominator is 0.
#[derive(Clone, Debug, PartialEq)]
pub struct Kpis {
    pub counters: Counters,
    pub backlog: i64,
    pub acknowledge: (i64, Option<DurationSummary>),
    pub resolve: (i64, Option<DurationSummary>),
    pub sla_compliance_ratio: Option<f64>,
    pub reopen_rate: Option<f64>,
    pub first_assignment_resolution_rate: Option<f64>,
    pub csat_mean: Option<f64>,
    pub fixed_share: Option<f64>,
    pub praise_share: Option<f64>,
}

impl Kpis {
    pub fn sla_breaches(&self) -> i64 {
        self.counters.acknowledge_breaches + self.counters.resolve_breaches
    }
}

pub fn ratio(numerator: i64, denominator: i64) -> Option<f64> {
    (denominator != 0).then(|| numerator as f64 / denominator as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(f: impl FnOnce(&mut Facts)) -> Facts {
        let mut x = Facts::default();
        f(&mut x);
        x
    }

    #[test]
    fn ratios_follow_their_definitions() {
        struct Case {
            name: &'static str,
            facts: Facts,
            sla: Option<f64>,
            reopen: Option<f64>,
            far: Option<f64>,
            csat: Option<f64>,
            fixed: Option<f64>,
        }
        let cases = [
            Case { name: "nothing", facts: Facts::default(), sla: None, reopen: None, far: None, csat: None, fixed: None },
            Case {
                name: "four resolutions, one late, one reopened",
                facts: facts(|f| {
                    f.counters.tickets_resolved = 4;
                    f.counters.resolved_within_sla = 3;
                    f.counters.reopened_resolutions = 1;
                    f.counters.first_assignment_resolutions = 2;
                }),
                sla: Some(0.75), reopen: Some(0.25), far: Some(0.5), csat: None, fixed: None,
            },
            Case {
                name: "ratings with a don't-know",
                facts: facts(|f| {
                    f.counters.ratings_count = 3;
                    f.counters.rating_sum = 5 + 4 + 3;
                    f.counters.fixed_yes = 2;
                }),
                sla: None, reopen: None, far: None, csat: Some(4.0), fixed: Some(2.0 / 3.0),
            },
        ];
        for c in cases {
            let k = c.facts.kpis(0);
            assert_eq!(k.sla_compliance_ratio, c.sla, "{}", c.name);
            assert_eq!(k.reopen_rate, c.reopen, "{}", c.name);
            assert_eq!(k.first_assignment_resolution_rate, c.far, "{}", c.name);
            assert_eq!(k.csat_mean, c.csat, "{}", c.name);
            assert_eq!(k.fixed_share, c.fixed, "{}", c.name);
        }
    }

    #[test]
    fn merged_sketches_give_the_percentiles_of_all_durations() {
        // 1..=100 minutes split over two hours' facts.
        let mut a = Facts::default();
        let mut b = Facts::default();
        for m in 1..=100i64 {
            let target = if m % 2 == 0 { &mut a } else { &mut b };
            target.resolve.add(m * 60 * 1_000_000);
        }
        a.merge(&b);
        let s = a.resolve.summary().unwrap();
        assert_eq!(a.resolve.count, 100);
        assert!((s.mean_s - 50.5 * 60.0).abs() < 1e-6);
        let within = |got: f64, want: f64| (got - want).abs() <= want * 0.02;
        assert!(within(s.p50_s, 50.0 * 60.0), "p50 {}", s.p50_s);
        assert!(within(s.p90_s, 90.0 * 60.0), "p90 {}", s.p90_s);
    }

    #[test]
    fn facts_survive_encoding_and_merge_in_any_order() {
        let mut x = Facts::default();
        x.counters.tickets_opened = 2;
        x.acknowledge.add(90_000_000);
        let back = Facts::decode(&x.encode()).unwrap();
        let mut y = Facts::default();
        y.counters.tickets_opened = 1;
        y.acknowledge.add(30_000_000);
        let mut xy = back.clone();
        xy.merge(&y);
        let mut yx = y;
        yx.merge(&back);
        assert_eq!(xy.kpis(0), yx.kpis(0));
        assert_eq!(xy.kpis(0).acknowledge.1.unwrap().mean_s, 60.0);
    }
}

//! Automatic dispatch: hard filters narrow the crews covering a site to the eligible ones, a
//! weighted score ranks them, and a fixed rule breaks ties, so the same inputs always choose the
//! same crew.

use super::time::duration;
use flywheel_proto::flywheel::common::v1::GeoPoint;
use flywheel_proto::flywheel::dispatch::v1::{
    CrewScore, DispatchDecision, DispatchFilterCounts, DispatchTrigger, UnassignableReason,
};
use std::cmp::Ordering;

pub const DISTANCE_WEIGHT: f64 = 0.5;
pub const LOAD_WEIGHT: f64 = 0.3;
pub const FAIRNESS_WEIGHT: f64 = 0.2;
/// The distance at which the distance score halves.
const HALF_DISTANCE_M: f64 = 5_000.0;
/// The idle time at which the fairness score reaches one half.
const HALF_IDLE_US: f64 = 3_600_000_000.0;
pub const TIE_BREAK: &str = "fairness_score descending, then crew_id ascending";
/// How many runners-up a decision records.
const RUNNERS_UP: usize = 3;

/// A crew that covers the ticket's site, as dispatch sees it at this moment.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub crew_id: String,
    pub code: String,
    pub name: String,
    pub skills: Vec<String>,
    pub base: Option<GeoPoint>,
    pub capacity: i32,
    pub open_tickets: i32,
    pub last_assignment_us: Option<i64>,
    pub on_shift: bool,
    pub on_call: bool,
}

/// What the ticket asks of a crew.
#[derive(Clone, Debug)]
pub struct Need<'a> {
    pub skills: &'a [String],
    pub p1: bool,
    pub location: &'a GeoPoint,
    /// Crews that declined in this cycle, or the current crew on a reassignment.
    pub excluded: &'a [String],
    pub now_us: i64,
}

/// Runs the filters and the score over `candidates`; the decision names the chosen crew, or the
/// reason none was eligible.
pub fn decide(trigger: DispatchTrigger, need: &Need, candidates: &[Candidate]) -> DispatchDecision {
    let mut counts = DispatchFilterCounts { covering: candidates.len() as i32, ..Default::default() };
    let mut eligible = Vec::new();
    for c in candidates {
        if !need.skills.iter().all(|s| c.skills.contains(s)) {
            counts.removed_by_skills += 1;
        } else if !(c.on_shift || (need.p1 && c.on_call)) {
            counts.removed_by_duty += 1;
        } else if c.open_tickets >= c.capacity {
            counts.removed_by_capacity += 1;
        } else if need.excluded.contains(&c.crew_id) {
            counts.removed_as_excluded += 1;
        } else {
            eligible.push(score(c, need));
        }
    }
    counts.eligible = eligible.len() as i32;
    eligible.sort_by(rank_order);
    for (i, s) in eligible.iter_mut().enumerate() {
        s.rank = i as i32 + 1;
    }
    let mut ranked = eligible.into_iter();
    let chosen = ranked.next();
    DispatchDecision {
        trigger: trigger as i32,
        unassignable_reason: if chosen.is_some() { 0 } else { reason(&counts) as i32 },
        chosen,
        runners_up: ranked.take(RUNNERS_UP).collect(),
        filter_counts: Some(counts),
        distance_weight: DISTANCE_WEIGHT,
        load_weight: LOAD_WEIGHT,
        fairness_weight: FAIRNESS_WEIGHT,
        tie_break: TIE_BREAK.to_owned(),
    }
}

/// Why no crew was left, from the first filter that emptied the set.
fn reason(c: &DispatchFilterCounts) -> UnassignableReason {
    let after_skills = c.covering - c.removed_by_skills;
    let after_duty = after_skills - c.removed_by_duty;
    let after_capacity = after_duty - c.removed_by_capacity;
    if c.covering == 0 {
        UnassignableReason::NoCrewCoversSite
    } else if after_skills == 0 {
        UnassignableReason::NoCrewWithSkills
    } else if after_duty == 0 {
        UnassignableReason::NoCrewOnDuty
    } else if after_capacity == 0 {
        UnassignableReason::AllCrewsAtCapacity
    } else {
        UnassignableReason::AllEligibleCrewsDeclined
    }
}

/// A human explanation of an unassignable decision.
pub fn explain(decision: &DispatchDecision) -> String {
    let c = decision.filter_counts.unwrap_or_default();
    format!(
        "{} active crews cover the site; {} lack a skill, {} are off duty, {} are at capacity, {} are excluded",
        c.covering, c.removed_by_skills, c.removed_by_duty, c.removed_by_capacity, c.removed_as_excluded
    )
}

fn score(c: &Candidate, need: &Need) -> CrewScore {
    let distance_m = c.base.as_ref().map(|b| distance_m(b, need.location));
    let distance_score = distance_m.map(|d| HALF_DISTANCE_M / (HALF_DISTANCE_M + d)).unwrap_or(0.0);
    let load_score = 1.0 - f64::from(c.open_tickets) / f64::from(c.capacity.max(1));
    let idle_us = c.last_assignment_us.map(|t| (need.now_us - t).max(0));
    let fairness_score = idle_us.map(|i| i as f64 / (i as f64 + HALF_IDLE_US)).unwrap_or(1.0);
    CrewScore {
        crew_id: c.crew_id.clone(),
        crew_code: c.code.clone(),
        crew_name: c.name.clone(),
        rank: 0,
        total_score: DISTANCE_WEIGHT * distance_score + LOAD_WEIGHT * load_score + FAIRNESS_WEIGHT * fairness_score,
        distance_m,
        distance_score,
        open_ticket_count: c.open_tickets,
        capacity: c.capacity,
        load_score,
        since_last_assignment: idle_us.map(duration),
        fairness_score,
        via_on_call: !c.on_shift,
    }
}

/// Best first: higher total, then higher fairness, then the smaller crew id.
fn rank_order(a: &CrewScore, b: &CrewScore) -> Ordering {
    b.total_score
        .total_cmp(&a.total_score)
        .then(b.fairness_score.total_cmp(&a.fairness_score))
        .then(a.crew_id.cmp(&b.crew_id))
}

pub use flywheel_runtime::geo::distance_m;

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: GeoPoint = GeoPoint { lat: 23.106, lng: 113.324 };
    const NOW: i64 = 1_000_000_000_000_000;

    fn crew(id: &str) -> Candidate {
        Candidate {
            crew_id: id.into(),
            code: id.into(),
            name: id.into(),
            skills: vec!["electrical".into()],
            base: Some(SITE),
            capacity: 4,
            open_tickets: 0,
            last_assignment_us: None,
            on_shift: true,
            on_call: false,
        }
    }

    fn run(p1: bool, excluded: &[&str], crews: Vec<Candidate>) -> DispatchDecision {
        let skills = vec!["electrical".to_owned()];
        let excluded: Vec<String> = excluded.iter().map(|s| s.to_string()).collect();
        let need = Need { skills: &skills, p1, location: &SITE, excluded: &excluded, now_us: NOW };
        decide(DispatchTrigger::Created, &need, &crews)
    }

    fn chosen(d: &DispatchDecision) -> Option<&str> {
        d.chosen.as_ref().map(|c| c.crew_id.as_str())
    }

    #[test]
    fn hard_filters_and_reasons() {
        let no_skill = Candidate { skills: vec![], ..crew("a") };
        let off = Candidate { on_shift: false, ..crew("b") };
        let on_call = Candidate { on_shift: false, on_call: true, ..crew("c") };
        let full = Candidate { open_tickets: 4, ..crew("d") };
        /// (name, P1, excluded crews, candidates, chosen, reason)
        type Case<'a> = (&'a str, bool, Vec<&'a str>, Vec<Candidate>, Option<&'a str>, UnassignableReason);
        let cases: Vec<Case> = vec![
            ("nobody covers", false, vec![], vec![], None, UnassignableReason::NoCrewCoversSite),
            ("no skill", false, vec![], vec![no_skill.clone()], None, UnassignableReason::NoCrewWithSkills),
            ("off duty", false, vec![], vec![no_skill.clone(), off.clone()], None, UnassignableReason::NoCrewOnDuty),
            ("on call only counts for P1", false, vec![], vec![on_call.clone()], None, UnassignableReason::NoCrewOnDuty),
            ("on call takes a P1", true, vec![], vec![on_call.clone()], Some("c"), UnassignableReason::Unspecified),
            ("at capacity", false, vec![], vec![full.clone(), off], None, UnassignableReason::AllCrewsAtCapacity),
            ("declined", false, vec!["e"], vec![full, crew("e")], None, UnassignableReason::AllEligibleCrewsDeclined),
            ("eligible", false, vec![], vec![no_skill, crew("f")], Some("f"), UnassignableReason::Unspecified),
        ];
        for (name, p1, excluded, crews, expected, reason) in cases {
            let d = run(p1, &excluded, crews);
            assert_eq!(chosen(&d), expected, "{name}");
            assert_eq!(d.unassignable_reason, reason as i32, "{name}");
        }
    }

    #[test]
    fn filter_counts_explain_the_narrowing() {
        let crews = vec![
            Candidate { skills: vec![], ..crew("a") },
            Candidate { on_shift: false, ..crew("b") },
            Candidate { open_tickets: 9, ..crew("c") },
            crew("d"),
            crew("e"),
        ];
        let counts = run(false, &["d"], crews).filter_counts.unwrap();
        assert_eq!(
            (counts.covering, counts.removed_by_skills, counts.removed_by_duty, counts.removed_by_capacity,
             counts.removed_as_excluded, counts.eligible),
            (5, 1, 1, 1, 1, 1)
        );
    }

    #[test]
    fn closer_lighter_and_longer_idle_crews_rank_first() {
        let far = Candidate { base: Some(GeoPoint { lat: 23.2, lng: 113.4 }), ..crew("near-is-better") };
        let d = run(false, &[], vec![far, crew("z-near")]);
        assert_eq!(chosen(&d), Some("z-near"));

        let busy = Candidate { open_tickets: 3, ..crew("a-busy") };
        assert_eq!(chosen(&run(false, &[], vec![busy, crew("b-free")])), Some("b-free"));

        let recent = Candidate { last_assignment_us: Some(NOW - 60_000_000), ..crew("a-recent") };
        let idle = Candidate { last_assignment_us: Some(NOW - 86_400_000_000), ..crew("b-idle") };
        assert_eq!(chosen(&run(false, &[], vec![recent, idle])), Some("b-idle"));

        let no_base = Candidate { base: None, ..crew("a-nobase") };
        let d = run(false, &[], vec![no_base, crew("b-based")]);
        assert_eq!(chosen(&d), Some("b-based"));
        assert_eq!(d.runners_up[0].distance_m, None);
        assert_eq!(d.runners_up[0].distance_score, 0.0);
    }

    #[test]
    fn ties_go_to_the_smaller_crew_id_and_runners_up_are_ranked() {
        let d = run(false, &[], vec![crew("c"), crew("a"), crew("e"), crew("b"), crew("d")]);
        assert_eq!(chosen(&d), Some("a"));
        let runners: Vec<_> = d.runners_up.iter().map(|r| (r.rank, r.crew_id.as_str())).collect();
        assert_eq!(runners, [(2, "b"), (3, "c"), (4, "d")]);
        let total = d.chosen.unwrap().total_score;
        assert!((total - 1.0).abs() < 1e-9, "a free, idle crew at the site scores 1, got {total}");
    }

    #[test]
    fn distances() {
        let wetland = GeoPoint { lat: 23.07, lng: 113.35 };
        let d = distance_m(&SITE, &wetland);
        assert!((4_000.0..5_000.0).contains(&d), "{d}");
        assert_eq!(distance_m(&SITE, &SITE), 0.0);
    }
}

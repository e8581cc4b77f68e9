//! The duplicate rule: a new report repeats an open one at the same site and category when it is
//! within the configured distance and was filed within the configured window after it.

use super::geo::distance_m;
use flywheel_proto::flywheel::common::v1::GeoPoint;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule {
    pub distance_m: f64,
    pub window: Duration,
}

/// What the rule compares of a report.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub id: String,
    pub site_id: String,
    pub category_id: String,
    /// Where the report is; the site's centre when the resident gave no location.
    pub location: GeoPoint,
    pub submit_us: i64,
    /// Not RESOLVED or CLOSED, and not itself a duplicate.
    pub open_primary: bool,
}

/// The match: which open report, how far and how long before.
#[derive(Clone, Debug, PartialEq)]
pub struct Match {
    pub primary_id: String,
    pub distance_m: f64,
    pub apart_us: i64,
}

/// The open report `new` repeats: the nearest one that matches, the most recent on a tie.
pub fn find_primary(new: &Candidate, existing: &[Candidate], rule: Rule) -> Option<Match> {
    if new.category_id.is_empty() {
        return None;
    }
    let window_us = i64::try_from(rule.window.as_micros()).unwrap_or(i64::MAX);
    existing
        .iter()
        .filter(|c| c.id != new.id && c.open_primary)
        .filter(|c| c.site_id == new.site_id && c.category_id == new.category_id)
        .map(|c| (c, distance_m(&new.location, &c.location), new.submit_us - c.submit_us))
        .filter(|(_, d, apart)| *d <= rule.distance_m && (0..=window_us).contains(apart))
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.2.cmp(&b.2)))
        .map(|(c, d, apart)| Match { primary_id: c.id.clone(), distance_m: d, apart_us: apart })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_US: i64 = 3_600_000_000;

    fn rule() -> Rule {
        Rule { distance_m: 100.0, window: Duration::from_secs(72 * 3600) }
    }

    fn report(id: &str, lat: f64, submit_us: i64) -> Candidate {
        Candidate {
            id: id.into(),
            site_id: "tower".into(),
            category_id: "light-out".into(),
            location: GeoPoint { lat, lng: 113.324 },
            submit_us,
            open_primary: true,
        }
    }

    #[test]
    fn a_close_recent_report_at_the_same_site_and_category_is_a_duplicate() {
        let open = report("a", 23.1060, 0);
        let new = report("b", 23.1065, 5 * HOUR_US); // ~56 m away
        let m = find_primary(&new, &[open], rule()).unwrap();
        assert_eq!(m.primary_id, "a");
        assert!((50.0..60.0).contains(&m.distance_m), "{}", m.distance_m);
        assert_eq!(m.apart_us, 5 * HOUR_US);
    }

    #[test]
    fn too_far_too_old_or_another_category_is_not() {
        let new = report("new", 23.1060, 100 * HOUR_US);
        let far = report("far", 23.1080, 99 * HOUR_US); // ~220 m
        let old = report("old", 23.1060, 27 * HOUR_US); // 73 h before
        let other = Candidate { category_id: "litter".into(), ..report("other", 23.1060, 99 * HOUR_US) };
        let other_site = Candidate { site_id: "wetland".into(), ..report("site", 23.1060, 99 * HOUR_US) };
        assert_eq!(find_primary(&new, &[far, old, other, other_site], rule()), None);
    }

    #[test]
    fn closed_reports_and_duplicates_are_not_primaries() {
        let new = report("new", 23.1060, HOUR_US);
        let closed = Candidate { open_primary: false, ..report("closed", 23.1060, 0) };
        assert_eq!(find_primary(&new, &[closed], rule()), None);
    }

    #[test]
    fn unclassified_reports_are_never_duplicates() {
        let new = Candidate { category_id: String::new(), ..report("new", 23.1060, HOUR_US) };
        let open = Candidate { category_id: String::new(), ..report("a", 23.1060, 0) };
        assert_eq!(find_primary(&new, &[open], rule()), None);
    }

    #[test]
    fn the_nearest_open_report_wins() {
        let new = report("new", 23.1060, 3 * HOUR_US);
        let near = report("near", 23.1061, 0);
        let nearer = report("nearer", 23.10605, HOUR_US);
        assert_eq!(find_primary(&new, &[near, nearer], rule()).unwrap().primary_id, "nearer");
    }
}

//! Distances on the earth and the resolution of a location to the managed site covering it.

use flywheel_proto::flywheel::common::v1::GeoPoint;

pub const METRES_PER_DEGREE_LAT: f64 = 111_320.0;

pub use flywheel_runtime::geo::{check_point, distance_m};

/// A managed site as location resolution sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct SiteArea {
    pub id: String,
    pub center: GeoPoint,
    pub radius_m: f64,
}

/// The site whose service radius contains `point`; the nearest centre when several do.
pub fn covering_site<'a>(point: &GeoPoint, sites: &'a [SiteArea]) -> Option<&'a SiteArea> {
    sites
        .iter()
        .map(|s| (s, distance_m(point, &s.center)))
        .filter(|(s, d)| *d <= s.radius_m)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(s, _)| s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(id: &str, lat: f64, lng: f64, radius_m: f64) -> SiteArea {
        SiteArea { id: id.into(), center: GeoPoint { lat, lng }, radius_m }
    }

    #[test]
    fn a_point_inside_one_radius_resolves_to_that_site() {
        let sites = [site("tower", 23.106, 113.324, 500.0), site("wetland", 23.07, 113.35, 2000.0)];
        let near_tower = GeoPoint { lat: 23.1075, lng: 113.324 }; // ~167 m north
        assert_eq!(covering_site(&near_tower, &sites).unwrap().id, "tower");
    }

    #[test]
    fn overlapping_radii_pick_the_nearest_centre() {
        let sites = [site("big", 23.100, 113.324, 5000.0), site("small", 23.106, 113.324, 500.0)];
        let p = GeoPoint { lat: 23.1058, lng: 113.324 };
        assert_eq!(covering_site(&p, &sites).unwrap().id, "small");
    }

    #[test]
    fn a_point_outside_every_radius_resolves_to_none() {
        let sites = [site("tower", 23.106, 113.324, 300.0)];
        assert!(covering_site(&GeoPoint { lat: 23.2, lng: 113.324 }, &sites).is_none());
        // A radius of 0 covers only the point itself.
        let point_only = [site("kiosk", 23.106, 113.324, 0.0)];
        assert!(covering_site(&GeoPoint { lat: 23.106, lng: 113.324 }, &point_only).is_some());
        assert!(covering_site(&GeoPoint { lat: 23.1061, lng: 113.324 }, &point_only).is_none());
    }

    #[test]
    fn distances_are_plausible() {
        let a = GeoPoint { lat: 23.106, lng: 113.324 };
        let b = GeoPoint { lat: 23.07, lng: 113.35 };
        let d = distance_m(&a, &b);
        assert!((4_000.0..5_000.0).contains(&d), "{d}");
    }
}

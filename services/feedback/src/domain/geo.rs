//! Distances on the earth and the resolution of a location to the managed site covering it.

use flywheel_proto::flywheel::common::v1::GeoPoint;

pub const METRES_PER_DEGREE_LAT: f64 = 111_320.0;

pub use flywheel_runtime::geo::{check_point, distance_m};

/// Degrees of latitude per metre, widened so that a box never misses a point within its radius
/// (the distance's spherical earth is a little smaller than this constant's).
const BOX_DEGREES_PER_M: f64 = 1.01 / 111_000.0;
/// Slack for rounding, so a radius of 0 still holds the point itself.
const BOX_SLACK_DEG: f64 = 1e-9;

/// A latitude/longitude box holding every point within a radius of a centre; `lng` is `None`
/// where the box would reach a pole or the antimeridian (then any longitude may be inside).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoundingBox {
    pub lat: (f64, f64),
    pub lng: Option<(f64, f64)>,
}

impl BoundingBox {
    pub fn around(center: &GeoPoint, radius_m: f64) -> Self {
        let dlat = radius_m * BOX_DEGREES_PER_M + BOX_SLACK_DEG;
        let lat = (center.lat - dlat, center.lat + dlat);
        let widest = lat.0.abs().max(lat.1.abs());
        let lng = (widest < 89.0)
            .then(|| dlat / widest.to_radians().cos())
            .map(|dlng| (center.lng - dlng, center.lng + dlng))
            .filter(|(west, east)| *west >= -180.0 && *east <= 180.0);
        Self { lat, lng }
    }

    pub fn contains(&self, p: &GeoPoint) -> bool {
        let inside = |(low, high): (f64, f64), v: f64| (low..=high).contains(&v);
        inside(self.lat, p.lat) && self.lng.is_none_or(|lng| inside(lng, p.lng))
    }
}

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
    fn a_box_holds_every_point_within_its_radius() {
        for (lat, lng) in [(23.106, 113.324), (-33.9, 18.4), (64.1, -21.9), (0.0, 0.0)] {
            let c = GeoPoint { lat, lng };
            for radius in [0.0, 1.0, 100.0, 5000.0] {
                let b = BoundingBox::around(&c, radius);
                assert!(b.contains(&c));
                for bearing in (0..360).step_by(15) {
                    let (s, t) = f64::from(bearing).to_radians().sin_cos();
                    // Walk out until just past the radius; everything up to it must be inside.
                    let mut step = 0.0;
                    loop {
                        let p = GeoPoint { lat: lat + t * step, lng: lng + s * step };
                        if distance_m(&c, &p) > radius {
                            break;
                        }
                        assert!(b.contains(&p), "{p:?} within {radius} m of {c:?}");
                        step += (radius / 111_000.0 / 500.0).max(1e-8);
                    }
                }
            }
        }
    }

    #[test]
    fn a_box_leaves_out_what_is_clearly_far() {
        let c = GeoPoint { lat: 23.106, lng: 113.324 };
        let b = BoundingBox::around(&c, 100.0);
        assert!(!b.contains(&GeoPoint { lat: 23.108, lng: 113.324 })); // ~220 m north
        assert!(!b.contains(&GeoPoint { lat: 23.106, lng: 113.3265 })); // ~250 m east
        assert!(!BoundingBox::around(&c, 0.0).contains(&GeoPoint { lat: 23.1060001, lng: 113.324 }));
    }

    #[test]
    fn near_a_pole_or_the_antimeridian_any_longitude_may_be_inside() {
        assert_eq!(BoundingBox::around(&GeoPoint { lat: 89.5, lng: 10.0 }, 100.0).lng, None);
        assert_eq!(BoundingBox::around(&GeoPoint { lat: 10.0, lng: 179.9999 }, 100.0).lng, None);
    }

    #[test]
    fn distances_are_plausible() {
        let a = GeoPoint { lat: 23.106, lng: 113.324 };
        let b = GeoPoint { lat: 23.07, lng: 113.35 };
        let d = distance_m(&a, &b);
        assert!((4_000.0..5_000.0).contains(&d), "{d}");
    }
}

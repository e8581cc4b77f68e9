//! Distances on the earth and the bounding boxes that narrow a radius search before the exact
//! great-circle check.

use flywheel_proto::flywheel::common::v1::GeoPoint;
use flywheel_runtime::Violations;

const METRES_PER_DEGREE_LAT: f64 = 111_320.0;

pub use flywheel_runtime::geo::distance_m;

/// Checks that `point` is present and within WGS84 ranges.
pub fn check_point(v: &mut Violations, field: &str, point: Option<&GeoPoint>) {
    match point {
        None => v.add(field, "is required"),
        Some(p) => flywheel_runtime::geo::check_point(v, field, p),
    }
}

/// A latitude/longitude box that contains every point within `radius_m` of `center`.
/// `lng` is `None` when the box would wrap the antimeridian or reach a pole (no longitude bound).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundingBox {
    pub lat: (f64, f64),
    pub lng: Option<(f64, f64)>,
}

pub fn bounding_box(center: &GeoPoint, radius_m: f64) -> BoundingBox {
    // Slightly generous so rounding never drops a point the exact check would keep.
    let dlat = radius_m / METRES_PER_DEGREE_LAT * 1.01;
    let lat = ((center.lat - dlat).max(-90.0), (center.lat + dlat).min(90.0));
    let cos = center.lat.to_radians().cos();
    let lng = if lat.0 <= -89.9 || lat.1 >= 89.9 || cos < 1e-6 {
        None
    } else {
        let dlng = radius_m / (METRES_PER_DEGREE_LAT * cos) * 1.01;
        let (lo, hi) = (center.lng - dlng, center.lng + dlng);
        (lo >= -180.0 && hi <= 180.0).then_some((lo, hi))
    };
    BoundingBox { lat, lng }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(lat: f64, lng: f64) -> GeoPoint {
        GeoPoint { lat, lng }
    }

    #[test]
    fn distances_in_the_district() {
        let tower = p(23.106, 113.324);
        let wetland = p(23.07, 113.35);
        let d = distance_m(&tower, &wetland);
        assert!((4_500.0..5_000.0).contains(&d), "{d}");
        assert_eq!(distance_m(&tower, &tower), 0.0);
    }

    #[test]
    fn the_box_contains_the_circle() {
        let c = p(23.106, 113.324);
        let b = bounding_box(&c, 5_000.0);
        for bearing in 0..360 {
            let r = (bearing as f64).to_radians();
            let q = p(
                c.lat + 4_999.0 / METRES_PER_DEGREE_LAT * r.cos(),
                c.lng + 4_999.0 / (METRES_PER_DEGREE_LAT * c.lat.to_radians().cos()) * r.sin(),
            );
            assert!(distance_m(&c, &q) <= 5_000.0 + 10.0);
            assert!(q.lat >= b.lat.0 && q.lat <= b.lat.1);
            let (lo, hi) = b.lng.unwrap();
            assert!(q.lng >= lo && q.lng <= hi);
        }
    }

    #[test]
    fn the_box_drops_longitude_near_the_antimeridian_and_poles() {
        assert!(bounding_box(&p(0.0, 179.99), 5_000.0).lng.is_none());
        assert!(bounding_box(&p(89.99, 0.0), 5_000.0).lng.is_none());
    }

    #[test]
    fn points_are_checked() {
        let mut v = Violations::new();
        check_point(&mut v, "site.location", Some(&p(91.0, f64::NAN)));
        check_point(&mut v, "other", None);
        let err = tonic::Status::from(v.finish(()).unwrap_err());
        let details = tonic_types::StatusExt::get_error_details(&err);
        let fields: Vec<_> =
            details.bad_request().unwrap().field_violations.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["site.location.lat", "site.location.lng", "other"]);
    }
}

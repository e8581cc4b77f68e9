//! Places on the earth, the same in every service: WGS84 range checks and great-circle distance.

use crate::Violations;
use flywheel_proto::flywheel::common::v1::GeoPoint;

const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Checks that `p` lies within WGS84 ranges, naming `<field>.lat` / `<field>.lng`.
pub fn check_point(v: &mut Violations, field: &str, p: &GeoPoint) {
    v.check(
        p.lat.is_finite() && (-90.0..=90.0).contains(&p.lat),
        format!("{field}.lat"),
        "must be a latitude within -90..90 degrees",
    );
    v.check(
        p.lng.is_finite() && (-180.0..=180.0).contains(&p.lng),
        format!("{field}.lng"),
        "must be a longitude within -180..180 degrees",
    );
}

/// Great-circle (haversine) distance in metres on a spherical earth.
pub fn distance_m(a: &GeoPoint, b: &GeoPoint) -> f64 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlng = (b.lng - a.lng).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlng / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

//! Great-circle distance on a spherical Earth (haversine), enough for "within N km".

use flywheel_proto::flywheel::common::v1::GeoPoint;

pub fn distance_km(lat1: f64, lng1: f64, lat2: f64, lng2: f64) -> f64 {
    flywheel_runtime::geo::distance_m(&GeoPoint { lat: lat1, lng: lng1 }, &GeoPoint { lat: lat2, lng: lng2 }) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_distances() {
        let cases = [
            // One degree of latitude.
            ((23.0, 113.0), (24.0, 113.0), 111.19),
            // Canton Tower to Pazhou exhibition centre, about 5.3 km.
            ((23.1059, 113.3245), (23.0980, 113.3750), 5.24),
            ((23.1, 113.3), (23.1, 113.3), 0.0),
        ];
        for ((a, b), (c, d), want) in cases {
            let got = distance_km(a, b, c, d);
            assert!((got - want).abs() < 0.05, "{got} vs {want}");
        }
    }
}

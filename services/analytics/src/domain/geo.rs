//! Great-circle distance on a spherical Earth (haversine), enough for "within N km".

const EARTH_RADIUS_KM: f64 = 6371.0088;

pub fn distance_km(lat1: f64, lng1: f64, lat2: f64, lng2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lng2 - lng1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().asin()
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

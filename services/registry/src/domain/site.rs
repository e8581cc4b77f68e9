//! Sites, and the zones and assets inside them.

use super::{geo, text};
use flywheel_proto::flywheel::registry::v1::{Asset, Site, SiteType, Zone};
use flywheel_runtime::{Result, Violations};

pub const SITE_UPDATABLE: &[&str] = &[
    "name", "type", "region_id", "location", "service_radius_m", "flagship",
    "contract_start", "contract_end", "address",
];
pub const ZONE_UPDATABLE: &[&str] = &["name", "description"];
pub const ASSET_UPDATABLE: &[&str] = &["zone_id", "kind", "name", "location"];

pub const MAX_SERVICE_RADIUS_M: f64 = 50_000.0;
pub const MAX_SEARCH_RADIUS_M: f64 = 200_000.0;

/// Checks a site as it would be stored; `only` limits the check to the fields an update names
/// (`None`: all of them, for a new site).
pub fn validate_site(site: &Site, only: Option<&[String]>) -> Result<()> {
    let wants = |f: &str| only.is_none_or(|paths| paths.iter().any(|p| p == f));
    let mut v = Violations::new();
    if only.is_none() {
        text::code(&mut v, "site.code", &site.code);
    } else {
        text::id(&mut v, "site.id", &site.id);
    }
    if wants("name") {
        text::name(&mut v, "site.name", &site.name, 200);
    }
    if wants("type") {
        v.check(
            SiteType::try_from(site.r#type).is_ok_and(|t| t != SiteType::Unspecified),
            "site.type",
            "must be a known site type",
        );
    }
    if wants("region_id") {
        text::id(&mut v, "site.region_id", &site.region_id);
    }
    if wants("location") {
        geo::check_point(&mut v, "site.location", site.location.as_ref());
    }
    if wants("service_radius_m") {
        v.check(
            site.service_radius_m.is_finite() && (0.0..=MAX_SERVICE_RADIUS_M).contains(&site.service_radius_m),
            "site.service_radius_m",
            format!("must be within 0..{MAX_SERVICE_RADIUS_M} metres"),
        );
    }
    if wants("address") {
        text::optional(&mut v, "site.address", &site.address, 500);
    }
    if wants("contract_start") || wants("contract_end") {
        for (field, ts) in [("site.contract_start", &site.contract_start), ("site.contract_end", &site.contract_end)] {
            if let Some(ts) = ts {
                v.check((0..1_000_000_000).contains(&ts.nanos), field, "has invalid nanos");
            }
        }
        if let (Some(start), Some(end)) = (&site.contract_start, &site.contract_end) {
            v.check(
                (end.seconds, end.nanos) > (start.seconds, start.nanos),
                "site.contract_end",
                "must be after contract_start",
            );
        }
    }
    v.finish(())
}

/// Checks a radius search.
pub fn validate_circle(v: &mut Violations, center: Option<&flywheel_proto::flywheel::common::v1::GeoPoint>, radius_m: f64) {
    geo::check_point(v, "within.center", center);
    v.check(
        radius_m.is_finite() && radius_m > 0.0 && radius_m <= MAX_SEARCH_RADIUS_M,
        "within.radius_m",
        format!("must be greater than 0 and at most {MAX_SEARCH_RADIUS_M} metres"),
    );
}

pub fn validate_zone(zone: &Zone, only: Option<&[String]>) -> Result<()> {
    let wants = |f: &str| only.is_none_or(|paths| paths.iter().any(|p| p == f));
    let mut v = Violations::new();
    if only.is_none() {
        text::id(&mut v, "zone.site_id", &zone.site_id);
        text::code(&mut v, "zone.code", &zone.code);
    } else {
        text::id(&mut v, "zone.id", &zone.id);
    }
    if wants("name") {
        text::name(&mut v, "zone.name", &zone.name, 200);
    }
    if wants("description") {
        text::optional(&mut v, "zone.description", &zone.description, 2000);
    }
    v.finish(())
}

pub fn validate_asset(asset: &Asset, only: Option<&[String]>) -> Result<()> {
    let wants = |f: &str| only.is_none_or(|paths| paths.iter().any(|p| p == f));
    let mut v = Violations::new();
    if only.is_none() {
        text::id(&mut v, "asset.site_id", &asset.site_id);
        text::code(&mut v, "asset.tag", &asset.tag);
    } else {
        text::id(&mut v, "asset.id", &asset.id);
    }
    if wants("kind") {
        text::name(&mut v, "asset.kind", &asset.kind, 64);
    }
    if wants("name") {
        text::optional(&mut v, "asset.name", &asset.name, 200);
    }
    if wants("location") && asset.location.is_some() {
        geo::check_point(&mut v, "asset.location", asset.location.as_ref());
    }
    v.finish(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flywheel_proto::flywheel::common::v1::GeoPoint;
    use prost_types::Timestamp;
    use crate::domain::violated_fields as fields;

    fn tower() -> Site {
        Site {
            code: "canton-tower".into(),
            name: "Canton Tower scenic area".into(),
            r#type: SiteType::ScenicArea as i32,
            region_id: "r1".into(),
            location: Some(GeoPoint { lat: 23.106, lng: 113.324 }),
            service_radius_m: 800.0,
            flagship: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_good_site_passes() {
        assert!(validate_site(&tower(), None).is_ok());
    }

    #[test]
    fn every_bad_field_is_named() {
        let site = Site {
            code: "bad code".into(),
            name: "".into(),
            r#type: 0,
            region_id: "".into(),
            location: Some(GeoPoint { lat: 100.0, lng: 200.0 }),
            service_radius_m: -1.0,
            contract_start: Some(Timestamp { seconds: 100, nanos: 0 }),
            contract_end: Some(Timestamp { seconds: 50, nanos: 0 }),
            ..Default::default()
        };
        assert_eq!(
            fields(validate_site(&site, None)),
            [
                "site.code", "site.name", "site.type", "site.region_id", "site.location.lat",
                "site.location.lng", "site.service_radius_m", "site.contract_end"
            ]
        );
    }

    #[test]
    fn an_update_checks_only_the_named_fields() {
        let site = Site { id: "s1".into(), name: "New name".into(), ..Default::default() };
        assert!(validate_site(&site, Some(&["name".into()])).is_ok());
        assert_eq!(fields(validate_site(&site, Some(&["location".into()]))), ["site.location"]);
    }

    #[test]
    fn zones_and_assets() {
        let zone = Zone { site_id: "s".into(), code: "north-gate".into(), name: "North gate".into(), ..Default::default() };
        assert!(validate_zone(&zone, None).is_ok());
        let asset = Asset { site_id: "s".into(), tag: "SL-0042".into(), kind: "".into(), ..Default::default() };
        assert_eq!(fields(validate_asset(&asset, None)), ["asset.kind"]);
    }
}

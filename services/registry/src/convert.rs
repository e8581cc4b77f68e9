//! Stored rows as the contract's messages.

use crate::domain::region::ancestors;
use crate::store::entities::{asset, category, region, site, zone};
use flywheel_proto::flywheel::common::v1::{GeoPoint, ScenarioCell};
use flywheel_proto::flywheel::registry::v1::{Asset, Category, Region, Site, SlaTarget, Zone};
use prost::Message;
use prost_types::Timestamp;

pub fn timestamp(us: i64) -> Timestamp {
    Timestamp { seconds: us.div_euclid(1_000_000), nanos: (us.rem_euclid(1_000_000) * 1000) as i32 }
}

pub fn micros(ts: &Timestamp) -> i64 {
    ts.seconds.saturating_mul(1_000_000).saturating_add(i64::from(ts.nanos) / 1000)
}

pub fn region(r: region::Model) -> Region {
    Region {
        ancestor_ids: ancestors(&r.path),
        id: r.id,
        code: r.code,
        name: r.name,
        kind: r.kind,
        parent_id: r.parent_id.unwrap_or_default(),
        status: r.status,
        version: r.version,
        create_time: Some(timestamp(r.create_us)),
        update_time: Some(timestamp(r.update_us)),
    }
}

pub fn site(s: site::Model) -> Site {
    Site {
        region_path: s.region_path.split('/').filter(|p| !p.is_empty()).map(str::to_owned).collect(),
        id: s.id,
        code: s.code,
        name: s.name,
        r#type: s.site_type,
        region_id: s.region_id,
        location: Some(GeoPoint { lat: s.lat, lng: s.lng }),
        service_radius_m: s.service_radius_m,
        flagship: s.flagship,
        contract_start: s.contract_start_us.map(timestamp),
        contract_end: s.contract_end_us.map(timestamp),
        address: s.address,
        status: s.status,
        version: s.version,
        create_time: Some(timestamp(s.create_us)),
        update_time: Some(timestamp(s.update_us)),
        retire_time: s.retire_us.map(timestamp),
    }
}

pub fn zone(z: zone::Model) -> Zone {
    Zone {
        id: z.id,
        site_id: z.site_id,
        code: z.code,
        name: z.name,
        description: z.description,
        status: z.status,
        version: z.version,
        create_time: Some(timestamp(z.create_us)),
        update_time: Some(timestamp(z.update_us)),
    }
}

pub fn asset(a: asset::Model) -> Asset {
    Asset {
        id: a.id,
        site_id: a.site_id,
        zone_id: a.zone_id.unwrap_or_default(),
        tag: a.tag,
        kind: a.kind,
        name: a.name,
        location: a.lat.zip(a.lng).map(|(lat, lng)| GeoPoint { lat, lng }),
        status: a.status,
        version: a.version,
        create_time: Some(timestamp(a.create_us)),
        update_time: Some(timestamp(a.update_us)),
    }
}

/// The stored form of SLA targets.
#[derive(Clone, PartialEq, Message)]
struct SlaTargets {
    #[prost(message, repeated, tag = "1")]
    targets: Vec<SlaTarget>,
}

pub fn encode_targets(targets: &[SlaTarget]) -> Vec<u8> {
    SlaTargets { targets: targets.to_vec() }.encode_to_vec()
}

pub fn encode_skills(skills: &[String]) -> String {
    skills.join(",")
}

pub fn category(c: category::Model) -> Category {
    Category {
        sla_targets: SlaTargets::decode(c.sla_targets.as_slice()).map(|t| t.targets).unwrap_or_default(),
        required_skills: c.required_skills.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        id: c.id,
        code: c.code,
        name: c.name,
        description: c.description,
        cell: Some(ScenarioCell { dimension: c.dimension, perspective: c.perspective }),
        default_priority: c.default_priority,
        status: c.status,
        version: c.version,
        create_time: Some(timestamp(c.create_us)),
        update_time: Some(timestamp(c.update_us)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_including_before_the_epoch() {
        for us in [0, 1, 1_700_000_000_123_456, -1, -1_500_000] {
            assert_eq!(micros(&timestamp(us)), us);
        }
    }
}

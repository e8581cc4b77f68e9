//! The registry's events: subjects and messages, built from the state after each change.

use flywheel_proto::flywheel::registry::v1 as pb;
use flywheel_runtime::events::OutgoingEvent;

pub const SERVICE: &str = "registry";

fn event(subject: &str, aggregate_id: &str, correlation: &str, message: &impl prost::Message) -> OutgoingEvent {
    OutgoingEvent::new(SERVICE, subject, aggregate_id, correlation, message)
}

pub fn region_created(r: &pb::Region, corr: &str) -> OutgoingEvent {
    event("flywheel.registry.region.created", &r.id, corr, &pb::RegionCreated { region: Some(r.clone()) })
}

pub fn region_updated(r: &pb::Region, changed: &[String], corr: &str) -> OutgoingEvent {
    let msg = pb::RegionUpdated { region: Some(r.clone()), changed_fields: changed.to_vec() };
    event("flywheel.registry.region.updated", &r.id, corr, &msg)
}

pub fn region_retired(r: &pb::Region, corr: &str) -> OutgoingEvent {
    event("flywheel.registry.region.retired", &r.id, corr, &pb::RegionRetired { region: Some(r.clone()) })
}

pub fn site_registered(s: &pb::Site, corr: &str) -> OutgoingEvent {
    event("flywheel.registry.site.registered", &s.id, corr, &pb::SiteRegistered { site: Some(s.clone()) })
}

pub fn site_updated(s: &pb::Site, changed: &[String], corr: &str) -> OutgoingEvent {
    let msg = pb::SiteUpdated { site: Some(s.clone()), changed_fields: changed.to_vec() };
    event("flywheel.registry.site.updated", &s.id, corr, &msg)
}

pub fn site_retired(s: &pb::Site, reason: &str, corr: &str) -> OutgoingEvent {
    let msg = pb::SiteRetired { site: Some(s.clone()), reason: reason.to_owned() };
    event("flywheel.registry.site.retired", &s.id, corr, &msg)
}

pub fn zone_created(z: &pb::Zone, corr: &str) -> OutgoingEvent {
    event("flywheel.registry.zone.created", &z.id, corr, &pb::ZoneCreated { zone: Some(z.clone()) })
}

pub fn zone_updated(z: &pb::Zone, changed: &[String], corr: &str) -> OutgoingEvent {
    let msg = pb::ZoneUpdated { zone: Some(z.clone()), changed_fields: changed.to_vec() };
    event("flywheel.registry.zone.updated", &z.id, corr, &msg)
}

pub fn zone_retired(z: &pb::Zone, corr: &str) -> OutgoingEvent {
    event("flywheel.registry.zone.retired", &z.id, corr, &pb::ZoneRetired { zone: Some(z.clone()) })
}

pub fn asset_registered(a: &pb::Asset, corr: &str) -> OutgoingEvent {
    event("flywheel.registry.asset.registered", &a.id, corr, &pb::AssetRegistered { asset: Some(a.clone()) })
}

pub fn asset_updated(a: &pb::Asset, changed: &[String], corr: &str) -> OutgoingEvent {
    let msg = pb::AssetUpdated { asset: Some(a.clone()), changed_fields: changed.to_vec() };
    event("flywheel.registry.asset.updated", &a.id, corr, &msg)
}

pub fn asset_retired(a: &pb::Asset, corr: &str) -> OutgoingEvent {
    event("flywheel.registry.asset.retired", &a.id, corr, &pb::AssetRetired { asset: Some(a.clone()) })
}

pub fn category_defined(c: &pb::Category, corr: &str) -> OutgoingEvent {
    event("flywheel.registry.category.defined", &c.id, corr, &pb::CategoryDefined { category: Some(c.clone()) })
}

pub fn category_changed(c: &pb::Category, changed: &[String], corr: &str) -> OutgoingEvent {
    let msg = pb::CategoryChanged { category: Some(c.clone()), changed_fields: changed.to_vec() };
    event("flywheel.registry.category.changed", &c.id, corr, &msg)
}

pub fn category_retired(c: &pb::Category, corr: &str) -> OutgoingEvent {
    event("flywheel.registry.category.retired", &c.id, corr, &pb::CategoryRetired { category: Some(c.clone()) })
}

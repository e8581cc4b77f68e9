//! The local replica of the registry's sites and categories, kept from registry events, so
//! reports are placed and classified while the registry is down.

use crate::store::entities::{category, site, zone};
use flywheel_proto::flywheel::registry::v1 as registry;
use flywheel_runtime::events::IncomingEvent;
use flywheel_runtime::events::consumer::{EventHandler, HandlerError};
use sea_orm::{ActiveModelTrait, DatabaseTransaction, EntityTrait, IntoActiveModel};

pub struct RegistryEvents;

#[async_trait::async_trait]
impl EventHandler for RegistryEvents {
    async fn handle(&self, txn: &DatabaseTransaction, event: &IncomingEvent) -> Result<(), HandlerError> {
        match event.subject.as_str() {
            "flywheel.registry.site.registered" => save_site(txn, event.decode::<registry::SiteRegistered>()?.site).await,
            "flywheel.registry.site.updated" => save_site(txn, event.decode::<registry::SiteUpdated>()?.site).await,
            "flywheel.registry.site.retired" => save_site(txn, event.decode::<registry::SiteRetired>()?.site).await,
            "flywheel.registry.zone.created" => save_zone(txn, event.decode::<registry::ZoneCreated>()?.zone).await,
            "flywheel.registry.zone.updated" => save_zone(txn, event.decode::<registry::ZoneUpdated>()?.zone).await,
            "flywheel.registry.zone.retired" => save_zone(txn, event.decode::<registry::ZoneRetired>()?.zone).await,
            "flywheel.registry.category.defined" => {
                save_category(txn, event.decode::<registry::CategoryDefined>()?.category).await
            }
            "flywheel.registry.category.changed" => {
                save_category(txn, event.decode::<registry::CategoryChanged>()?.category).await
            }
            "flywheel.registry.category.retired" => {
                save_category(txn, event.decode::<registry::CategoryRetired>()?.category).await
            }
            // Regions and assets are of no use to feedback.
            _ => Ok(()),
        }
    }
}

fn missing(what: &str) -> HandlerError {
    HandlerError::Permanent(anyhow::anyhow!("the event carries no {what}"))
}

async fn save_site(txn: &DatabaseTransaction, site: Option<registry::Site>) -> Result<(), HandlerError> {
    let s = site.ok_or_else(|| missing("site"))?;
    let location = s.location.unwrap_or_default();
    let row = site::Model {
        region_path: path(&s.region_path),
        id: s.id,
        code: s.code,
        name: s.name,
        lat: location.lat,
        lng: location.lng,
        service_radius_m: s.service_radius_m,
        address: s.address,
        status: s.status,
        version: s.version,
    };
    let existing = site::Entity::find_by_id(row.id.clone()).one(txn).await?;
    upsert(txn, existing.map(|e| e.version), row.version, row.into_active_model()).await
}

async fn save_zone(txn: &DatabaseTransaction, zone: Option<registry::Zone>) -> Result<(), HandlerError> {
    let z = zone.ok_or_else(|| missing("zone"))?;
    let row = zone::Model { id: z.id, site_id: z.site_id, status: z.status, version: z.version };
    let existing = zone::Entity::find_by_id(row.id.clone()).one(txn).await?;
    upsert(txn, existing.map(|e| e.version), row.version, row.into_active_model()).await
}

async fn save_category(txn: &DatabaseTransaction, category: Option<registry::Category>) -> Result<(), HandlerError> {
    let c = category.ok_or_else(|| missing("category"))?;
    let cell = c.cell.unwrap_or_default();
    let row = category::Model {
        id: c.id,
        code: c.code,
        name: c.name,
        description: c.description,
        dimension: cell.dimension,
        perspective: cell.perspective,
        default_priority: c.default_priority,
        status: c.status,
        version: c.version,
    };
    let existing = category::Entity::find_by_id(row.id.clone()).one(txn).await?;
    upsert(txn, existing.map(|e| e.version), row.version, row.into_active_model()).await
}

/// Inserts a new row, or overwrites one at an older version (a replayed old event changes nothing).
async fn upsert<A>(txn: &DatabaseTransaction, stored: Option<i64>, incoming: i64, row: A) -> Result<(), HandlerError>
where
    A: ActiveModelTrait + sea_orm::ActiveModelBehavior + Send,
    <A::Entity as sea_orm::EntityTrait>::Model: IntoActiveModel<A>,
{
    match stored {
        None => {
            row.insert(txn).await?;
        }
        Some(version) if version < incoming => {
            row.reset_all().update(txn).await?;
        }
        Some(_) => {}
    }
    Ok(())
}

/// Region ids as the `/city/district/street/` path reports store for subtree filters.
fn path(ids: &[String]) -> String {
    if ids.is_empty() { String::new() } else { format!("/{}/", ids.join("/")) }
}

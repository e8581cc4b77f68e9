use super::{Page, Registry, new_id, next_token, paging};
use crate::convert;
use crate::domain::{check_active, lifecycle::check_mask, site as rules};
use crate::events;
use crate::store::entities::{site, zone};
use crate::store::{self, load, referenced};
use flywheel_proto::flywheel::registry::v1::{
    CreateZoneRequest, ListZonesRequest, RetireZoneRequest, Status, UpdateZoneRequest, Zone,
};
use flywheel_runtime::db::now_micros;
use flywheel_runtime::{Error, Result, pagination};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

impl Registry {
    pub async fn create_zone(&self, req: CreateZoneRequest, corr: &str) -> Result<Zone> {
        let zone = req.zone.ok_or_else(|| Error::invalid("zone", "is required"))?;
        rules::validate_zone(&zone, None)?;
        let id = self
            .writer
            .write_once("CreateZone", &req.request_id, async |txn| {
                let site = referenced::<site::Entity>(txn, "zone.site_id", &zone.site_id).await?;
                check_active("site", &site.id, site.status, "given new zones")?;
                let taken = zone::Entity::find()
                    .filter(zone::Column::SiteId.eq(&site.id))
                    .filter(zone::Column::Code.eq(&zone.code))
                    .one(txn)
                    .await?;
                if taken.is_some() {
                    return Err(Error::AlreadyExists { kind: "zone", field: "code", value: zone.code.clone() });
                }
                let now = now_micros();
                let row = zone::Model {
                    id: new_id(),
                    site_id: site.id,
                    code: zone.code.clone(),
                    name: zone.name.trim().to_owned(),
                    description: zone.description.clone(),
                    status: Status::Active as i32,
                    version: 1,
                    create_us: now,
                    update_us: now,
                };
                store::insert(txn, "zone", "code", &zone.code, zone::ActiveModel::from(row.clone())).await?;
                let created = convert::zone(row);
                Ok((created.id.clone(), vec![events::zone_created(&created, corr)]))
            })
            .await?;
        self.get_zone(&id).await
    }

    pub async fn get_zone(&self, id: &str) -> Result<Zone> {
        Ok(convert::zone(load::<zone::Entity>(self.db(), "zone", id).await?))
    }

    pub async fn list_zones(&self, req: ListZonesRequest) -> Result<Page<Zone>> {
        let fp = pagination::fingerprint(&[&req.site_id, &req.status]);
        let (size, after) = paging(req.page_size, &req.page_token, fp)?;
        let mut select = zone::Entity::find();
        if !req.site_id.is_empty() {
            select = select.filter(zone::Column::SiteId.eq(&req.site_id));
        }
        if req.status != 0 {
            select = select.filter(zone::Column::Status.eq(req.status));
        }
        let (rows, more) = store::page(self.db(), select, after, size).await?;
        let next_page_token = next_token(rows.last().map(|r| r.id.as_str()), more, fp);
        Ok(Page { items: rows.into_iter().map(convert::zone).collect(), next_page_token })
    }

    pub async fn update_zone(&self, req: UpdateZoneRequest, corr: &str) -> Result<Zone> {
        let zone = req.zone.ok_or_else(|| Error::invalid("zone", "is required"))?;
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
        check_mask(&paths, rules::ZONE_UPDATABLE)?;
        rules::validate_zone(&zone, Some(&paths))?;
        self.writer
            .write(async |txn| {
                let row = store::load_for_change::<zone::Entity>(txn, "zone", &zone.id, zone.version, "updated").await?;
                let mut changes = zone::ActiveModel {
                    version: Set(row.version + 1),
                    update_us: Set(now_micros()),
                    ..Default::default()
                };
                if paths.iter().any(|p| p == "name") {
                    changes.name = Set(zone.name.trim().to_owned());
                }
                if paths.iter().any(|p| p == "description") {
                    changes.description = Set(zone.description.clone());
                }
                store::save_versioned(txn, "zone", &row.id, row.version, changes).await?;
                let updated = convert::zone(load::<zone::Entity>(txn, "zone", &row.id).await?);
                let event = events::zone_updated(&updated, &paths, corr);
                Ok((updated, vec![event]))
            })
            .await
    }

    pub async fn retire_zone(&self, req: RetireZoneRequest, corr: &str) -> Result<Zone> {
        let id = self
            .writer
            .write_once("RetireZone", &req.request_id, async |txn| {
                store::load_for_change::<zone::Entity>(txn, "zone", &req.id, req.version, "retired").await?;
                let row = store::retire::<zone::Entity>(txn, "zone", &req.id, req.version, &[]).await?;
                let retired = convert::zone(row.clone());
                Ok((row.id, vec![events::zone_retired(&retired, corr)]))
            })
            .await?;
        self.get_zone(&id).await
    }
}

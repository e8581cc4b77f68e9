use super::{Page, Registry, new_id, next_token, paging};
use crate::convert;
use crate::domain::{check_active, lifecycle::check_mask, site as rules};
use crate::events;
use crate::store::entities::{asset, site, zone};
use crate::store::{self, load, referenced};
use flywheel_proto::flywheel::registry::v1::{
    Asset, ListAssetsRequest, RegisterAssetRequest, RetireAssetRequest, Status, UpdateAssetRequest,
};
use flywheel_runtime::db::now_micros;
use flywheel_runtime::{Error, Result, pagination};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};

impl Registry {
    pub async fn register_asset(&self, req: RegisterAssetRequest, corr: &str) -> Result<Asset> {
        let asset = req.asset.ok_or_else(|| Error::invalid("asset", "is required"))?;
        rules::validate_asset(&asset, None)?;
        let id = self
            .writer
            .write_once("RegisterAsset", &req.request_id, async |txn| {
                let site = referenced::<site::Entity>(txn, "asset.site_id", &asset.site_id).await?;
                check_active("site", &site.id, site.status, "given new assets")?;
                let zone_id = zone_of(txn, &site.id, &asset.zone_id).await?;
                let taken = asset::Entity::find()
                    .filter(asset::Column::SiteId.eq(&site.id))
                    .filter(asset::Column::Tag.eq(&asset.tag))
                    .one(txn)
                    .await?;
                if taken.is_some() {
                    return Err(Error::AlreadyExists { kind: "asset", field: "tag", value: asset.tag.clone() });
                }
                let now = now_micros();
                let row = asset::Model {
                    id: new_id(),
                    site_id: site.id,
                    zone_id,
                    tag: asset.tag.clone(),
                    kind: asset.kind.trim().to_owned(),
                    name: asset.name.clone(),
                    lat: asset.location.as_ref().map(|p| p.lat),
                    lng: asset.location.as_ref().map(|p| p.lng),
                    status: Status::Active as i32,
                    version: 1,
                    create_us: now,
                    update_us: now,
                };
                store::insert(txn, "asset", "tag", &asset.tag, asset::ActiveModel::from(row.clone())).await?;
                let created = convert::asset(row);
                Ok((created.id.clone(), vec![events::asset_registered(&created, corr)]))
            })
            .await?;
        self.get_asset(&id).await
    }

    pub async fn get_asset(&self, id: &str) -> Result<Asset> {
        Ok(convert::asset(load::<asset::Entity>(self.db(), "asset", id).await?))
    }

    pub async fn list_assets(&self, req: ListAssetsRequest) -> Result<Page<Asset>> {
        let fp = pagination::fingerprint(&[&req.site_id, &req.zone_id, &req.kind, &req.status]);
        let (size, after) = paging(req.page_size, &req.page_token, fp)?;
        let mut select = asset::Entity::find();
        if !req.site_id.is_empty() {
            select = select.filter(asset::Column::SiteId.eq(&req.site_id));
        }
        if !req.zone_id.is_empty() {
            select = select.filter(asset::Column::ZoneId.eq(&req.zone_id));
        }
        if !req.kind.is_empty() {
            select = select.filter(asset::Column::Kind.eq(&req.kind));
        }
        if req.status != 0 {
            select = select.filter(asset::Column::Status.eq(req.status));
        }
        let (rows, more) = store::page(self.db(), select, after, size).await?;
        let next_page_token = next_token(rows.last().map(|r| r.id.as_str()), more, fp);
        Ok(Page { items: rows.into_iter().map(convert::asset).collect(), next_page_token })
    }

    pub async fn update_asset(&self, req: UpdateAssetRequest, corr: &str) -> Result<Asset> {
        let asset = req.asset.ok_or_else(|| Error::invalid("asset", "is required"))?;
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
        check_mask(&paths, rules::ASSET_UPDATABLE)?;
        rules::validate_asset(&asset, Some(&paths))?;
        self.writer
            .write(async |txn| {
                let row = store::load_for_change::<asset::Entity>(txn, "asset", &asset.id, asset.version, "updated").await?;
                let mut changes = asset::ActiveModel {
                    version: Set(row.version + 1),
                    update_us: Set(now_micros()),
                    ..Default::default()
                };
                for path in &paths {
                    match path.as_str() {
                        "zone_id" => changes.zone_id = Set(zone_of(txn, &row.site_id, &asset.zone_id).await?),
                        "kind" => changes.kind = Set(asset.kind.trim().to_owned()),
                        "name" => changes.name = Set(asset.name.clone()),
                        "location" => {
                            changes.lat = Set(asset.location.as_ref().map(|p| p.lat));
                            changes.lng = Set(asset.location.as_ref().map(|p| p.lng));
                        }
                        _ => {}
                    }
                }
                store::save_versioned(txn, "asset", &row.id, row.version, changes).await?;
                let updated = convert::asset(load::<asset::Entity>(txn, "asset", &row.id).await?);
                let event = events::asset_updated(&updated, &paths, corr);
                Ok((updated, vec![event]))
            })
            .await
    }

    pub async fn retire_asset(&self, req: RetireAssetRequest, corr: &str) -> Result<Asset> {
        let id = self
            .writer
            .write_once("RetireAsset", &req.request_id, async |txn| {
                store::load_for_change::<asset::Entity>(txn, "asset", &req.id, req.version, "retired").await?;
                let row = store::retire::<asset::Entity>(txn, "asset", &req.id, req.version, &[]).await?;
                let retired = convert::asset(row.clone());
                Ok((row.id, vec![events::asset_retired(&retired, corr)]))
            })
            .await?;
        self.get_asset(&id).await
    }
}

/// The zone an asset is placed in: none, or an active zone of the same site.
async fn zone_of(txn: &DatabaseTransaction, site_id: &str, zone_id: &str) -> Result<Option<String>> {
    if zone_id.is_empty() {
        return Ok(None);
    }
    let zone = referenced::<zone::Entity>(txn, "asset.zone_id", zone_id).await?;
    if zone.site_id != site_id {
        return Err(Error::invalid("asset.zone_id", "is a zone of another site"));
    }
    check_active("zone", &zone.id, zone.status, "given new assets")?;
    Ok(Some(zone.id))
}

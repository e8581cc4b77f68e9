use super::{Page, Registry, new_id, next_token, paging};
use crate::convert::{self, micros};
use crate::domain::{check_active, geo, site as rules};
use crate::events;
use crate::store::entities::{region, site};
use crate::store::{self, load, referenced};
use flywheel_proto::flywheel::common::v1::GeoPoint;
use flywheel_proto::flywheel::registry::v1::{
    ListSitesRequest, RegisterSiteRequest, RetireSiteRequest, Site, Status, UpdateSiteRequest,
};
use flywheel_runtime::db::now_micros;
use flywheel_runtime::{Error, Result, Violations, pagination};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};

/// Places read per round while a radius filter thins a page.
const SCAN_BATCH: u64 = 500;

impl Registry {
    pub async fn register_site(&self, req: RegisterSiteRequest, corr: &str) -> Result<Site> {
        let site = req.site.ok_or_else(|| Error::invalid("site", "is required"))?;
        rules::validate_site(&site, None)?;
        let id = self
            .writer
            .write_once("RegisterSite", &req.request_id, async |txn| {
                if site::Entity::find().filter(site::Column::Code.eq(&site.code)).one(txn).await?.is_some() {
                    return Err(Error::AlreadyExists { kind: "site", field: "code", value: site.code.clone() });
                }
                let region = active_region(txn, &site.region_id).await?;
                let location = site.location.unwrap_or_default();
                let now = now_micros();
                let row = site::Model {
                    id: new_id(),
                    code: site.code.clone(),
                    name: site.name.trim().to_owned(),
                    site_type: site.r#type,
                    region_id: region.id,
                    region_path: region.path,
                    lat: location.lat,
                    lng: location.lng,
                    service_radius_m: site.service_radius_m,
                    flagship: site.flagship,
                    contract_start_us: site.contract_start.as_ref().map(micros),
                    contract_end_us: site.contract_end.as_ref().map(micros),
                    address: site.address.clone(),
                    status: Status::Active as i32,
                    version: 1,
                    create_us: now,
                    update_us: now,
                    retire_us: None,
                };
                store::insert(txn, "site", "code", &site.code, site::ActiveModel::from(row.clone())).await?;
                let created = convert::site(row);
                Ok((created.id.clone(), vec![events::site_registered(&created, corr)]))
            })
            .await?;
        self.get_site(&id).await
    }

    pub async fn get_site(&self, id: &str) -> Result<Site> {
        Ok(convert::site(load::<site::Entity>(self.db(), "site", id).await?))
    }

    pub async fn list_sites(&self, req: ListSitesRequest) -> Result<Page<Site>> {
        let circle = req.within.as_ref();
        if let Some(c) = circle {
            let mut v = Violations::new();
            rules::validate_circle(&mut v, c.center.as_ref(), c.radius_m);
            v.finish(())?;
        }
        let flagship = req.flagship.map(|f| f.to_string()).unwrap_or_default();
        let within = circle
            .map(|c| format!("{:?}/{}", c.center.as_ref().map(|p| (p.lat, p.lng)), c.radius_m))
            .unwrap_or_default();
        let fp = pagination::fingerprint(&[&req.region_id, &req.r#type, &flagship, &req.status, &within]);
        let (size, mut after) = paging(req.page_size, &req.page_token, fp)?;

        let mut select = site::Entity::find();
        if !req.region_id.is_empty() {
            let Some(region) = region::Entity::find_by_id(req.region_id.clone()).one(self.db()).await? else {
                return Ok(Page { items: vec![], next_page_token: String::new() });
            };
            // A region without children holds exactly the sites placed in it: the (region_id, id)
            // index serves them in page order. A subtree is a path prefix.
            select = if region::Entity::find().filter(region::Column::ParentId.eq(&region.id)).one(self.db()).await?.is_none() {
                select.filter(site::Column::RegionId.eq(&region.id))
            } else {
                select.filter(site::Column::RegionPath.starts_with(&region.path))
            };
        }
        if req.r#type != 0 {
            select = select.filter(site::Column::SiteType.eq(req.r#type));
        }
        if let Some(flagship) = req.flagship {
            select = select.filter(site::Column::Flagship.eq(flagship));
        }
        if req.status != 0 {
            select = select.filter(site::Column::Status.eq(req.status));
        }
        let Some(circle) = circle else {
            let (rows, more) = store::page(self.db(), select, after, size).await?;
            let next_page_token = next_token(rows.last().map(|r| r.id.as_str()), more, fp);
            return Ok(Page { items: rows.into_iter().map(convert::site).collect(), next_page_token });
        };

        // The bounding box narrows in SQL on the sites' places alone; the exact great-circle
        // check thins them, and only the page's rows are read.
        let center = circle.center.unwrap_or_default();
        let bbox = geo::bounding_box(&center, circle.radius_m);
        select = select.filter(site::Column::Lat.between(bbox.lat.0, bbox.lat.1));
        if let Some((lo, hi)) = bbox.lng {
            select = select.filter(site::Column::Lng.between(lo, hi));
        }
        let mut ids = Vec::new();
        let more = 'scan: loop {
            let (places, more) = store::site_places(self.db(), select.clone(), after.clone(), SCAN_BATCH).await?;
            after = places.last().map(|(id, _, _)| id.clone()).or(after);
            for (id, lat, lng) in places {
                if geo::distance_m(&center, &GeoPoint { lat, lng }) <= circle.radius_m {
                    if ids.len() as u64 == size {
                        break 'scan true;
                    }
                    ids.push(id);
                }
            }
            if !more {
                break false;
            }
        };
        let rows = store::sites_by_id(self.db(), ids).await?;
        let next_page_token = next_token(rows.last().map(|r| r.id.as_str()), more, fp);
        Ok(Page { items: rows.into_iter().map(convert::site).collect(), next_page_token })
    }

    pub async fn update_site(&self, req: UpdateSiteRequest, corr: &str) -> Result<Site> {
        let site = req.site.ok_or_else(|| Error::invalid("site", "is required"))?;
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
        crate::domain::lifecycle::check_mask(&paths, rules::SITE_UPDATABLE)?;
        rules::validate_site(&site, Some(&paths))?;
        self.writer
            .write(async |txn| {
                let row = store::load_for_change::<site::Entity>(txn, "site", &site.id, site.version, "updated").await?;
                let mut changes = site::ActiveModel {
                    version: Set(row.version + 1),
                    update_us: Set(now_micros()),
                    ..Default::default()
                };
                let location = site.location.unwrap_or_default();
                for path in &paths {
                    match path.as_str() {
                        "name" => changes.name = Set(site.name.trim().to_owned()),
                        "type" => changes.site_type = Set(site.r#type),
                        "region_id" => {
                            let region = active_region(txn, &site.region_id).await?;
                            changes.region_id = Set(region.id);
                            changes.region_path = Set(region.path);
                        }
                        "location" => {
                            changes.lat = Set(location.lat);
                            changes.lng = Set(location.lng);
                        }
                        "service_radius_m" => changes.service_radius_m = Set(site.service_radius_m),
                        "flagship" => changes.flagship = Set(site.flagship),
                        "contract_start" => changes.contract_start_us = Set(site.contract_start.as_ref().map(micros)),
                        "contract_end" => changes.contract_end_us = Set(site.contract_end.as_ref().map(micros)),
                        "address" => changes.address = Set(site.address.clone()),
                        _ => {}
                    }
                }
                let start = changes.contract_start_us.clone().take().unwrap_or(row.contract_start_us);
                let end = changes.contract_end_us.clone().take().unwrap_or(row.contract_end_us);
                if let (Some(start), Some(end)) = (start, end)
                    && end <= start
                {
                    return Err(Error::invalid("site.contract_end", "must be after contract_start"));
                }
                store::save_versioned(txn, "site", &row.id, row.version, changes).await?;
                let updated = convert::site(load::<site::Entity>(txn, "site", &row.id).await?);
                let event = events::site_updated(&updated, &paths, corr);
                Ok((updated, vec![event]))
            })
            .await
    }

    pub async fn retire_site(&self, req: RetireSiteRequest, corr: &str) -> Result<Site> {
        let mut v = Violations::new();
        crate::domain::text::optional(&mut v, "reason", &req.reason, 500);
        v.finish(())?;
        let id = self
            .writer
            .write_once("RetireSite", &req.request_id, async |txn| {
                let row = store::load_for_change::<site::Entity>(txn, "site", &req.id, req.version, "retired").await?;
                let retire_us = sea_orm::Value::from(Some(now_micros()));
                let row = store::retire::<site::Entity>(txn, "site", &row.id, row.version, &[("retire_us", retire_us)]).await?;
                let retired = convert::site(row.clone());
                Ok((row.id, vec![events::site_retired(&retired, &req.reason, corr)]))
            })
            .await?;
        self.get_site(&id).await
    }
}

/// The region a site is placed in: it must exist (a bad field otherwise) and be active.
async fn active_region(txn: &DatabaseTransaction, id: &str) -> Result<region::Model> {
    let region = referenced::<region::Entity>(txn, "site.region_id", id).await?;
    check_active("region", &region.id, region.status, "given new sites")?;
    Ok(region)
}

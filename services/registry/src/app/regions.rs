use super::{Page, Registry, new_id, next_token, paging};
use crate::convert;
use crate::domain::{check_active, region as rules};
use crate::events;
use crate::store::entities::{region, site};
use crate::store::{self, load, referenced};
use flywheel_proto::flywheel::registry::v1::{
    CreateRegionRequest, ListRegionsRequest, Region, RegionKind, RetireRegionRequest, Status, UpdateRegionRequest,
};
use flywheel_runtime::db::now_micros;
use flywheel_runtime::{Error, Result, pagination};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};

impl Registry {
    pub async fn create_region(&self, req: CreateRegionRequest, corr: &str) -> Result<Region> {
        let region = req.region.ok_or_else(|| Error::invalid("region", "is required"))?;
        rules::validate_new(&region)?;
        let kind = RegionKind::try_from(region.kind).unwrap_or(RegionKind::Unspecified);
        let id = self
            .writer
            .write_once("CreateRegion", &req.request_id, async |txn| {
                if region::Entity::find().filter(region::Column::Code.eq(&region.code)).one(txn).await?.is_some() {
                    return Err(Error::AlreadyExists { kind: "region", field: "code", value: region.code.clone() });
                }
                let id = new_id();
                let (parent_id, path) = if region.parent_id.is_empty() {
                    (None, rules::child_path("", &id))
                } else {
                    let parent = referenced::<region::Entity>(txn, "region.parent_id", &region.parent_id).await?;
                    check_active("region", &parent.id, parent.status, "given new child regions")?;
                    let parent_kind = RegionKind::try_from(parent.kind).unwrap_or(RegionKind::Unspecified);
                    rules::check_parent(kind, &parent.id, parent_kind)?;
                    (Some(parent.id), rules::child_path(&parent.path, &id))
                };
                let now = now_micros();
                let row = region::Model {
                    id: id.clone(),
                    code: region.code.clone(),
                    name: region.name.trim().to_owned(),
                    kind: region.kind,
                    parent_id,
                    path,
                    status: Status::Active as i32,
                    version: 1,
                    create_us: now,
                    update_us: now,
                };
                store::insert(txn, "region", "code", &region.code, region::ActiveModel::from(row.clone())).await?;
                let created = convert::region(row);
                Ok((id, vec![events::region_created(&created, corr)]))
            })
            .await?;
        self.get_region(&id).await
    }

    pub async fn get_region(&self, id: &str) -> Result<Region> {
        Ok(convert::region(load::<region::Entity>(self.db(), "region", id).await?))
    }

    pub async fn list_regions(&self, req: ListRegionsRequest) -> Result<Page<Region>> {
        let fp = pagination::fingerprint(&[&req.parent_id, &req.ancestor_id, &req.kind, &req.status]);
        let (size, after) = paging(req.page_size, &req.page_token, fp)?;
        let mut select = region::Entity::find();
        if !req.parent_id.is_empty() {
            select = select.filter(region::Column::ParentId.eq(&req.parent_id));
        }
        if !req.ancestor_id.is_empty() {
            let Some(ancestor) = region::Entity::find_by_id(req.ancestor_id.clone()).one(self.db()).await? else {
                return Ok(Page { items: vec![], next_page_token: String::new() });
            };
            select = select
                .filter(region::Column::Path.starts_with(&ancestor.path))
                .filter(region::Column::Id.ne(&ancestor.id));
        }
        if req.kind != 0 {
            select = select.filter(region::Column::Kind.eq(req.kind));
        }
        if req.status != 0 {
            select = select.filter(region::Column::Status.eq(req.status));
        }
        let (rows, more) = store::page(self.db(), select, after, size).await?;
        let next_page_token = next_token(rows.last().map(|r| r.id.as_str()), more, fp);
        Ok(Page { items: rows.into_iter().map(convert::region).collect(), next_page_token })
    }

    pub async fn update_region(&self, req: UpdateRegionRequest, corr: &str) -> Result<Region> {
        let region = req.region.ok_or_else(|| Error::invalid("region", "is required"))?;
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
        rules::validate_update(&region, &paths)?;
        self.writer
            .write(async |txn| {
                let row = store::load_for_change::<region::Entity>(txn, "region", &region.id, region.version, "updated").await?;
                let changes = region::ActiveModel {
                    name: Set(region.name.trim().to_owned()),
                    version: Set(row.version + 1),
                    update_us: Set(now_micros()),
                    ..Default::default()
                };
                store::save_versioned(txn, "region", &row.id, row.version, changes).await?;
                let updated = convert::region(load::<region::Entity>(txn, "region", &row.id).await?);
                let event = events::region_updated(&updated, &paths, corr);
                Ok((updated, vec![event]))
            })
            .await
    }

    pub async fn retire_region(&self, req: RetireRegionRequest, corr: &str) -> Result<Region> {
        let id = self
            .writer
            .write_once("RetireRegion", &req.request_id, async |txn| {
                let row = store::load_for_change::<region::Entity>(txn, "region", &req.id, req.version, "retired").await?;
                let active_children = region::Entity::find()
                    .filter(region::Column::ParentId.eq(&row.id))
                    .filter(region::Column::Status.eq(Status::Active as i32))
                    .count(txn)
                    .await?;
                let active_sites = site::Entity::find()
                    .filter(site::Column::RegionId.eq(&row.id))
                    .filter(site::Column::Status.eq(Status::Active as i32))
                    .count(txn)
                    .await?;
                if active_children + active_sites > 0 {
                    return Err(Error::FailedPrecondition {
                        kind: "region",
                        id: row.id.clone(),
                        state: "ACTIVE".into(),
                        reason: format!(
                            "still holds {active_children} active regions and {active_sites} active sites"
                        ),
                    });
                }
                let retired = convert::region(store::retire::<region::Entity>(txn, "region", &row.id, row.version, &[]).await?);
                Ok((row.id, vec![events::region_retired(&retired, corr)]))
            })
            .await?;
        self.get_region(&id).await
    }
}

//! Where filings land: the managed site, zone and category each names or implies, looked up for
//! a whole batch at once (one query per kind; one per report only for a location without a site).

use crate::domain::geo::{self, METRES_PER_DEGREE_LAT, SiteArea};
use crate::store::entities::{category, site, zone};
use flywheel_proto::flywheel::common::v1::GeoPoint;
use flywheel_proto::flywheel::feedback::v1::Report;
use flywheel_proto::flywheel::registry::v1::Status as RegistryStatus;
use flywheel_runtime::{Error, Result, bulk};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter};
use std::collections::HashMap;

/// The widest service radius the registry allows, to narrow the site search.
const MAX_SITE_RADIUS_M: f64 = 50_000.0;

/// What a filing is placed on.
pub(super) struct Place {
    pub site: site::Model,
    pub category: Option<category::Model>,
}

/// The named sites, zones and categories of a batch's drafts.
pub(super) struct Named {
    sites: HashMap<String, site::Model>,
    zones: HashMap<String, zone::Model>,
    categories: HashMap<String, category::Model>,
}

impl Named {
    pub(super) async fn load(txn: &DatabaseTransaction, drafts: &[&Report]) -> Result<Self> {
        let ids = |field: fn(&Report) -> &str| {
            let mut ids: Vec<String> = drafts.iter().map(|d| field(d)).filter(|id| !id.is_empty()).map(str::to_owned).collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let (site_ids, zone_ids, category_ids) = (ids(|d| &d.site_id), ids(|d| &d.zone_id), ids(|d| &d.category_id));
        let backend = txn.get_database_backend();
        let sites = if site_ids.is_empty() {
            Vec::new()
        } else {
            site::Entity::find().filter(bulk::is_in(backend, (site::Entity, site::Column::Id), site_ids)).all(txn).await?
        };
        let zones = if zone_ids.is_empty() {
            Vec::new()
        } else {
            zone::Entity::find().filter(bulk::is_in(backend, (zone::Entity, zone::Column::Id), zone_ids)).all(txn).await?
        };
        let categories = if category_ids.is_empty() {
            Vec::new()
        } else {
            category::Entity::find().filter(bulk::is_in(backend, (category::Entity, category::Column::Id), category_ids)).all(txn).await?
        };
        Ok(Self {
            sites: sites.into_iter().map(|s| (s.id.clone(), s)).collect(),
            zones: zones.into_iter().map(|z| (z.id.clone(), z)).collect(),
            categories: categories.into_iter().map(|c| (c.id.clone(), c)).collect(),
        })
    }

    /// The managed site, active zone and category of `draft`, or why it cannot be filed.
    pub(super) async fn place(&self, txn: &DatabaseTransaction, draft: &Report) -> Result<Place> {
        let site = match draft.site_id.as_str() {
            "" => covering_site(txn, draft).await?,
            id => self.sites.get(id).cloned().ok_or_else(|| Error::not_found("site", id))?,
        };
        refuse_retired("site", site.status, &site.id)?;
        if !draft.zone_id.is_empty() {
            let z = self.zones.get(&draft.zone_id).ok_or_else(|| Error::not_found("zone", &draft.zone_id))?;
            if z.site_id != site.id {
                return Err(Error::invalid("report.zone_id", format!("is not a zone of site {}", site.id)));
            }
            refuse_retired("zone", z.status, &z.id)?;
        }
        let category = match draft.category_id.as_str() {
            "" => None,
            id => {
                let c = self.categories.get(id).cloned().ok_or_else(|| Error::not_found("category", id))?;
                refuse_retired("category", c.status, &c.id)?;
                Some(c)
            }
        };
        Ok(Place { site, category })
    }
}

/// The active site whose radius covers the draft's location.
async fn covering_site(txn: &DatabaseTransaction, draft: &Report) -> Result<site::Model> {
    let point = draft.location.unwrap_or_default();
    let dlat = MAX_SITE_RADIUS_M / METRES_PER_DEGREE_LAT;
    let nearby = site::Entity::find()
        .filter(site::Column::Status.eq(RegistryStatus::Active as i32))
        .filter(site::Column::Lat.between(point.lat - dlat, point.lat + dlat))
        .all(txn)
        .await?;
    let areas: Vec<SiteArea> = nearby
        .iter()
        .map(|s| SiteArea { id: s.id.clone(), center: GeoPoint { lat: s.lat, lng: s.lng }, radius_m: s.service_radius_m })
        .collect();
    let id = geo::covering_site(&point, &areas)
        .map(|s| s.id.clone())
        .ok_or_else(|| Error::invalid("report.location", "no managed site covers this location"))?;
    nearby.into_iter().find(|s| s.id == id).ok_or_else(|| Error::not_found("site", id))
}

/// A category that exists in the replica and is active.
pub(super) async fn active_category(txn: &DatabaseTransaction, id: &str) -> Result<category::Model> {
    let c = category::Entity::find_by_id(id.to_owned())
        .one(txn)
        .await?
        .ok_or_else(|| Error::not_found("category", id))?;
    refuse_retired("category", c.status, &c.id).map(|()| c)
}

/// FAILED_PRECONDITION for a retired site or category: it takes no new reports.
fn refuse_retired(kind: &'static str, status: i32, id: &str) -> Result<()> {
    if status != RegistryStatus::Retired as i32 {
        return Ok(());
    }
    Err(Error::FailedPrecondition {
        kind,
        id: id.to_owned(),
        state: "RETIRED".into(),
        reason: format!("the {kind} is retired and takes no new reports"),
    })
}

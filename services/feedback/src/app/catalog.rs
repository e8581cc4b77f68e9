//! Reads of the registry replica for the Open311 endpoint: the service list and site addresses.

use super::Feedback;
use crate::store::entities::{category, site};
use flywheel_proto::flywheel::registry::v1::Status as RegistryStatus;
use flywheel_runtime::Result;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use std::collections::HashMap;

impl Feedback {
    /// The active categories, by code.
    pub async fn active_categories(&self) -> Result<Vec<category::Model>> {
        Ok(category::Entity::find()
            .filter(category::Column::Status.eq(RegistryStatus::Active as i32))
            .order_by_asc(category::Column::Code)
            .all(self.db())
            .await?)
    }

    pub async fn category_by_code(&self, code: &str) -> Result<Option<category::Model>> {
        Ok(category::Entity::find().filter(category::Column::Code.eq(code)).one(self.db()).await?)
    }

    /// Every category and site of the replica by id (small tables), to describe reports.
    pub async fn replica_by_id(&self) -> Result<(HashMap<String, category::Model>, HashMap<String, site::Model>)> {
        let categories = category::Entity::find().all(self.db()).await?;
        let sites = site::Entity::find().all(self.db()).await?;
        Ok((
            categories.into_iter().map(|c| (c.id.clone(), c)).collect(),
            sites.into_iter().map(|s| (s.id.clone(), s)).collect(),
        ))
    }

    /// The active site registered at this address (compared without case or surrounding spaces).
    pub async fn site_by_address(&self, address: &str) -> Result<Option<site::Model>> {
        let wanted = address.trim().to_lowercase();
        let sites = site::Entity::find()
            .filter(site::Column::Status.eq(RegistryStatus::Active as i32))
            .all(self.db())
            .await?;
        Ok(sites.into_iter().find(|s| !s.address.is_empty() && s.address.trim().to_lowercase() == wanted))
    }
}

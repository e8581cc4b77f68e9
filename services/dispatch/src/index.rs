//! The in-memory crew index: active crews by the sites and regions they cover, so choosing
//! candidates for a ticket looks up the site and its few ancestor regions instead of scanning
//! every crew. Replicas keep it current by reading the crews changed since the last revision
//! they saw: with the rows of the crews a decision needs, or one indexed `MAX(rev)` query.

use crate::store::entities::crew;
use crate::store;
use flywheel_proto::flywheel::dispatch::v1::Crew;
use flywheel_runtime::Result;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::RwLock;

#[derive(Default)]
pub struct CrewIndex {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    rev: i64,
    /// Every crew, active or not, by id (id order is creation order).
    crews: BTreeMap<String, Crew>,
    by_site: HashMap<String, BTreeSet<String>>,
    by_region: HashMap<String, BTreeSet<String>>,
}

impl Inner {
    fn unlink(&mut self, id: &str) {
        if let Some(old) = self.crews.remove(id) {
            let cov = old.coverage.unwrap_or_default();
            for s in &cov.site_ids {
                self.by_site.get_mut(s).map(|set| set.remove(id));
            }
            for r in &cov.region_ids {
                self.by_region.get_mut(r).map(|set| set.remove(id));
            }
        }
    }

    fn link(&mut self, crew: Crew) {
        let cov = crew.coverage.clone().unwrap_or_default();
        if crew.active {
            for s in cov.site_ids {
                self.by_site.entry(s).or_default().insert(crew.id.clone());
            }
            for r in cov.region_ids {
                self.by_region.entry(r).or_default().insert(crew.id.clone());
            }
        }
        self.crews.insert(crew.id.clone(), crew);
    }

    fn covering(&self, site_id: &str, region_path: &[String]) -> Vec<Crew> {
        let mut ids = BTreeSet::new();
        if let Some(set) = self.by_site.get(site_id) {
            ids.extend(set.iter());
        }
        for region in region_path {
            if let Some(set) = self.by_region.get(region) {
                ids.extend(set.iter());
            }
        }
        ids.into_iter().filter_map(|id| self.crews.get(id).cloned()).collect()
    }
}

impl CrewIndex {
    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, Inner>> {
        Ok(self.inner.read().map_err(|_| anyhow::anyhow!("crew index poisoned"))?)
    }

    fn rev(&self) -> i64 {
        self.inner.read().map(|i| i.rev).unwrap_or(0)
    }

    /// Takes in crews changed since the index's revision, in revision order.
    fn apply(&self, changed: &[&crew::Model]) -> Result<()> {
        let mut crews: Vec<(i64, Crew)> = changed.iter().map(|r| Ok((r.rev, crate::convert::crew_config(r)?))).collect::<Result<_>>()?;
        crews.sort_by_key(|(rev, _)| *rev);
        let mut inner = self.inner.write().map_err(|_| anyhow::anyhow!("crew index poisoned"))?;
        for (rev, crew) in crews {
            if rev > inner.rev {
                inner.unlink(&crew.id);
                inner.link(crew);
            }
        }
        if let Some(latest) = changed.iter().map(|r| r.rev).max() {
            inner.rev = inner.rev.max(latest);
        }
        Ok(())
    }

    /// Reads the crews changed since the last refresh.
    pub async fn refresh(&self, conn: &impl ConnectionTrait) -> Result<()> {
        let seen = self.rev();
        let latest = store::latest_crew_rev(conn).await?;
        if latest <= seen {
            return Ok(());
        }
        let rows = crew::Entity::find().filter(crew::Column::Rev.gt(seen)).all(conn).await?;
        self.apply(&rows.iter().collect::<Vec<_>>())
    }

    /// The active crews covering each of `sites` (a site and its region path) and those crews'
    /// rows, bringing the index up to date in the same read: it asks for the crews the index
    /// names now and every crew changed since its last refresh. Only a changed crew can cover
    /// differently, so the coverage looked up again after the changes needs no other row.
    pub async fn covering_rows(&self, conn: &impl ConnectionTrait, sites: &[(&str, &[String])]) -> Result<(Vec<Vec<Crew>>, HashMap<String, crew::Model>)> {
        let (seen, covering) = {
            let inner = self.read()?;
            (inner.rev, sites.iter().map(|(site, regions)| inner.covering(site, regions)).collect::<Vec<_>>())
        };
        let ids: BTreeSet<String> = covering.iter().flatten().map(|c| c.id.clone()).collect();
        let rows = store::crews_by_id_or_changed(conn, ids.into_iter().collect(), seen).await?;
        let changed: Vec<&crew::Model> = rows.values().filter(|r| r.rev > seen).collect();
        if changed.is_empty() {
            return Ok((covering, rows));
        }
        self.apply(&changed)?;
        let inner = self.read()?;
        Ok((sites.iter().map(|(site, regions)| inner.covering(site, regions)).collect(), rows))
    }

    /// Active crews covering a site directly or through one of its regions.
    pub fn covering(&self, site_id: &str, region_path: &[String]) -> Vec<Crew> {
        self.read().map(|inner| inner.covering(site_id, region_path)).unwrap_or_default()
    }

    /// Every crew after `after` in id order, passing `keep`, at most `limit` (+1 to tell if more).
    pub fn scan(&self, after: Option<&str>, limit: usize, keep: impl Fn(&Crew) -> bool) -> Vec<Crew> {
        let Ok(inner) = self.inner.read() else { return Vec::new() };
        let range = match after {
            Some(a) => inner.crews.range::<str, _>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
            None => inner.crews.range::<str, _>(..),
        };
        range.map(|(_, c)| c).filter(|c| keep(c)).take(limit + 1).cloned().collect()
    }

    pub fn get(&self, id: &str) -> Option<Crew> {
        self.inner.read().ok()?.crews.get(id).cloned()
    }
}

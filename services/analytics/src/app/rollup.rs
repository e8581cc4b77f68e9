//! Rolling hour facts up into groups and buckets, with the backlog carried across buckets.

use crate::convert::path_ids;
use crate::domain::kpi::{Facts, Kpis};
use crate::domain::time::{Span, bucket_index};
use crate::store::{self, Cell, FactRow, Filter, Level, entities};
use flywheel_proto::flywheel::analytics::v1 as pb;
use flywheel_proto::flywheel::common::v1::{Dimension, Perspective, ScenarioCell};
use flywheel_proto::flywheel::registry::v1::RegionKind;
use sea_orm::{ConnectionTrait, DbErr};
use std::collections::{BTreeMap, HashMap};

/// Names and shapes from the registry's events, for grouping and display.
#[derive(Default)]
pub struct Directory {
    pub sites: HashMap<String, entities::site::Model>,
    pub regions: HashMap<String, entities::region::Model>,
    pub categories: HashMap<String, entities::category::Model>,
}

impl Directory {
    pub async fn load(db: &impl ConnectionTrait) -> Result<Self, DbErr> {
        Ok(Self {
            sites: store::sites(db).await?.into_iter().map(|s| (s.id.clone(), s)).collect(),
            regions: store::regions(db).await?.into_iter().map(|r| (r.id.clone(), r)).collect(),
            categories: store::categories(db).await?.into_iter().map(|c| (c.id.clone(), c)).collect(),
        })
    }

    /// The region of `kind` on a path, if any.
    fn region_of_kind(&self, path: &str, kind: RegionKind) -> Option<String> {
        path_ids(path).into_iter().find(|id| self.regions.get(id).is_some_and(|r| r.kind == kind as i32))
    }

    /// The display key of a group.
    pub fn key(&self, group_by: GroupBy, id: &str) -> pb::GroupKey {
        let (code, name) = match group_by {
            GroupBy::None => (String::new(), String::new()),
            GroupBy::City | GroupBy::District | GroupBy::Street => {
                self.regions.get(id).map(|r| (r.code.clone(), r.name.clone())).unwrap_or_default()
            }
            GroupBy::Site => self.sites.get(id).map(|s| (s.code.clone(), s.name.clone())).unwrap_or_default(),
            GroupBy::Category => self.categories.get(id).map(|c| (c.code.clone(), c.name.clone())).unwrap_or_default(),
            GroupBy::Cell => (String::new(), cell_name(id)),
        };
        let cell = (group_by == GroupBy::Cell).then(|| cell_of(id));
        let id = if matches!(group_by, GroupBy::Cell | GroupBy::None) { String::new() } else { id.to_owned() };
        pb::GroupKey { group_by: group_by.proto() as i32, id, cell, code, name }
    }
}

/// A cell's group id, `dimension:perspective`.
pub fn cell_id(dimension: i32, perspective: i32) -> String {
    format!("{dimension}:{perspective}")
}

fn cell_of(id: &str) -> ScenarioCell {
    let mut parts = id.split(':').map(|p| p.parse::<i32>().unwrap_or(0));
    ScenarioCell { dimension: parts.next().unwrap_or(0), perspective: parts.next().unwrap_or(0) }
}

/// "SAFETY x LIVING".
pub fn cell_name(id: &str) -> String {
    let c = cell_of(id);
    let d = Dimension::try_from(c.dimension).map(|d| d.as_str_name()).unwrap_or("?");
    let p = Perspective::try_from(c.perspective).map(|p| p.as_str_name()).unwrap_or("?");
    format!("{} x {}", d.trim_start_matches("DIMENSION_"), p.trim_start_matches("PERSPECTIVE_"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    None,
    City,
    District,
    Street,
    Site,
    Category,
    Cell,
}

impl GroupBy {
    pub fn from_proto(g: pb::GroupBy) -> Self {
        match g {
            pb::GroupBy::Unspecified => Self::None,
            pb::GroupBy::City => Self::City,
            pb::GroupBy::District => Self::District,
            pb::GroupBy::Street => Self::Street,
            pb::GroupBy::Site => Self::Site,
            pb::GroupBy::Category => Self::Category,
            pb::GroupBy::Cell => Self::Cell,
        }
    }

    fn proto(self) -> pb::GroupBy {
        match self {
            Self::None => pb::GroupBy::Unspecified,
            Self::City => pb::GroupBy::City,
            Self::District => pb::GroupBy::District,
            Self::Street => pb::GroupBy::Street,
            Self::Site => pb::GroupBy::Site,
            Self::Category => pb::GroupBy::Category,
            Self::Cell => pb::GroupBy::Cell,
        }
    }

    /// The coarsest rollup level that holds both `filter` and this grouping, if any (a region
    /// grouping needs the per-cell rows' paths).
    pub fn level(self, filter: &Filter) -> Option<Level> {
        let groups_on = |level: Level| match self {
            Self::None => true,
            Self::Site => level == Level::Site,
            Self::Category | Self::Cell => level == Level::Scenario,
            Self::City | Self::District | Self::Street => false,
        };
        Level::ALL.into_iter().find(|&level| groups_on(level) && level.holds(filter))
    }

    /// The group a fact belongs to; `None` when it belongs to none (e.g. unclassified by cell).
    fn of(self, dir: &Directory, cell: &Cell, path: &str) -> Option<String> {
        match self {
            Self::None => Some(String::new()),
            Self::City => dir.region_of_kind(path, RegionKind::City),
            Self::District => dir.region_of_kind(path, RegionKind::District),
            Self::Street => dir.region_of_kind(path, RegionKind::Street),
            Self::Site => Some(cell.site_id.clone()).filter(|s| !s.is_empty()),
            Self::Category => Some(cell.category_id.clone()).filter(|c| !c.is_empty()),
            Self::Cell => (cell.dimension != 0 && cell.perspective != 0).then(|| cell_id(cell.dimension, cell.perspective)),
        }
    }
}

/// One group's facts over the range and per bucket, with its backlog.
#[derive(Clone, Debug, Default)]
pub struct Group {
    pub id: String,
    pub total: Facts,
    backlog_start: i64,
    backlog_delta: i64,
    buckets: Vec<(Facts, i64)>,
}

impl Group {
    fn new(id: String, buckets: usize) -> Self {
        Self { id, buckets: vec![(Facts::default(), 0); buckets], ..Default::default() }
    }

    fn add(&mut self, bucket: Option<usize>, row: &FactRow) {
        self.total.merge(&row.facts);
        self.backlog_delta += row.backlog_delta;
        if let Some((facts, delta)) = bucket.and_then(|i| self.buckets.get_mut(i)) {
            facts.merge(&row.facts);
            *delta += row.backlog_delta;
        }
    }

    pub fn kpis(&self) -> Kpis {
        self.total.kpis(self.backlog_start + self.backlog_delta)
    }

    /// The KPIs of each bucket, the backlog carried from one bucket to the next.
    pub fn bucket_kpis(&self) -> Vec<Kpis> {
        let mut backlog = self.backlog_start;
        self.buckets
            .iter()
            .map(|(facts, delta)| {
                backlog += delta;
                facts.kpis(backlog)
            })
            .collect()
    }
}

/// The groups of a query and the total of everything it matched.
pub struct Rollup {
    pub directory: Directory,
    pub groups: BTreeMap<String, Group>,
    pub total: Group,
    pub buckets: Vec<Span>,
}

impl Rollup {
    pub fn build(
        dir: Directory,
        group_by: GroupBy,
        span: Span,
        buckets: &[Span],
        rows: &[FactRow],
        prior: &[(Cell, String, i64)],
    ) -> Self {
        let n = buckets.len();
        let mut groups: BTreeMap<String, Group> = BTreeMap::new();
        let mut total = Group::new(String::new(), n);
        if group_by == GroupBy::None {
            // Ungrouped answers always have their one group, even with nothing in it.
            groups.insert(String::new(), Group::new(String::new(), n));
        }
        for (cell, path, backlog) in prior {
            total.backlog_start += backlog;
            if let Some(id) = group_by.of(&dir, cell, path) {
                groups.entry(id.clone()).or_insert_with(|| Group::new(id, n)).backlog_start += backlog;
            }
        }
        // A day row lies inside one bucket (see `Plan`), so its start finds its bucket.
        for row in rows.iter().filter(|r| span.contains(r.start_us)) {
            let bucket = bucket_index(buckets, row.start_us);
            total.add(bucket, row);
            if let Some(id) = group_by.of(&dir, &row.cell, &row.region_path) {
                groups.entry(id.clone()).or_insert_with(|| Group::new(id, n)).add(bucket, row);
            }
        }
        Self { directory: dir, groups, total, buckets: buckets.to_vec() }
    }

    /// Groups by tickets opened descending, then id.
    pub fn ranked_groups(&self) -> Vec<&Group> {
        let mut groups: Vec<&Group> = self.groups.values().collect();
        groups.sort_by(|a, b| b.total.counters.tickets_opened.cmp(&a.total.counters.tickets_opened).then_with(|| a.id.cmp(&b.id)));
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_grouping_reads_the_coarsest_level_that_holds_it() {
        let all = Filter::default();
        let of_sites = Filter { site_ids: vec!["s".into()], ..Filter::default() };
        let of_region = Filter { region_ids: vec!["r".into()], ..Filter::default() };
        assert_eq!(GroupBy::None.level(&all), Some(Level::Total));
        assert_eq!(GroupBy::None.level(&of_sites), Some(Level::Site));
        assert_eq!(GroupBy::Category.level(&all), Some(Level::Scenario));
        assert_eq!(GroupBy::Cell.level(&all), Some(Level::Scenario));
        assert_eq!(GroupBy::Cell.level(&of_sites), None);
        assert_eq!(GroupBy::Site.level(&all), Some(Level::Site));
        assert_eq!(GroupBy::Site.level(&of_region), None);
        assert_eq!(GroupBy::District.level(&all), None);
    }
}

//! Regions form a tree: city > district > street.

use super::text;
use flywheel_proto::flywheel::registry::v1::{Region, RegionKind};
use flywheel_runtime::{Error, Result, Violations};

pub const UPDATABLE: &[&str] = &["name"];

/// Checks a new region's own fields.
pub fn validate_new(region: &Region) -> Result<()> {
    let mut v = Violations::new();
    text::code(&mut v, "region.code", &region.code);
    text::name(&mut v, "region.name", &region.name, 200);
    let kind = RegionKind::try_from(region.kind).unwrap_or(RegionKind::Unspecified);
    match kind {
        RegionKind::Unspecified => v.add("region.kind", "must be CITY, DISTRICT or STREET"),
        RegionKind::City => v.check(region.parent_id.is_empty(), "region.parent_id", "a city has no parent"),
        _ => v.check(!region.parent_id.is_empty(), "region.parent_id", "is required below a city"),
    }
    v.finish(())
}

/// The kind a parent of `kind` must have.
pub fn parent_kind(kind: RegionKind) -> Option<RegionKind> {
    match kind {
        RegionKind::District => Some(RegionKind::City),
        RegionKind::Street => Some(RegionKind::District),
        RegionKind::City | RegionKind::Unspecified => None,
    }
}

/// A child of `kind` may hang under a parent of `parent`.
pub fn check_parent(kind: RegionKind, parent_id: &str, parent: RegionKind) -> Result<()> {
    if parent_kind(kind) == Some(parent) {
        Ok(())
    } else {
        Err(Error::FailedPrecondition {
            kind: "region",
            id: parent_id.to_owned(),
            state: parent.as_str_name().trim_start_matches("REGION_KIND_").to_owned(),
            reason: format!(
                "a {} must be placed under a {}",
                kind.as_str_name().trim_start_matches("REGION_KIND_"),
                parent_kind(kind).map(|k| k.as_str_name().trim_start_matches("REGION_KIND_")).unwrap_or("nothing"),
            ),
        })
    }
}

/// Checks the fields an update changes.
pub fn validate_update(region: &Region, paths: &[String]) -> Result<()> {
    super::lifecycle::check_mask(paths, UPDATABLE)?;
    let mut v = Violations::new();
    text::id(&mut v, "region.id", &region.id);
    text::name(&mut v, "region.name", &region.name, 200);
    v.finish(())
}

/// A materialised path `/root/…/self/` that makes subtree queries a prefix match.
pub fn child_path(parent_path: &str, id: &str) -> String {
    format!("{}{id}/", if parent_path.is_empty() { "/" } else { parent_path })
}

/// The ancestors' ids, root first, from a path (excluding the region itself).
pub fn ancestors(path: &str) -> Vec<String> {
    let mut ids: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect();
    ids.pop();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(kind: RegionKind, parent: &str) -> Region {
        Region { code: "gz".into(), name: "Guangzhou".into(), kind: kind as i32, parent_id: parent.into(), ..Default::default() }
    }

    #[test]
    fn kinds_and_parents() {
        assert!(validate_new(&region(RegionKind::City, "")).is_ok());
        assert!(validate_new(&region(RegionKind::City, "p")).is_err());
        assert!(validate_new(&region(RegionKind::District, "")).is_err());
        assert!(validate_new(&region(RegionKind::Unspecified, "")).is_err());
        assert!(check_parent(RegionKind::District, "p", RegionKind::City).is_ok());
        assert!(check_parent(RegionKind::Street, "p", RegionKind::District).is_ok());
        assert!(check_parent(RegionKind::Street, "p", RegionKind::City).is_err());
        assert!(check_parent(RegionKind::District, "p", RegionKind::District).is_err());
    }

    #[test]
    fn paths() {
        let city = child_path("", "c");
        let district = child_path(&city, "d");
        let street = child_path(&district, "s");
        assert_eq!(street, "/c/d/s/");
        assert_eq!(ancestors(&street), ["c", "d"]);
        assert!(ancestors(&city).is_empty());
    }
}

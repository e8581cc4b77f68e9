//! Rules every registry resource shares: optimistic concurrency and the active/retired life.

use flywheel_proto::flywheel::registry::v1::Status;
use flywheel_runtime::{Error, Result};

/// A write must name the version it last saw (AIP-154).
pub fn check_version(kind: &'static str, id: &str, current: i64, expected: i64) -> Result<()> {
    if current == expected {
        Ok(())
    } else {
        Err(Error::Aborted { kind, id: id.to_owned(), current, expected })
    }
}

/// Only active resources change.
pub fn check_active(kind: &'static str, id: &str, status: i32, action: &str) -> Result<()> {
    if status == Status::Active as i32 {
        Ok(())
    } else {
        Err(Error::FailedPrecondition {
            kind,
            id: id.to_owned(),
            state: state_name(status),
            reason: format!("a retired {kind} cannot be {action}"),
        })
    }
}

pub fn state_name(status: i32) -> String {
    Status::try_from(status)
        .map(|s| s.as_str_name().trim_start_matches("STATUS_").to_owned())
        .unwrap_or_else(|_| "UNKNOWN".to_owned())
}

/// The fields of `mask` that are not in `allowed`, reported against `update_mask`; an empty
/// mask is itself an error.
pub fn check_mask(paths: &[String], allowed: &[&str]) -> Result<()> {
    if paths.is_empty() {
        return Err(Error::invalid("update_mask", "name at least one field to update"));
    }
    let mut violations = flywheel_runtime::Violations::new();
    for path in paths {
        violations.check(
            allowed.contains(&path.as_str()),
            "update_mask",
            format!("{path:?} cannot be updated; updatable: {}", allowed.join(", ")),
        );
    }
    violations.finish(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn stale_versions_abort() {
        assert!(check_version("site", "s", 3, 3).is_ok());
        let status = tonic::Status::from(check_version("site", "s", 4, 3).unwrap_err());
        assert_eq!(status.code(), Code::Aborted);
    }

    #[test]
    fn retired_resources_do_not_change() {
        assert!(check_active("site", "s", Status::Active as i32, "updated").is_ok());
        let status =
            tonic::Status::from(check_active("site", "s", Status::Retired as i32, "retired").unwrap_err());
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert!(status.message().contains("RETIRED"));
    }

    #[test]
    fn masks_name_known_fields() {
        assert!(check_mask(&["name".into()], &["name"]).is_ok());
        assert!(check_mask(&[], &["name"]).is_err());
        assert!(check_mask(&["code".into()], &["name"]).is_err());
    }
}

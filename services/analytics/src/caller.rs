//! Who may read analytics. The gateway in front of the services authenticates people and
//! passes their role as the metadata `x-flywheel-role`; analytics trusts it, so it must only be
//! reachable through that gateway (or by the operator's own tools). Readers need the `analyst`
//! or `admin` role. A call without the metadata is admitted unless
//! `ANALYTICS_REQUIRE_ROLE` is set, in which case it is UNAUTHENTICATED.

use flywheel_runtime::{Error, Result};

pub const ROLE_METADATA: &str = "x-flywheel-role";

const READER_ROLES: [&str; 2] = ["analyst", "admin"];

/// Admits a caller by the role metadata (`None` when absent).
pub fn admit(role: Option<&str>, require_role: bool) -> Result<()> {
    match role {
        None if require_role => Err(Error::Unauthenticated("analytics needs the analyst or admin role".into())),
        None => Ok(()),
        Some(r) if READER_ROLES.contains(&r) => Ok(()),
        Some(_) => Err(Error::PermissionDenied("only analysts and admins may read analytics".into())),
    }
}

/// The role in a request's metadata; a value that is not visible ASCII counts as a wrong role.
pub fn role(metadata: &tonic::metadata::MetadataMap) -> Option<&str> {
    metadata.get(ROLE_METADATA).map(|v| v.to_str().unwrap_or("?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_decide_admission() {
        let cases = [
            (Some("analyst"), false, None),
            (Some("admin"), true, None),
            (Some("resident"), false, Some(tonic::Code::PermissionDenied)),
            (None, false, None),
            (None, true, Some(tonic::Code::Unauthenticated)),
        ];
        for (role, required, want) in cases {
            let got = admit(role, required).err().map(|e| tonic::Status::from(e).code());
            assert_eq!(got, want, "{role:?} required={required}");
        }
    }
}

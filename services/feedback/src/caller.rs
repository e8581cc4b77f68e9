//! Who is calling, from the verified [`Principal`] the runtime's gate put on the request, or the
//! Open311 endpoint. The token's subject is the resident's opaque id, the staff member's id, or
//! the id of the system (the operator's front ends and tools acting for residents).

use flywheel_runtime::auth::{Principal, Role};
use flywheel_runtime::{Error, Result};

const STAFF_ROLES: [Role; 3] = [Role::Dispatcher, Role::SiteManager, Role::Admin];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    Resident(String),
    Staff(String),
    /// A system acting for residents: may file, track and rate (for the reporter), never sees a
    /// resident id or contact details, nor acts as staff.
    Service(String),
    /// An Open311 client with a valid api_key, filing on a resident's behalf.
    Open311,
}

impl Caller {
    /// The caller a principal is: staff roles first, then resident; anything else is a system.
    pub fn of(p: &Principal) -> Self {
        let id = p.subject.clone();
        if STAFF_ROLES.iter().any(|r| p.has(*r)) {
            Self::Staff(id)
        } else if p.has(Role::Resident) {
            Self::Resident(id)
        } else {
            Self::Service(id)
        }
    }

    pub fn is_staff(&self) -> bool {
        matches!(self, Self::Staff(_))
    }

    pub fn resident_id(&self) -> Option<&str> {
        match self {
            Self::Resident(id) => Some(id),
            _ => None,
        }
    }

    /// The staff member's id; empty for other callers.
    pub fn staff_id(&self) -> &str {
        match self {
            Self::Staff(id) => id,
            _ => "",
        }
    }

    /// Whether this caller may see the private parts of a report filed by `resident_id`.
    pub fn may_see_private(&self, resident_id: &str) -> bool {
        self.is_staff() || self.resident_id() == Some(resident_id)
    }

    /// Fails unless the caller is staff.
    pub fn require_staff(&self) -> Result<()> {
        if self.is_staff() { Ok(()) } else { Err(Error::PermissionDenied("only staff may do this".into())) }
    }

    /// Whether this caller may answer the survey of a report filed by `resident_id`: the reporter,
    /// or a system acting for them.
    pub fn may_rate(&self, resident_id: &str) -> bool {
        match self {
            Self::Resident(id) => id == resident_id,
            Self::Service(_) => true,
            Self::Staff(_) | Self::Open311 => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(roles: &[Role]) -> Caller {
        Caller::of(&Principal { subject: "s1".into(), roles: roles.to_vec(), crew_id: None, name: None })
    }

    #[test]
    fn principals_become_callers() {
        assert_eq!(caller(&[Role::Resident]), Caller::Resident("s1".into()));
        assert_eq!(caller(&[Role::Dispatcher]), Caller::Staff("s1".into()));
        assert_eq!(caller(&[Role::Admin, Role::Resident]), Caller::Staff("s1".into()));
        assert_eq!(caller(&[Role::Service]), Caller::Service("s1".into()));
        assert!(caller(&[Role::Resident]).may_rate("s1"));
        assert!(!caller(&[Role::Resident]).may_rate("s2"));
        assert!(!caller(&[Role::Dispatcher]).may_rate("s1"));
        assert!(caller(&[Role::Service]).require_staff().is_err());
    }
}

//! Who is calling. The gateway in front of feedback authenticates people and passes the result
//! as metadata: `x-flywheel-resident-id` (the opaque resident id) or `x-flywheel-staff-id`.
//! Feedback trusts these headers, so it must only be reachable through that gateway. A call with
//! neither is "unidentified": the operator's own front ends and tools acting for a resident,
//! admitted unless `FEEDBACK_REQUIRE_IDENTITY` is set (see [`Caller::admit`]).

use flywheel_runtime::{Error, Result};

pub const RESIDENT_METADATA: &str = "x-flywheel-resident-id";
pub const STAFF_METADATA: &str = "x-flywheel-staff-id";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// No identity metadata: may file, track and rate (acting for the reporter), never see a
    /// resident id or contact details, nor act as staff.
    Anonymous,
    Resident(String),
    Staff(String),
    /// An Open311 client with a valid api_key, filing on a resident's behalf.
    Open311,
}

impl Caller {
    pub fn from_metadata(metadata: &tonic::metadata::MetadataMap) -> Result<Self> {
        let read = |key: &str| -> Result<Option<String>> {
            match metadata.get(key).map(|v| v.to_str()) {
                None => Ok(None),
                Some(Ok(v)) if valid_id(v) => Ok(Some(v.to_owned())),
                Some(_) => Err(Error::Unauthenticated(format!("{key} must be 1..128 visible ASCII characters"))),
            }
        };
        Ok(match (read(STAFF_METADATA)?, read(RESIDENT_METADATA)?) {
            (Some(staff), _) => Self::Staff(staff),
            (None, Some(resident)) => Self::Resident(resident),
            (None, None) => Self::Anonymous,
        })
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

    /// UNAUTHENTICATED for an unidentified caller when identities are required.
    pub fn admit(&self, require_identity: bool) -> Result<()> {
        match self {
            Self::Anonymous if require_identity => {
                Err(Error::Unauthenticated("this call needs a resident or staff identity".into()))
            }
            _ => Ok(()),
        }
    }

    /// Fails unless the caller is staff.
    pub fn require_staff(&self, require_identity: bool) -> Result<()> {
        self.admit(require_identity)?;
        if self.is_staff() { Ok(()) } else { Err(Error::PermissionDenied("only staff may do this".into())) }
    }

    /// Whether this caller may answer the survey of a report filed by `resident_id`: the reporter,
    /// or an unidentified front end acting for them.
    pub fn may_rate(&self, resident_id: &str) -> bool {
        match self {
            Self::Resident(id) => id == resident_id,
            Self::Anonymous => true,
            Self::Staff(_) | Self::Open311 => false,
        }
    }
}

fn valid_id(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic())
}

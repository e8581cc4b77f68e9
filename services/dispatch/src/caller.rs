//! Who is calling. The gateway in front of dispatch authenticates people and passes the result
//! as metadata: `x-flywheel-staff-id` for staff (dispatchers, managers), or
//! `x-flywheel-crew-member-id` with `x-flywheel-crew-id` for a crew member in the crew app, or
//! `x-flywheel-service` for another service. Dispatch trusts these headers, so it must only be
//! reachable through that gateway. A call with none is the operator's own tooling, recorded as
//! staff "unidentified", and admitted unless `DISPATCH_REQUIRE_IDENTITY=true`.

use flywheel_proto::flywheel::dispatch::v1::{Actor, ActorKind};
use flywheel_runtime::{Error, Result};

pub const STAFF: &str = "x-flywheel-staff-id";
pub const CREW_MEMBER: &str = "x-flywheel-crew-member-id";
pub const CREW: &str = "x-flywheel-crew-id";
pub const SERVICE: &str = "x-flywheel-service";
/// Optional display name of the person, for the history.
pub const NAME: &str = "x-flywheel-actor-name";

/// Whether calls without identity are refused (`DISPATCH_REQUIRE_IDENTITY`).
pub fn require_identity() -> anyhow::Result<bool> {
    match std::env::var("DISPATCH_REQUIRE_IDENTITY").ok().as_deref().map(str::trim) {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => anyhow::bail!("environment variable DISPATCH_REQUIRE_IDENTITY={other:?} is invalid: use true or false"),
    }
}

/// The actor a call's metadata names.
pub fn actor(metadata: &tonic::metadata::MetadataMap, require: bool) -> Result<Actor> {
    let read = |key: &str| -> Result<Option<String>> {
        match metadata.get(key).map(|v| v.to_str()) {
            None => Ok(None),
            Some(Ok(v)) if !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()) => Ok(Some(v.to_owned())),
            Some(_) => Err(Error::Unauthenticated(format!("{key} must be 1..128 visible ASCII characters"))),
        }
    };
    let name = metadata.get(NAME).and_then(|v| v.to_str().ok()).unwrap_or_default().chars().take(200).collect();
    let (kind, id, crew_id) = match (read(STAFF)?, read(CREW_MEMBER)?, read(SERVICE)?) {
        (Some(staff), _, _) => (ActorKind::Staff, staff, String::new()),
        (None, Some(member), _) => {
            let crew = read(CREW)?.ok_or_else(|| Error::Unauthenticated(format!("{CREW_MEMBER} needs {CREW}")))?;
            (ActorKind::CrewMember, member, crew)
        }
        (None, None, Some(service)) => (ActorKind::Service, service, String::new()),
        (None, None, None) if require => return Err(Error::Unauthenticated("the call carries no identity".into())),
        (None, None, None) => (ActorKind::Staff, "unidentified".to_owned(), String::new()),
    };
    Ok(Actor { kind: kind as i32, id, display_name: name, crew_id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::metadata::MetadataMap;

    fn meta(pairs: &[(&'static str, &str)]) -> MetadataMap {
        let mut m = MetadataMap::new();
        for (k, v) in pairs {
            m.insert(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn callers() {
        let member = actor(&meta(&[(CREW_MEMBER, "u1"), (CREW, "c1")]), true).unwrap();
        assert_eq!((member.kind, member.id.as_str(), member.crew_id.as_str()), (ActorKind::CrewMember as i32, "u1", "c1"));
        assert_eq!(actor(&meta(&[(STAFF, "d1")]), true).unwrap().kind, ActorKind::Staff as i32);
        assert_eq!(actor(&meta(&[]), false).unwrap().id, "unidentified");
        let refused = [actor(&meta(&[]), true), actor(&meta(&[(CREW_MEMBER, "u1")]), false), actor(&meta(&[(STAFF, "a b")]), false)];
        for r in refused {
            assert_eq!(tonic::Status::from(r.unwrap_err()).code(), tonic::Code::Unauthenticated);
        }
    }
}

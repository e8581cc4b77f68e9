//! Who is calling, from the verified [`Principal`] the runtime's gate put on the request: staff
//! (dispatchers, site managers, admins, analysts), a crew member of the crew their token names,
//! or another service. The actor is recorded in every history entry.

use flywheel_proto::flywheel::dispatch::v1::{Actor, ActorKind};
use flywheel_runtime::auth::{Principal, Role};
use flywheel_runtime::{Error, Result};

const STAFF_ROLES: [Role; 4] = [Role::Dispatcher, Role::SiteManager, Role::Admin, Role::Analyst];

/// The actor a principal is. A staff role wins over crew membership, which wins over service.
pub fn actor(p: &Principal) -> Actor {
    let staff = STAFF_ROLES.iter().any(|r| p.has(*r));
    let (kind, crew_id) = match p.crew_id.as_deref() {
        Some(crew) if !staff && p.has(Role::CrewMember) => (ActorKind::CrewMember, crew.to_owned()),
        _ if !staff && p.has(Role::Service) => (ActorKind::Service, String::new()),
        _ => (ActorKind::Staff, String::new()),
    };
    Actor { kind: kind as i32, id: p.subject.clone(), display_name: p.name.clone().unwrap_or_default(), crew_id }
}

/// A crew member sees only what their own crew holds (`crew_id`); anyone else sees everything.
pub fn check_crew(actor: &Actor, crew_id: &str, what: &str) -> Result<()> {
    if actor.kind == ActorKind::CrewMember as i32 && actor.crew_id != crew_id {
        return Err(Error::PermissionDenied(format!("a crew member may read only their own crew's {what}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(roles: &[Role], crew: Option<&str>) -> Principal {
        Principal { subject: "u1".into(), roles: roles.to_vec(), crew_id: crew.map(str::to_owned), name: Some("Li".into()) }
    }

    #[test]
    fn principals_become_actors() {
        let member = actor(&principal(&[Role::CrewMember], Some("c1")));
        assert_eq!((member.kind, member.id.as_str(), member.crew_id.as_str()), (ActorKind::CrewMember as i32, "u1", "c1"));
        assert_eq!(member.display_name, "Li");
        assert_eq!(actor(&principal(&[Role::Dispatcher], None)).kind, ActorKind::Staff as i32);
        assert_eq!(actor(&principal(&[Role::Service], None)).kind, ActorKind::Service as i32);
        assert_eq!(actor(&principal(&[Role::Admin, Role::CrewMember], Some("c1"))).kind, ActorKind::Staff as i32);
    }

    #[test]
    fn crew_members_see_their_own_crew_only() {
        let member = actor(&principal(&[Role::CrewMember], Some("c1")));
        assert!(check_crew(&member, "c1", "tickets").is_ok());
        let denied = check_crew(&member, "c2", "tickets").unwrap_err();
        assert_eq!(tonic::Status::from(denied).code(), tonic::Code::PermissionDenied);
        assert!(check_crew(&actor(&principal(&[Role::Dispatcher], None)), "c2", "tickets").is_ok());
    }
}

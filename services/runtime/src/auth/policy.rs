//! Which roles may call which method. Each service declares its rules; a method without one is
//! refused to everybody (deny by default), and `admin` may call every method that has one.

use super::Role;
use std::collections::HashMap;

/// The roles allowed to call one method, named by its full path
/// (`/flywheel.registry.v1.RegistryService/RegisterSite`).
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub method: &'static str,
    pub roles: &'static [Role],
}

/// A service's rules table: `method_rules!("flywheel.registry.v1.RegistryService"; "GetSite" =>
/// READERS, …)` expands to `&[Rule]` with each method's full path.
#[macro_export]
macro_rules! method_rules {
    ($service:literal; $($method:literal => $roles:expr),* $(,)?) => {
        &[$($crate::auth::Rule { method: concat!("/", $service, "/", $method), roles: $roles }),*]
    };
}

/// The rules of every service one server hosts.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    rules: HashMap<&'static str, &'static [Role]>,
}

impl Policy {
    pub fn new(rules: &[Rule]) -> Self {
        Self { rules: rules.iter().map(|r| (r.method, r.roles)).collect() }
    }

    /// Whether a caller with `roles` may call `method`.
    pub fn allows(&self, method: &str, roles: &[Role]) -> bool {
        self.rules
            .get(method)
            .is_some_and(|allowed| roles.iter().any(|r| *r == Role::Admin || allowed.contains(r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &[Rule] = &[
        Rule { method: "/p.S/Read", roles: &[Role::Resident, Role::Analyst] },
        Rule { method: "/p.S/AdminOnly", roles: &[] },
    ];

    #[test]
    fn rules_decide_and_everything_else_is_denied() {
        let policy = Policy::new(RULES);
        assert!(policy.allows("/p.S/Read", &[Role::Analyst]));
        assert!(policy.allows("/p.S/Read", &[Role::Dispatcher, Role::Resident]));
        assert!(!policy.allows("/p.S/Read", &[Role::Dispatcher]));
        assert!(policy.allows("/p.S/AdminOnly", &[Role::Admin]));
        assert!(!policy.allows("/p.S/AdminOnly", &[Role::Service]));
        assert!(!policy.allows("/p.S/Unknown", &[Role::Admin]), "a method without a rule is denied");
        assert!(!policy.allows("/p.S/Read", &[]));
    }
}

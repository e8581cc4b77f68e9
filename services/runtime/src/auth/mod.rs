//! Who is calling and what they may do: verified JWTs (EdDSA, keys from a JWKS file), per-method
//! role rules with deny by default, and a per-caller rate limit — one tower layer in front of
//! every gRPC server. Services read the verified [`Principal`] from the request extensions.

pub mod keys;
mod layer;
mod policy;
mod rate;
mod token;

pub use keys::{KeyFiles, TokenMinter};
pub use layer::{AuthLayer, AuthService};
pub use policy::{Policy, Rule};
pub use rate::RateLimiter;
pub use token::{Claims, Rejection, Verifier};

use serde::{Deserialize, Serialize};

/// What a caller is allowed to be; `snake_case` in tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Submits, tracks, supports and rates their own reports.
    Resident,
    /// Runs tickets and crews.
    Dispatcher,
    /// Works their own crew's tickets (the token names the crew).
    CrewMember,
    /// Writes the registry: regions, sites, zones, assets, the catalog.
    SiteManager,
    /// Reads analytics.
    Analyst,
    /// May call every method.
    Admin,
    /// Another system acting on its own behalf (integrations, monitoring).
    Service,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Resident,
        Role::Dispatcher,
        Role::CrewMember,
        Role::SiteManager,
        Role::Analyst,
        Role::Admin,
        Role::Service,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Resident => "resident",
            Role::Dispatcher => "dispatcher",
            Role::CrewMember => "crew_member",
            Role::SiteManager => "site_manager",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}; expected one of {}", Role::ALL.map(Role::as_str).join(", ")))
    }
}

/// The verified caller of a request, inserted into its extensions by [`AuthLayer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub`: a person's, crew member's or system's stable id.
    pub subject: String,
    pub roles: Vec<Role>,
    /// The crew of a crew member.
    pub crew_id: Option<String>,
    /// A display name, for histories.
    pub name: Option<String>,
}

impl Principal {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The principal of a request that passed the layer. Its absence is a wiring bug, reported as
    /// UNAUTHENTICATED rather than trusting anything else.
    pub fn of<T>(request: &tonic::Request<T>) -> Result<&Principal, tonic::Status> {
        request
            .extensions()
            .get::<Principal>()
            .ok_or_else(|| tonic::Status::unauthenticated("the call carries no verified identity"))
    }
}

/// `AUTH_*` settings: where the verifying keys are and what tokens must say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthSettings {
    /// `AUTH_JWKS_FILE`: the public keys (JWKS JSON) that sign valid tokens.
    pub jwks_file: std::path::PathBuf,
    /// `AUTH_ISSUER`: the `iss` every token must carry.
    pub issuer: String,
    /// `AUTH_AUDIENCE`: the `aud` every token must carry.
    pub audience: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_read_and_print_in_snake_case() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
            assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{role}\""));
        }
        assert!("superuser".parse::<Role>().unwrap_err().contains("crew_member"));
    }
}

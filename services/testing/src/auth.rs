//! Tokens for tests: a key pair per test, channels and requests that call as a role, and the
//! check that a service's rules cover its contract.

use flywheel_runtime::auth::{Claims, KeyFiles, Policy, Role, Rule, TokenMinter};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A channel whose calls carry one bearer token.
pub type AuthChannel = InterceptedService<Channel, Bearer>;

/// A key pair of one test: `jwks.json` for the services' configuration, the private key to mint
/// tokens. Clones share the keys.
#[derive(Clone)]
pub struct TestAuth {
    dir: Arc<TempDir>,
    minter: TokenMinter,
}

impl TestAuth {
    pub fn new() -> Self {
        let dir = TempDir::new().expect("temporary directory");
        let files = KeyFiles::generate(dir.path(), false).expect("generate a test key pair");
        let minter = TokenMinter::load(&files.signing_key).expect("load the test signing key");
        Self { dir: Arc::new(dir), minter }
    }

    pub fn jwks_path(&self) -> std::path::PathBuf {
        KeyFiles::in_dir(self.dir.path()).jwks
    }

    pub fn minter(&self) -> &TokenMinter {
        &self.minter
    }

    /// Claims for `subject` in `role`, valid for an hour (a crew member's crew is `crew-of-<subject>`
    /// unless the test sets another).
    pub fn claims(&self, role: Role, subject: &str) -> Claims {
        let mut claims = self.minter.claims(subject, &[role], Duration::from_secs(3600));
        if role == Role::CrewMember {
            claims.crew_id = Some(format!("crew-of-{subject}"));
        }
        claims
    }

    pub fn sign(&self, claims: &Claims) -> String {
        self.minter.sign(claims).expect("sign test claims")
    }

    pub fn token(&self, role: Role, subject: &str) -> String {
        self.sign(&self.claims(role, subject))
    }

    /// A crew member's token naming their crew.
    pub fn crew_member_token(&self, member: &str, crew_id: &str) -> String {
        let mut claims = self.claims(Role::CrewMember, member);
        claims.crew_id = Some(crew_id.to_owned());
        self.sign(&claims)
    }

    /// `message` as a request carrying `token`.
    pub fn request_with<T>(token: &str, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert("authorization", bearer_value(token));
        request
    }

    /// `message` as a request from `subject` in `role`.
    pub fn request_as<T>(&self, role: Role, subject: &str, message: T) -> tonic::Request<T> {
        Self::request_with(&self.token(role, subject), message)
    }
}

impl Default for TestAuth {
    fn default() -> Self {
        Self::new()
    }
}

fn bearer_value(token: &str) -> AsciiMetadataValue {
    MetadataValue::try_from(format!("Bearer {token}")).expect("a token is visible ASCII")
}

/// Adds `authorization: Bearer <token>` to every call that does not carry its own.
#[derive(Clone)]
pub struct Bearer(AsciiMetadataValue);

impl Bearer {
    pub fn new(token: &str) -> Self {
        Self(bearer_value(token))
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if !request.metadata().contains_key("authorization") {
            request.metadata_mut().insert("authorization", self.0.clone());
        }
        Ok(request)
    }
}

/// The full paths (`/pkg.Service/Method`) of every method of `service` (e.g.
/// `flywheel.registry.v1.RegistryService`) in the compiled contracts.
pub fn contract_methods(service: &str) -> Vec<String> {
    let set = <prost_types::FileDescriptorSet as prost::Message>::decode(flywheel_proto::FILE_DESCRIPTOR_SET)
        .expect("the contracts' descriptor set decodes");
    let mut methods = Vec::new();
    for file in &set.file {
        for s in &file.service {
            if format!("{}.{}", file.package(), s.name()) == service {
                methods.extend(s.method.iter().map(|m| format!("/{service}/{}", m.name())));
            }
        }
    }
    assert!(!methods.is_empty(), "{service} is not in the contracts");
    methods
}

/// Fails unless `rules` name every method of `service` exactly once and nothing else.
pub fn assert_rules_cover(service: &str, rules: &[Rule]) {
    let methods = contract_methods(service);
    let named: Vec<&str> = rules.iter().map(|r| r.method).collect();
    let missing: Vec<&String> = methods.iter().filter(|m| !named.contains(&m.as_str())).collect();
    let unknown: Vec<&&str> = named.iter().filter(|r| !methods.iter().any(|m| m == *r)).collect();
    let mut seen = std::collections::HashSet::new();
    let repeated: Vec<&&str> = named.iter().filter(|r| !seen.insert(**r)).collect();
    assert!(
        missing.is_empty() && unknown.is_empty() && repeated.is_empty(),
        "rules of {service}: without a rule {missing:?}; not in the contract {unknown:?}; named twice {repeated:?}"
    );
}

/// Checks a service's policy against an explicit matrix: a header line of role names, then one
/// line per method — its short name and `x` (allowed) or `.` (refused) under each role. Every
/// method of the contract needs a line, and every cell must match the policy's decision.
pub fn assert_policy_matrix(service: &str, rules: &[Rule], matrix: &str) {
    assert_rules_cover(service, rules);
    let policy = Policy::new(rules);
    let mut lines = matrix.lines().map(str::trim).filter(|l| !l.is_empty());
    let roles: Vec<Role> = lines
        .next()
        .expect("a header line of role names")
        .split_whitespace()
        .map(|r| r.parse().unwrap_or_else(|e| panic!("{e}")))
        .collect();
    assert_eq!(roles.len(), Role::ALL.len(), "the matrix must have a column for every role");
    let mut rows = Vec::new();
    for line in lines {
        let mut cells = line.split_whitespace();
        let method = format!("/{service}/{}", cells.next().unwrap());
        let cells: Vec<&str> = cells.collect();
        assert_eq!(cells.len(), roles.len(), "{method}: one cell per role");
        for (role, cell) in roles.iter().zip(cells) {
            let expected = match cell {
                "x" => true,
                "." => false,
                other => panic!("{method}: cell {other:?} must be x or ."),
            };
            assert_eq!(policy.allows(&method, &[*role]), expected, "{method} for {role}");
        }
        rows.push(method);
    }
    let mut methods = contract_methods(service);
    methods.sort();
    rows.sort();
    assert_eq!(rows, methods, "the matrix must have exactly one line per method of {service}");
}

//! Token claims and their verification against a key set.

use super::{AuthSettings, Principal, Role};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Clock skew tolerated on `exp`, in seconds.
const LEEWAY_S: u64 = 30;

/// Verified tokens remembered at most; past it the memory starts again from empty.
const VERIFIED_CAPACITY: usize = 4096;

/// What a Flywheel token says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issue time, seconds since the Unix epoch.
    pub iat: u64,
    pub roles: Vec<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crew_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Why a token was not accepted; every case answers UNAUTHENTICATED.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the call has no authorization: Bearer <token> metadata")]
    Missing,
    #[error("the authorization metadata is not Bearer <token>")]
    Malformed,
    #[error("the token is expired")]
    Expired,
    #[error("the token is signed by an unknown key")]
    UnknownKey,
    #[error("the token is not valid: {0}")]
    Invalid(&'static str),
}

/// Verifies tokens: EdDSA signature by a key of the set (chosen by `kid`), expiry, issuer and
/// audience, then the claims Flywheel needs.
///
/// A caller sends the same token with every call until it expires, and the signature check is
/// the costliest part of admitting a call, so a token that passed is remembered with its
/// principal and expiry: later calls only check the expiry. The key set is fixed for the
/// verifier's life, so what passed once stays valid until it expires.
pub struct Verifier {
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
    verified: Mutex<HashMap<String, (Principal, u64)>>,
}

impl Verifier {
    /// Reads the key set at `settings.jwks_file`.
    pub fn load(settings: &AuthSettings) -> anyhow::Result<Self> {
        let path = &settings.jwks_file;
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("AUTH_JWKS_FILE={}: cannot read the key set: {e}", path.display()))?;
        let set: JwkSet = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("AUTH_JWKS_FILE={}: not a JWKS document: {e}", path.display()))?;
        Self::new(&set, &settings.issuer, &settings.audience)
            .map_err(|e| anyhow::anyhow!("AUTH_JWKS_FILE={}: {e}", path.display()))
    }

    /// A verifier for the EdDSA keys of `set`; every key needs a `kid`.
    pub fn new(set: &JwkSet, issuer: &str, audience: &str) -> anyhow::Result<Self> {
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let kid = jwk.common.key_id.clone().ok_or_else(|| anyhow::anyhow!("a key has no kid"))?;
            let key = DecodingKey::from_jwk(jwk).map_err(|e| anyhow::anyhow!("key {kid}: {e}"))?;
            if key.family() != jsonwebtoken::AlgorithmFamily::Ed {
                anyhow::bail!("key {kid} is not an Ed25519 (OKP) key");
            }
            keys.insert(kid, key);
        }
        if keys.is_empty() {
            anyhow::bail!("the key set holds no keys");
        }
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY_S;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Ok(Self { keys, validation, verified: Mutex::new(HashMap::new()) })
    }

    /// The principal a valid token names.
    pub fn verify(&self, token: &str) -> Result<Principal, Rejection> {
        let now_s = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        self.verify_at(token, now_s)
    }

    fn verify_at(&self, token: &str, now_s: u64) -> Result<Principal, Rejection> {
        let mut verified = self.verified.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((principal, exp)) = verified.get(token) {
            if exp.saturating_add(LEEWAY_S) < now_s {
                verified.remove(token);
                return Err(Rejection::Expired);
            }
            return Ok(principal.clone());
        }
        drop(verified);
        let (principal, exp) = self.check_signed(token)?;
        let mut verified = self.verified.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if verified.len() >= VERIFIED_CAPACITY {
            verified.clear();
        }
        verified.insert(token.to_owned(), (principal.clone(), exp));
        Ok(principal)
    }

    /// The principal and expiry of a token whose signature and claims pass.
    fn check_signed(&self, token: &str) -> Result<(Principal, u64), Rejection> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| Rejection::Invalid("not a JWT"))?;
        let key = header.kid.as_deref().and_then(|kid| self.keys.get(kid)).ok_or(Rejection::UnknownKey)?;
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => Rejection::Expired,
            ErrorKind::InvalidSignature => Rejection::Invalid("bad signature"),
            ErrorKind::InvalidAudience => Rejection::Invalid("wrong audience"),
            ErrorKind::InvalidIssuer => Rejection::Invalid("wrong issuer"),
            ErrorKind::InvalidAlgorithm => Rejection::Invalid("algorithm not allowed"),
            ErrorKind::MissingRequiredClaim(_) => Rejection::Invalid("a required claim is missing"),
            _ => Rejection::Invalid("unreadable token"),
        })?;
        let exp = data.claims.exp;
        Ok((principal(data.claims)?, exp))
    }
}

fn principal(claims: Claims) -> Result<Principal, Rejection> {
    let visible = |s: &str| !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_graphic());
    if !visible(&claims.sub) {
        return Err(Rejection::Invalid("sub must be 1..128 visible ASCII characters"));
    }
    if claims.roles.is_empty() {
        return Err(Rejection::Invalid("the token grants no role"));
    }
    let crew_id = claims.crew_id.filter(|c| !c.is_empty());
    if crew_id.as_deref().is_some_and(|c| !visible(c)) {
        return Err(Rejection::Invalid("crew_id must be 1..128 visible ASCII characters"));
    }
    if claims.roles.contains(&Role::CrewMember) && crew_id.is_none() {
        return Err(Rejection::Invalid("a crew_member token must name its crew_id"));
    }
    let name = claims.name.map(|n| n.chars().take(200).collect::<String>()).filter(|n| !n.is_empty());
    Ok(Principal { subject: claims.sub, roles: claims.roles, crew_id, name })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::TokenMinter;
    use crate::auth::keys::new_private_pem;
    use std::time::Duration;

    fn minter() -> TokenMinter {
        TokenMinter::from_pem(new_private_pem().unwrap().as_bytes()).unwrap()
    }

    fn verifier(trusted: &TokenMinter) -> Verifier {
        Verifier::new(&JwkSet { keys: vec![trusted.public_jwk().unwrap()] }, "flywheel", "flywheel").unwrap()
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn a_valid_token_names_its_principal() {
        let m = minter();
        let mut claims = m.claims("m-7", &[Role::CrewMember], HOUR);
        claims.crew_id = Some("crew-1".into());
        claims.name = Some("Li Wei".into());
        let p = verifier(&m).verify(&m.sign(&claims).unwrap()).unwrap();
        assert_eq!(p.subject, "m-7");
        assert_eq!(p.roles, vec![Role::CrewMember]);
        assert_eq!((p.crew_id.as_deref(), p.name.as_deref()), (Some("crew-1"), Some("Li Wei")));
    }

    #[test]
    fn bad_tokens_are_rejected() {
        let m = minter();
        let v = verifier(&m);
        let signed = |f: &dyn Fn(&mut Claims)| {
            let mut c = m.claims("alice", &[Role::Dispatcher], HOUR);
            f(&mut c);
            m.sign(&c).unwrap()
        };
        let expired = signed(&|c| c.exp = c.iat - 3600);
        assert_eq!(v.verify(&expired), Err(Rejection::Expired));
        assert_eq!(v.verify(&signed(&|c| c.aud = "other".into())), Err(Rejection::Invalid("wrong audience")));
        assert_eq!(v.verify(&signed(&|c| c.iss = "other".into())), Err(Rejection::Invalid("wrong issuer")));
        assert!(matches!(v.verify(&signed(&|c| c.roles.clear())), Err(Rejection::Invalid(_))));
        assert!(matches!(v.verify(&signed(&|c| c.sub = "a b".into())), Err(Rejection::Invalid(_))));
        assert!(matches!(v.verify(&signed(&|c| c.roles = vec![Role::CrewMember])), Err(Rejection::Invalid(_))));
        assert_eq!(v.verify("not-a-token"), Err(Rejection::Invalid("not a JWT")));

        let foreign = minter();
        assert_eq!(v.verify(&foreign.mint("alice", Role::Admin, HOUR).unwrap()), Err(Rejection::UnknownKey));
        let mut tampered = m.mint("alice", Role::Resident, HOUR).unwrap();
        tampered.truncate(tampered.len() - 4);
        tampered.push_str("AAAA");
        assert_eq!(v.verify(&tampered), Err(Rejection::Invalid("bad signature")));
    }

    #[test]
    fn a_remembered_token_still_expires() {
        let m = minter();
        let v = verifier(&m);
        let claims = m.claims("alice", &[Role::Dispatcher], Duration::from_secs(60));
        let token = m.sign(&claims).unwrap();
        let first = v.verify_at(&token, claims.iat).unwrap();
        assert_eq!(v.verify_at(&token, claims.exp + LEEWAY_S).unwrap(), first);
        assert_eq!(v.verify_at(&token, claims.exp + LEEWAY_S + 1), Err(Rejection::Expired));
        // Forgotten once expired: the signature is checked again, and the token is refused by it.
        assert!(v.verified.lock().unwrap().is_empty());
        let mut tampered = token.clone();
        tampered.truncate(tampered.len() - 4);
        tampered.push_str("AAAA");
        assert_eq!(v.verify_at(&tampered, claims.iat), Err(Rejection::Invalid("bad signature")));
    }

    #[test]
    fn a_key_set_needs_usable_keys() {
        assert!(Verifier::new(&JwkSet { keys: vec![] }, "flywheel", "flywheel").is_err());
        let mut jwk = minter().public_jwk().unwrap();
        jwk.common.key_id = None;
        assert!(Verifier::new(&JwkSet { keys: vec![jwk] }, "flywheel", "flywheel").is_err());
    }
}
